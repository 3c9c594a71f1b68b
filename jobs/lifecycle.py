"""The one state machine of a command. Every transition lives here.

::

    submit -> waiting --admit--> queued --claim--> running --> done | error | cancelled
    cancel: waiting/queued -> cancelled at once; running -> cancel requested -> worker kills
    timeout: worker kills -> error (Timeout); no heartbeat: reaper -> error (WorkerLost)

Every transition to an end (:func:`finish`, :func:`cancel`, :func:`reap`) records the
notifications the command owes in its own transaction (:mod:`notifications.recording`).

Each transition is a conditional ``UPDATE ... WHERE status = ...`` whose row count is checked,
so two processes racing on one command cannot both win. Admission locks the account row, so
``max_concurrency`` holds under any burst; every finish admits the next waiting command.
"""

import logging
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from jobs.models import Command, Status
from jobs.worker import wakeup
from notifications import recording as notifications

logger = logging.getLogger(__name__)


class IllegalTransition(Exception):
    """The command's state does not allow this (for example: cancel a finished command)."""


@dataclass(frozen=True)
class WorkerIdentity:
    """Who claims a command: recorded on the row so operators and the reaper can find it."""

    worker_id: str
    node_id: str
    hostname: str
    ip_address: str | None

    @classmethod
    def here(cls, worker_id):
        hostname = socket.gethostname()
        try:
            ip = socket.gethostbyname(hostname)
        except OSError:
            ip = None
        return cls(worker_id, settings.JOBPORTAL["NODE_ID"], hostname, ip)


def _enqueue(command_id, label):
    """Hand "run command N" to the task engine, on the command's queue, and wake a worker."""
    from jobs.worker.tasks import run_command

    run_command.using(queue_name=label).enqueue(command_id)
    if settings.TASK_ENGINE == "database":
        wakeup.announce()


def submit(*, account, user, source, **fields):
    """Create a command and admit it if the account has a free slot (one transaction)."""
    fields.setdefault("timeout", account.default_timeout)
    with transaction.atomic():
        command = Command.objects.create(account=account, user=user, source=source, **fields)
        admit(account.pk)
    command.refresh_from_db()
    return command


def admit(account_id):
    """Move the account's oldest waiting commands to ``queued`` while it has free slots.

    Holds a lock on the account row (on SQLite the IMMEDIATE transaction serialises writers),
    so concurrent admissions of one account never exceed ``max_concurrency``. Commands left
    waiting are marked ``throttled``. Returns the admitted ids; they are enqueued on commit.
    """
    now = timezone.now()
    # Usually called inside a caller's transaction; a savepoint would buy nothing here.
    with transaction.atomic(savepoint=False):
        limit = (
            Account.objects.select_for_update().values_list("max_concurrency", flat=True)
            .get(pk=account_id)
        )
        holding = Command.objects.filter(account_id=account_id).holding_slot().count()
        admitted = []
        if holding < limit:
            admitted = list(
                Command.objects.filter(account_id=account_id, status=Status.WAITING)
                .order_by("id").values_list("id", "label")[: limit - holding]
            )
        ids = [pk for pk, _ in admitted]
        if ids:
            Command.objects.filter(pk__in=ids, status=Status.WAITING).update(
                status=Status.QUEUED, queued_at=now, throttled=False, updated_at=now
            )
        Command.objects.filter(
            account_id=account_id, status=Status.WAITING, throttled=False
        ).exclude(pk__in=ids).update(throttled=True, updated_at=now)
        for pk, label in admitted:
            # robust: a broker that is down must not turn a saved submission into a 500; the
            # reaper re-sends commands queued for too long.
            transaction.on_commit(lambda pk=pk, label=label: _enqueue(pk, label), robust=True)
    return ids


def claim(command_id, identity):
    """``queued -> running`` for this worker, or None if someone else (or cancel) got there.

    A duplicate delivery of "run command N" finds the command no longer queued and does
    nothing, so no command runs twice.
    """
    now = timezone.now()
    claimed = Command.objects.filter(pk=command_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, updated_at=now,
        worker_id=identity.worker_id, node_id=identity.node_id, hostname=identity.hostname,
        ip_address=identity.ip_address, pid=None, attempt=F("attempt") + 1,
    )
    if not claimed:
        return None
    # ``notifies``: whether finish() has notifications to record (none: no query for them).
    return (Command.objects.select_related("account")
            .annotate(notifies=notifications.notifies()).get(pk=command_id))


class Beat:
    """What a heartbeat tells the worker to do next."""

    CONTINUE = "continue"
    CANCEL = "cancel"
    LOST = "lost"  # the command is no longer ours (reaped): stop it without recording anything


def heartbeat(command, **progress):
    """Record liveness (and progress, pid, log size); say whether to go on, cancel or give up."""
    now = timezone.now()
    alive = Command.objects.filter(
        pk=command.pk, status=Status.RUNNING, worker_id=command.worker_id
    ).update(heartbeat_at=now, updated_at=now, **progress)
    if not alive:
        return Beat.LOST
    requested = Command.objects.filter(pk=command.pk).values_list(
        "cancel_requested_at", flat=True
    ).get()
    return Beat.CANCEL if requested else Beat.CONTINUE


def finish(command, status, **outcome):
    """``running -> done | error | cancelled`` by the worker that runs it; admits the next."""
    assert status in Status.TERMINAL
    now = timezone.now()
    if status == Status.DONE:
        outcome.setdefault("progress", 100)
    with transaction.atomic():
        finished = Command.objects.filter(
            pk=command.pk, status=Status.RUNNING, worker_id=command.worker_id
        ).update(status=status, finished_at=now, updated_at=now, heartbeat_at=now, **outcome)
        if finished:
            if getattr(command, "notifies", True):
                notifications.record(command.pk, status, now)
            admit(command.account_id)
    if not finished:
        logger.warning("command %s: finish(%s) lost the race; it was reaped", command.pk, status)
    return bool(finished)


def cancel(command):
    """Cancel: at once if not started; otherwise ask its worker to stop it (idempotent)."""
    now = timezone.now()
    with transaction.atomic():
        ended = Command.objects.filter(
            pk=command.pk, status__in=(Status.WAITING, Status.QUEUED)
        ).update(status=Status.CANCELLED, finished_at=now, updated_at=now,
                 cancel_requested_at=now, throttled=False)
        if ended:
            notifications.record(command.pk, Status.CANCELLED, now)
            admit(command.account_id)
        else:
            Command.objects.filter(
                pk=command.pk, status=Status.RUNNING, cancel_requested_at__isnull=True
            ).update(cancel_requested_at=now, updated_at=now)
    command.refresh_from_db()
    if not ended and command.status != Status.RUNNING:
        raise IllegalTransition(
            f"Command {command.pk} is {command.status}; only waiting, queued or running "
            "commands can be cancelled."
        )
    return command


def delete(command):
    """Remove a command that has ended, with its logs and results; a waiting, queued or
    running one cannot be removed (stop it first). Returns True if this call removed it."""
    with transaction.atomic():
        _, removed = Command.objects.filter(pk=command.pk, status__in=Status.TERMINAL).delete()
    if removed.get(Command._meta.label, 0):
        return True
    status = Command.objects.filter(pk=command.pk).values_list("status", flat=True).first()
    if status is None:
        return False  # someone else removed it meanwhile
    raise IllegalTransition(
        f"Command {command.pk} is {status}; only commands that have ended can be deleted.")


def reap(now=None):
    """Recover from crashes: fail commands whose worker went silent, re-enqueue queued commands
    whose task message may be lost, and admit waiting commands wherever slots are free.

    Safe to run from any number of workers at once: every step is a conditional update.
    """
    now = now or timezone.now()
    config = settings.JOBPORTAL
    cutoff = now - timedelta(seconds=config["HEARTBEAT_TIMEOUT_SECONDS"])
    lost = list(
        Command.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).order_by()
        .values_list("id", "account_id", "hostname", "worker_id", "heartbeat_at")
    )
    reaped = []
    for pk, account_id, hostname, worker_id, last_beat in lost:
        with transaction.atomic():
            failed = Command.objects.filter(
                pk=pk, status=Status.RUNNING, heartbeat_at__lt=cutoff
            ).update(
                status=Status.ERROR, finished_at=now, updated_at=now, error_type="WorkerLost",
                error_message=(f"Worker {worker_id} on {hostname} stopped sending heartbeats "
                               f"(last at {last_beat:%Y-%m-%d %H:%M:%S} UTC)."),
            )
            if failed:
                notifications.record(pk, Status.ERROR, now)
                admit(account_id)
        if failed:
            reaped.append(pk)
            logger.warning("command %s: worker %s on %s lost", pk, worker_id, hostname)
    requeued = _requeue_stale(now, config["REQUEUE_AFTER_SECONDS"])
    for account_id in admittable_accounts():
        admit(account_id)
    return reaped, requeued


def admittable_accounts():
    """One query, so a reaper pass takes no account lock where there is nothing to admit."""
    mine = Command.objects.filter(account=OuterRef("pk")).order_by()
    holding = (mine.filter(status__in=Status.HOLDING_SLOT).values("account")
               .annotate(n=Count("*")).values("n"))
    return (
        Account.objects.filter(Exists(mine.filter(status=Status.WAITING)))
        .annotate(holding=Coalesce(Subquery(holding), 0))
        .filter(holding__lt=F("max_concurrency")).values_list("pk", flat=True)
    )


def _requeue_stale(now, after_seconds):
    """Queued commands not claimed for a long time get their message sent again; the claim
    is conditional, so a second delivery of a message that was not lost is harmless."""
    stale = list(
        Command.objects.filter(
            status=Status.QUEUED, queued_at__lt=now - timedelta(seconds=after_seconds)
        ).order_by().values_list("id", "label")
    )
    for pk, label in stale:
        if Command.objects.filter(pk=pk, status=Status.QUEUED).update(queued_at=now):
            _enqueue(pk, label)
    return [pk for pk, _ in stale]
