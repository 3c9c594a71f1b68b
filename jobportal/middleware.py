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
