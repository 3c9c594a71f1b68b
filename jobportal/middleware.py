"""Response headers every API response carries."""


class RateLimitHeadersMiddleware:
    """Adds ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` where the throttle ran."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, "ratelimit", None)
        # A shape whose documentation bounds these headers has already set them (jobs.compat).
        if state is not None and "X-RateLimit-Limit" not in response:
            limit, remaining, reset = state
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)
        return response


# -- middleware that only browsers need ------------------------------------------------------
#
# A request to the API (every path below is a DRF view, CSRF-exempt) that carries an API token
# is authenticated by that token alone: accounts.authentication tries the token first and never
# falls back to the session (a bad token is a 401). The signed-in user, messages and htmx then
# do nothing for it but cost a few percent of the request, so these subclasses of Django's
# (the admin's checks look for them) pass such requests straight on. Requests without a
# token, the pages and the admin run them as before.

API_PREFIXES = ("/api/", "/query/", "/v1/")


def token_api_request(request):
    """Whether ``request`` goes to the API with an API token (computed once per request)."""
    known = request.__dict__.get("_token_api")
    if known is None:
        from accounts.authentication import token_from_request

        known = request.path_info.startswith(API_PREFIXES) and (
            token_from_request(request) is not None)
        request._token_api = known
    return known


def browser_only(middleware_class):
    """``middleware_class`` made to skip token API requests (see above)."""

    class BrowserOnly(middleware_class):
        def __call__(self, request):
            if token_api_request(request):
                return self.get_response(request)
            return super().__call__(request)

    BrowserOnly.__name__ = BrowserOnly.__qualname__ = middleware_class.__name__
    BrowserOnly.__doc__ = f"{middleware_class.__doc__ or ''} (Not for token API requests.)"
    return BrowserOnly
