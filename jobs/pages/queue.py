"""The live queue of the account: running and waiting commands, and what holds each."""

from django.db.models import Count, Q
from django.shortcuts import render

from accounts.pages import member_view
from jobs import reads
from jobs.models import Command, Status

MAX_SHOWN = 200


@member_view
def queue(request):
    """Running, queued and waiting commands the member may see (oldest first), with the
    account's slots in use; htmx re-reads the fragment every few seconds."""
    member = request.member
    account = member.account
    # One query for the counts (command_account_status serves it), one for the rows.
    counts = Command.objects.filter(account_id=account.pk).aggregate(
        holding=Count("pk", filter=Q(status__in=Status.HOLDING_SLOT)),
        waiting=Count("pk", filter=Q(status=Status.WAITING)),
    )
    active = list(reads.listed(Command.objects.visible_to(member))
                  .filter(status__in=Status.ACTIVE).order_by("id")[:MAX_SHOWN])
    running = [c for c in active if c.status == Status.RUNNING]
    queued = [c for c in active if c.status == Status.QUEUED]
    waiting = [c for c in active if c.status == Status.WAITING]
    context = {"running": running, "queued": queued, "waiting": waiting,
               "holding": counts["holding"], "waiting_total": counts["waiting"],
               "max_concurrency": account.max_concurrency, "max_shown": MAX_SHOWN,
               "truncated": len(active) == MAX_SHOWN}
    template = "jobs/_queue.html" if request.htmx else "jobs/queue.html"
    return render(request, template, context)
