"""The audit trail: one call, used wherever something changes hands or rights."""

from accounts.models import AuditEvent


def client_ip(request):
    """The caller's address (REMOTE_ADDR; put a proxy that rewrites it in front if needed)."""
    if request is None:
        return None
    request = getattr(request, "_request", request)
    return request.META.get("REMOTE_ADDR") or None


def record(action, *, member=None, actor=None, account=None, obj=None, request=None, **detail):
    """Record that ``actor`` (or ``member``'s user) did ``action`` to ``obj``."""
    return AuditEvent.objects.create(
        account=account or (member.account if member else getattr(obj, "account", None)),
        actor=actor or (member.user if member else None),
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail,
        ip_address=client_ip(request),
    )
