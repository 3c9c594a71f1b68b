"""Who is calling, without asking the database on every request.

A token's membership (with its user and account) and the member's policies are kept in a
per-process cache keyed by the token's hash for ``JOBPORTAL_ACCESS_CACHE_SECONDS`` (5 s by
default). After that one query re-reads the token, membership, user and account; the policies
are re-read only when the account's ``access_version`` moved. Every change of a role, policy,
group, membership, token, user or account bumps that version (:mod:`accounts.signals`,
:meth:`ApiToken.revoke`) and drops the account's entries in the process that made it, so:

- in the process that made a change it holds from the next request;
- in every other web process it holds within the cache lifetime (5 s): a revoked token, a
  removed role or a deactivated member stops working within that bound.
"""

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F

from accounts.models import Account, ApiToken, hash_token

MAX_ENTRIES = 10_000  # a process serving more tokens than this re-reads the oldest


@dataclass
class _Entry:
    token: ApiToken
    version: int
    checked_at: float


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def authenticate(raw):
    """The usable :class:`ApiToken` for ``raw`` (membership, user and account loaded, the
    member's policies cached on it), or None."""
    key = hash_token(raw)
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and now - entry.checked_at < settings.JOBPORTAL["ACCESS_CACHE_SECONDS"]:
        return entry.token if entry.token.is_usable else None
    token = _load(key)
    if token is None:
        _entries.pop(key, None)
        return None
    member = token.membership
    version = member.account.access_version
    if entry is not None and entry.version == version and entry.token.pk == token.pk:
        # Nothing about access changed in the account: keep the policies already read.
        cached = getattr(entry.token.membership, "_policies", None)
        if cached is not None:
            member._policies = cached
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.pop(next(iter(_entries)))
        _entries[key] = _Entry(token, version, now)
    return token


def _load(key):
    token = (ApiToken.objects.select_related("membership__user", "membership__account")
             .filter(token_hash=key).first())
    if token is None or not token.is_usable:
        return None
    member = token.membership
    if not (member.is_active and member.user.is_active and member.account.is_active):
        return None
    return token


def forget(account_id=None):
    """Drop this process's cached entries of one account (or all of them)."""
    with _lock:
        for key, entry in list(_entries.items()):
            if account_id is None or entry.token.membership.account_id == account_id:
                del _entries[key]


def bump(account_ids):
    """Record that access in these accounts changed: other processes re-read within the cache
    lifetime, this one at once (and again after the transaction commits, so a request racing
    the transaction cannot keep what it read before)."""
    ids = [pk for pk in set(account_ids) if pk is not None]
    if not ids:
        return
    Account.objects.filter(pk__in=ids).update(access_version=F("access_version") + 1)
    for pk in ids:
        forget(pk)
        transaction.on_commit(lambda pk=pk: forget(pk))
