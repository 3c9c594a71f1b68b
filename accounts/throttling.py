"""Per-account API rate limit (requests per hour), shared by every web process.

The shared count lives in the database by default (``RateCounter``, one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), or in Redis (``INCR``) when
``JOBPORTAL_CACHE_URL=redis://…`` is set. A database write per request would turn every read
into a write, so each web process counts locally and adds its pending requests to the shared
counter in batches: after ``RATE_FLUSH_REQUESTS`` (20) requests of an account, after
``RATE_FLUSH_SECONDS`` (1 s), and on every request once the account is within
``RATE_FLUSH_REQUESTS`` of its limit.

**Largest overshoot.** A process decides on the shared count it last saw plus its own pending
requests, and it never holds more than ``RATE_FLUSH_REQUESTS - 1`` pending ones while it is far
from the limit; near it, it adds every request at once. So at most ``RATE_FLUSH_REQUESTS - 1``
requests per web process that did not yet see the others' latest batches get through past the
limit: with 2 processes and the default, 38 requests an hour beyond ``api_rate_limit``.

The limit, what is left and the window reset are put on the request for
:class:`jobportal.middleware.RateLimitHeadersMiddleware` (``X-RateLimit-*`` on every response).
"""

import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.throttling import BaseThrottle

from accounts.authentication import membership_of
from accounts.models import Account, RateCounter

WINDOW_SECONDS = 3600


def _add_in_database(account_id, window, count):
    q = connection.ops.quote_name
    table, column = q(RateCounter._meta.db_table), q("count")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({q('account_id')}, {q('window_number')}, {column}) "
            f"VALUES (%s, %s, %s) ON CONFLICT ({q('account_id')}, {q('window_number')}) "
            f"DO UPDATE SET {column} = {table}.{column} + %s RETURNING {column}",
            [account_id, window, count, count],
        )
        return cursor.fetchone()[0]


def _add_in_cache(account_id, window, count):
    key = f"ratelimit:{account_id}:{window}"
    cache.add(key, 0, WINDOW_SECONDS + 60)
    try:
        return cache.incr(key, count)
    except ValueError:  # evicted between add and incr
        cache.set(key, count, WINDOW_SECONDS + 60)
        return count


def add_requests(account_id, window, count):
    """Add ``count`` requests of the account in the window to the shared counter; return the
    shared count after it."""
    if settings.CACHE_URL.startswith("redis"):
        return _add_in_cache(account_id, window, count)
    return _add_in_database(account_id, window, count)


class _Tally:
    """One account's window in this process: the shared count last seen, and ours since."""

    __slots__ = ("flushed_at", "pending", "seen", "window")

    def __init__(self, window):
        self.window, self.seen, self.pending, self.flushed_at = window, 0, 0, float("-inf")


class LocalCounts:
    """This process's tallies, one per account, and the batching rule."""

    def __init__(self):
        self._tallies: dict[int, _Tally] = {}
        self._lock = threading.Lock()

    def count(self, account_id, limit, now=None):
        """Count one request of the account; return the requests of this window so far (the
        shared count as this process knows it, plus its own not yet added)."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        config = settings.JOBPORTAL
        batch = config["RATE_FLUSH_REQUESTS"]
        with self._lock:
            tally = self._tallies.get(account_id)
            if tally is None or tally.window != window:
                tally = self._tallies[account_id] = _Tally(window)
            tally.pending += 1
            used = tally.seen + tally.pending
            due = (tally.pending >= batch or used > limit - batch
                   or now - tally.flushed_at >= config["RATE_FLUSH_SECONDS"])
            if not due:
                return used
            pending, tally.pending, tally.flushed_at = tally.pending, 0, now
        # Outside the lock: the database round trip must not serialise the process's threads.
        seen = add_requests(account_id, window, pending)
        with self._lock:
            tally.seen = max(tally.seen, seen)
            return tally.seen + tally.pending

    def clear(self):
        with self._lock:
            self._tallies.clear()


_counts = LocalCounts()


def count_request(account_id, limit, now=None):
    """Count one request of the account in this process (see :class:`LocalCounts`)."""
    return _counts.count(account_id, limit, now)


def _reset_in(now):
    return max(1, int((int(now // WINDOW_SECONDS) + 1) * WINDOW_SECONDS - now))


def rate_state(request):
    """``(limit, remaining, seconds to the window's reset)`` as the throttle left them on
    ``request``. A request charged to no account (no valid credential, a CORS preflight) gets
    the default account limit, untouched: nothing was counted for it."""
    state = getattr(getattr(request, "_request", request), "ratelimit", None)
    if state is not None:
        return state
    limit = Account._meta.get_field("api_rate_limit").default
    return limit, limit, _reset_in(time.time())


def forget_counts():
    """Drop this process's local tallies (tests; a process that forks)."""
    _counts.clear()


class AccountRateThrottle(BaseThrottle):
    """Fixed hourly window per account, the same in every process (within the overshoot
    stated above)."""

    def allow_request(self, request, view):
        member = membership_of(request)
        if member is None:
            return True
        now = time.time()
        limit = member.account.api_rate_limit
        used = count_request(member.account_id, limit, now)
        self.reset_in = _reset_in(now)
        request._request.ratelimit = (limit, max(0, limit - used), self.reset_in)
        return used <= limit

    def wait(self):
        return self.reset_in
