"""The read path every surface shares: one command for one member, in one query.

A single-object read needs neither a FilterSet nor the policy's queryset filter: the row is
fetched by primary key within the member's account (with its submitter, for the email), and
:func:`accounts.policy.can` decides on the object itself, the same rules
:func:`accounts.policy.restrict` applies to lists. Anything else a surface shows is computed
only where it applies (the queue position of a waiting command: one more query).
"""

from django.db.models import Count, Q

from accounts import policy
from jobs.models import Command, Status

# Primary keys are 64-bit: a longer string of digits is not an id (and must not reach the
# database as an out-of-range integer).
MAX_PK_DIGITS = 18


def parse_pk(value):
    """``value`` as a primary key, or None when it cannot be one."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_PK_DIGITS:
        return None
    return int(text)


def visible_command(member, pk, action="read"):
    """The command ``pk`` if ``member`` may ``action`` it, else None (callers answer 404)."""
    pk = parse_pk(pk)
    if pk is None or member is None:
        return None
    command = (Command.objects.select_related("user").filter(pk=pk, account_id=member.account_id)
               .first())
    if command is None or not policy.can(member, action, "commands", obj=command):
        return None
    command.account = member.account  # the same row, already loaded with the membership
    return command


def waiting_state(command):
    """``(queue_position, commands holding a slot)`` of a waiting command, one query;
    ``(None, None)`` for any other."""
    if command.status != Status.WAITING:
        return None, None
    counts = Command.objects.filter(account_id=command.account_id).aggregate(
        ahead=Count("pk", filter=Q(status=Status.WAITING, pk__lt=command.pk)),
        holding=Count("pk", filter=Q(status__in=Status.HOLDING_SLOT)),
    )
    return counts["ahead"] + 1, counts["holding"]
