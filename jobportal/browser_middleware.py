"""Django's browser-side middleware, passing token API requests straight on
(:func:`jobportal.middleware.browser_only`). Listed in settings.MIDDLEWARE in place of
Django's own classes. Sessions and CSRF keep Django's own classes: ``check --deploy`` looks
for them by name (to check their cookies' settings), and they cost a token API request next to
nothing (the session is never loaded; DRF's views are CSRF-exempt)."""

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django_htmx import middleware as htmx

from jobportal.middleware import browser_only

AuthenticationMiddleware = browser_only(auth.AuthenticationMiddleware)
MessageMiddleware = browser_only(messages.MessageMiddleware)
HtmxMiddleware = browser_only(htmx.HtmxMiddleware)
