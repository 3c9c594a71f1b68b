"""Every request knows its membership the same way, API or page."""

from functools import partial

from accounts.authentication import resolve_membership


class MembershipMiddleware:
    """Gives every request a lazily resolved membership (token or session), read with
    :func:`accounts.authentication.membership_of`, so plain Django views (the HTML pages) and
    DRF views ask :mod:`accounts.policy` with the same member. Nothing is read until asked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request._resolve_membership = partial(resolve_membership, request)
        return self.get_response(request)
