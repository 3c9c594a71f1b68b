"""Per-account API rate limit (requests per hour), shared through the cache by all web processes.

The limit, what is left and the window reset are put on the request so that
:class:`jobportal.middleware.RateLimitHeadersMiddleware` can add ``X-RateLimit-*`` headers to
every response, errors included (Supermetrics documents them on every status code).
"""

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from accounts.authentication import membership_of

WINDOW_SECONDS = 3600


class AccountRateThrottle(BaseThrottle):
    """Fixed hourly window per account: one cache increment, the same in every process."""

    def allow_request(self, request, view):
        member = membership_of(request)
        if member is None:
            return True
        account = member.account
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"ratelimit:{account.pk}:{window}"
        cache.add(key, 0, WINDOW_SECONDS + 60)
        try:
            used = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, WINDOW_SECONDS + 60)
            used = 1
        limit = account.api_rate_limit
        self.reset_in = max(1, int((window + 1) * WINDOW_SECONDS - now))
        request._request.ratelimit = (limit, max(0, limit - used), self.reset_in)
        return used <= limit

    def wait(self):
        return self.reset_in
