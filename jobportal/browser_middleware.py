"""Django's browser-side middleware, passing token API requests straight on
(:func:`jobportal.middleware.browser_only`). Listed in settings.MIDDLEWARE in place of
Django's own classes."""

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import csrf
from django_htmx import middleware as htmx

from jobportal.middleware import browser_only

SessionMiddleware = browser_only(sessions.SessionMiddleware)
CsrfViewMiddleware = browser_only(csrf.CsrfViewMiddleware)
AuthenticationMiddleware = browser_only(auth.AuthenticationMiddleware)
MessageMiddleware = browser_only(messages.MessageMiddleware)
HtmxMiddleware = browser_only(htmx.HtmxMiddleware)
