"""DRF permission classes. They ask :mod:`accounts.policy`; they decide nothing themselves."""

from rest_framework import permissions

from accounts import policy
from accounts.authentication import membership_of

ACTION_BY_METHOD = {
    "GET": "read", "HEAD": "read", "OPTIONS": "read",
    "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete",
}


class IsMember(permissions.BasePermission):
    """Authenticated, acting through an active membership of an active account."""

    def has_permission(self, request, view):
        member = membership_of(request)
        return bool(request.user and member is not None)


class PolicyPermission(IsMember):
    """Checks ``view.policy_resource`` with the view's action (``view.policy_actions`` maps
    viewset actions to policy actions; HTTP methods map to read/create/update/delete).

    Object checks go through :func:`accounts.policy.can`. Objects the member may not read are
    already absent from the view's queryset (404); those it may read but not change get 403.
    """

    def _action(self, request, view):
        mapping = getattr(view, "policy_actions", {})
        return mapping.get(getattr(view, "action", None)) or ACTION_BY_METHOD.get(
            request.method, "read"
        )

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if getattr(view, "action", None) in getattr(view, "object_only_actions", ()):
            return True
        return policy.can(membership_of(request), self._action(request, view), view.policy_resource)

    def has_object_permission(self, request, view, obj):
        return policy.can(
            membership_of(request), self._action(request, view), view.policy_resource, obj=obj
        )
