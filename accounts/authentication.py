"""API authentication: one token class for every header style the seed APIs use, plus sessions.

A token is accepted as ``Authorization: Bearer <t>``, ``X-Ray-Authorization: Bearer <t>``
(Ray's header for proxies that consume ``Authorization``), ``X-AUTH-TOKEN: <t>`` (Qubole),
``X-API-Key: <t>`` (the analytics toolkit) or ``?api_key=<t>`` (Supermetrics). A missing or
bad token answers 401 with ``WWW-Authenticate: Bearer``, never 403 and never a redirect.
"""

from rest_framework import authentication, exceptions

from accounts import access
from accounts.models import Membership


def token_from_request(request):
    """The raw token of a request, from whichever place the client put it, or None."""
    return token_from_headers(request.META, request.GET)


def token_from_headers(meta, query):
    """The raw token in ``meta`` (``HTTP_*`` header keys, as in ``request.META``) or in the
    ``query`` parameters, or None; for requests that are not Django's (WebSockets)."""
    for meta_key in ("HTTP_AUTHORIZATION", "HTTP_X_RAY_AUTHORIZATION"):
        scheme, _, value = meta.get(meta_key, "").partition(" ")
        if scheme.lower() in {"bearer", "token"} and value.strip():
            return value.strip()
    for meta_key in ("HTTP_X_AUTH_TOKEN", "HTTP_X_API_KEY"):
        if meta.get(meta_key):
            return meta[meta_key].strip()
    return query.get("api_key") or None


class TokenAuthentication(authentication.BaseAuthentication):
    """Authenticate with an :class:`ApiToken`; ``request.auth`` is the token."""

    def authenticate(self, request):
        raw = self.raw_token(request)
        if raw is None:
            return None
        token = access.authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        token.touch()
        request._request.membership = token.membership
        return token.membership.user, token

    def raw_token(self, request):
        """The raw token of the request; else the one the view finds in its own request fields
        (its ``token_from_fields(request)``: Supermetrics' ``api_key`` inside ``json``)."""
        raw = token_from_request(request)
        if raw is None:
            view = (getattr(request, "parser_context", None) or {}).get("view")
            from_fields = getattr(view, "token_from_fields", None)
            raw = from_fields(request) if from_fields is not None else None
        return raw

    def authenticate_header(self, request):
        return 'Bearer realm="jobportal"'


class SessionAuthentication(authentication.SessionAuthentication):
    """Browser sessions; the account is the one chosen in the session or the first one."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            request._request.membership = session_membership(request._request, result[0])
        return result


def session_membership(request, user):
    """The membership a signed-in browser user acts through."""
    memberships = Membership.objects.select_related("account", "user").filter(
        user=user, is_active=True, account__is_active=True
    )
    chosen = request.session.get("account_id")
    if chosen:
        member = memberships.filter(account_id=chosen).first()
        if member:
            return member
    return memberships.order_by("account_id").first()


def resolve_membership(request):
    """The membership a plain Django request acts through: its API token's (a bad token gives
    none; DRF views answer it with 401), else the signed-in user's chosen one, else None."""
    raw = token_from_request(request)
    if raw is not None:
        token = access.authenticate(raw)
        return token.membership if token is not None else None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return session_membership(request, user)
    return None


def membership_of(request):
    """The membership behind a DRF or Django request, or None: the one accessor every surface
    asks (set by DRF authentication, else resolved once, lazily, through
    :class:`accounts.middleware.MembershipMiddleware`)."""
    request = getattr(request, "_request", request)
    if "membership" not in request.__dict__:
        resolve = request.__dict__.get("_resolve_membership")
        request.membership = resolve() if resolve is not None else None
    return request.membership
