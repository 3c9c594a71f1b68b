"""Per-account API rate limit (requests per hour), shared by every web process.

The count lives in the database by default: one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` per request, atomic on PostgreSQL and SQLite alike (Django's database cache needs
about ten queries for the same and its ``incr`` is not atomic). With a Redis cache configured
(``JOBPORTAL_CACHE_URL=redis://…``) the count is a Redis ``INCR`` instead.

The limit, what is left and the window reset are put on the request so that
:class:`jobportal.middleware.RateLimitHeadersMiddleware` adds ``X-RateLimit-*`` headers to
every response, errors included (Supermetrics documents them on every status code).
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.throttling import BaseThrottle

from accounts.authentication import membership_of
from accounts.models import RateCounter

WINDOW_SECONDS = 3600


def _count_in_database(account_id, window):
    q = connection.ops.quote_name
    table, count = q(RateCounter._meta.db_table), q("count")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({q('account_id')}, {q('window_number')}, {count}) "
            f"VALUES (%s, %s, 1) ON CONFLICT ({q('account_id')}, {q('window_number')}) "
            f"DO UPDATE SET {count} = {table}.{count} + 1 RETURNING {count}",
            [account_id, window],
        )
        return cursor.fetchone()[0]


def _count_in_cache(account_id, window):
    key = f"ratelimit:{account_id}:{window}"
    cache.add(key, 0, WINDOW_SECONDS + 60)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, WINDOW_SECONDS + 60)
        return 1


def count_request(account_id, window):
    """Count one request of the account in the window; return the count so far."""
    if settings.CACHE_URL.startswith("redis"):
        return _count_in_cache(account_id, window)
    return _count_in_database(account_id, window)


class AccountRateThrottle(BaseThrottle):
    """Fixed hourly window per account, the same in every process."""

    def allow_request(self, request, view):
        member = membership_of(request)
        if member is None:
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        used = count_request(member.account_id, window)
        limit = member.account.api_rate_limit
        self.reset_in = max(1, int((window + 1) * WINDOW_SECONDS - now))
        request._request.ratelimit = (limit, max(0, limit - used), self.reset_in)
        return used <= limit

    def wait(self):
        return self.reset_in
