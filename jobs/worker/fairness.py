"""Which ready task a free worker takes: the account that holds the fewest workers goes first.

The task engine hands out tasks oldest first, so one account's burst would take every worker
slot while another account's single command waited behind it. Among the oldest
:data:`WINDOW` ready tasks, a worker takes the one whose account

1. has the fewest commands running right now (anywhere, on any machine: read from the
   database), then
2. was served least recently (its newest finished command is the oldest, or it has none),
   then
3. the oldest task.

So a second account's command starts at the next free slot, even with a single worker. An
account's queued tasks never outnumber its ``max_concurrency`` (admission holds the rest as
``waiting``), so the window holds the work of many accounts.
"""

from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from accounts.models import Account
from jobs.models import Command, Status

WINDOW = 100


def command_id(args_kwargs):
    """The command a task runs (``run_command(command_id)``), or None for any other task."""
    args = (args_kwargs or {}).get("args") or []
    return args[0] if len(args) == 1 and isinstance(args[0], int) else None


def fairest_first(tasks):
    """``tasks``: ``(task_pk, args_kwargs)`` oldest first → the task pks in claim order, or
    None when that is the engine's own order (all of one account: the usual case).

    One query on the commands; one more, on their accounts, only when there are several."""
    commands = {pk: command_id(args_kwargs) for pk, args_kwargs in tasks}
    account_of = dict(Command.objects.filter(
        pk__in=[c for c in commands.values() if c is not None]).values_list("pk", "account_id"))
    accounts = set(account_of.values())
    if len(accounts) <= 1:
        return None
    mine = Command.objects.filter(account_id=OuterRef("pk")).order_by()
    running = (mine.filter(status=Status.RUNNING).values("account_id")
               .annotate(n=Count("pk")).values("n"))
    # One (account, status, -id) index probe per terminal status.
    served = Greatest(*[
        Coalesce(Subquery(mine.filter(status=status).order_by("-id").values("id")[:1]),
                 Value(0)) for status in Status.TERMINAL])
    share = {pk: (n or 0, last) for pk, n, last in Account.objects.filter(pk__in=accounts)
             .annotate(n=Subquery(running), last=served).values_list("pk", "n", "last")}
    idle = (0, 0)  # not a command's task: served like an idle account's
    return sorted(commands, key=lambda pk: share.get(account_of.get(commands[pk]), idle))
