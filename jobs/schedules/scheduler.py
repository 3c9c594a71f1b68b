"""The tick: make the runs of every due slot, exactly once, whichever process ticks.

Every worker process runs :func:`tick` in its reaper pass (:class:`jobs.worker.loop.Reaper`,
the Celery engine's reaper too), so there is no daemon to start and no in-memory timer: the
state is the schedule row. Each due schedule is taken in its own short transaction that

1. locks the row (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL: another worker skips it;
   SQLite's IMMEDIATE transactions serialise the writers) and re-reads ``next_run_at``;
2. decides which slots run (catch-up policy, concurrency rule), submits each run through
   :func:`jobs.submission.submit` as the schedule's owner, and advances ``next_run_at`` and
   ``last_sequence_id``;
3. commits all of it at once.

A process that crashes midway commits nothing, so the next tick finds the slot still due. The
runs' unique ``(schedule, nominal_time)`` and ``(schedule, sequence_id)`` are the last line: a
second writer of the same slot fails and rolls back. ``now`` is a parameter, so tests drive
the clock.
"""

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.utils import OperationalError
from django.utils import timezone

from accounts.models import Membership
from jobs import lifecycle, submission
from jobs.models import Command, Source, Status
from jobs.schedules import slots
from jobs.schedules.definition import BadTemplate, run_definition
from jobs.schedules.model import CatchUp, Concurrency, Schedule

logger = logging.getLogger(__name__)
DUE_PER_TICK = 100  # schedules looked at per tick; the rest are due in the next one


@dataclass
class Outcome:
    """What one tick did to one schedule: runs made (command ids), slots skipped, a slot held
    (queue rule), the error that stopped a run."""

    schedule_id: int
    runs: list = field(default_factory=list)
    skipped: int = 0
    held: bool = False
    error: str = ""


def tick(now=None):
    """Make the runs of every schedule due at ``now`` (default: the clock); the outcomes."""
    now = now or timezone.now()
    due = list(Schedule.objects.filter(next_run_at__lte=now, paused=False)
               .order_by("next_run_at").values_list("pk", flat=True)[:DUE_PER_TICK])
    outcomes = []
    for pk in due:
        outcome = fire(pk, now)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def tick_in_worker(who):
    """A worker's tick (the reaper pass): any failure is logged with its traceback and the
    next pass tries again (nothing of a failed schedule was committed, so its slot stays
    due), and the reaper thread lives on."""
    try:
        return tick()
    except Exception:
        logger.exception("%s: the schedules' tick failed; the next pass tries again", who)
        close_old_connections()
        return []


def fire(pk, now):
    """Take schedule ``pk`` if it is still due and nobody else holds it; None if not."""
    try:
        with transaction.atomic():
            schedule = (Schedule.objects.select_for_update(skip_locked=True)
                        .filter(pk=pk, paused=False, next_run_at__lte=now).first())
            if schedule is None:
                return None  # another process holds it, or it ran, paused or changed
            return _fire(schedule, now)
    except IntegrityError:
        logger.info("schedule %s: another process made this slot's run", pk)
        return None
    except OperationalError:
        logger.warning("schedule %s: database busy; the slot stays due", pk, exc_info=True)
        return None


def _fire(schedule, now):
    outcome = Outcome(schedule.pk)
    grace = timedelta(seconds=settings.JOBPORTAL["SCHEDULE_GRACE_SECONDS"])
    candidates, outcome.skipped = _candidates(schedule, now, grace)
    made = 0
    for slot in candidates:
        if made >= settings.JOBPORTAL["SCHEDULE_MAX_RUNS_PER_TICK"]:
            break
        active = list(Command.objects.filter(schedule=schedule, status__in=Status.ACTIVE))
        if active and schedule.concurrency == Concurrency.QUEUE:
            outcome.held = True
            schedule.next_run_at = slot  # this slot waits for the previous run to end
            break
        if active and schedule.concurrency == Concurrency.SKIP:
            outcome.skipped += 1
        else:
            if schedule.concurrency == Concurrency.CANCEL_PREVIOUS:
                _cancel(active)
            made += 1
            _run(schedule, slot, outcome)
        schedule.next_run_at = _after(schedule, slot)
    else:
        # Every candidate was taken: the next slot is the first one after now (or after the
        # last candidate, when the run cap stopped the loop, which ``break`` skips).
        schedule.next_run_at = _after(schedule, max(now, candidates[-1]) if candidates
                                      else now)
    schedule.save(update_fields=["next_run_at", "last_sequence_id", "last_run", "last_error",
                                 "last_error_at"])
    return outcome


def _after(schedule, moment):
    return slots.next_slot(schedule.cron, schedule.timezone, moment, end=schedule.end_at)


def _candidates(schedule, now, grace):
    """The due slots that may run, oldest first, and how many the catch-up policy dropped.

    A slot is *missed* when a later slot is also due or when it is more than ``grace`` late.
    ``all`` runs every due slot; ``last`` only the latest; ``none`` only a latest slot that
    is on time. Under the ``queue`` rule the pending slot (held while the previous run was
    active) runs first, whatever the policy.
    """
    first = schedule.next_run_at
    ceiling = min(now, schedule.end_at) if schedule.end_at else now
    if schedule.catch_up == CatchUp.ALL:
        due = []
        for slot in slots.slots_after(schedule.cron, schedule.timezone, first, inclusive=True):
            if slot > ceiling or len(due) > settings.JOBPORTAL["SCHEDULE_MAX_RUNS_PER_TICK"]:
                break
            due.append(slot)
        return due, 0
    latest = slots.latest_slot(schedule.cron, schedule.timezone, ceiling, first)
    if latest is None:
        return [], 0
    # A queued slot (held for the previous run) runs whatever the policy: it was due on time.
    held = [first] if schedule.concurrency == Concurrency.QUEUE and latest != first else []
    dropped = 0 if latest == first or held else 1  # at least one slot (not counted further)
    if schedule.catch_up == CatchUp.NONE and now - latest > grace:
        return held, dropped + 1
    return [*held, latest], dropped


def _cancel(commands):
    for command in commands:
        with contextlib.suppress(lifecycle.IllegalTransition):  # it ended meanwhile
            lifecycle.cancel(command)


def _run(schedule, slot, outcome):
    """Submit the run of ``slot`` as the schedule's owner; record why when it cannot be."""
    sequence_id = schedule.last_sequence_id + 1
    member = (Membership.objects.select_related("account", "user")
              .filter(account_id=schedule.account_id, user_id=schedule.created_by_id,
                      is_active=True, account__is_active=True).first()
              if schedule.created_by_id else None)
    try:
        if member is None:
            raise submission.NotAllowed("The schedule's owner is no longer an active member "
                                        "of the account.")
        definition = run_definition(schedule, slot, sequence_id, slots.zone(schedule.timezone))
        command, _ = submission.submit(member, definition, source=Source.SCHEDULE,
                                       audit_action="schedules.run", schedule=schedule.pk,
                                       sequence_id=sequence_id,
                                       nominal_time=slot.isoformat())
    except (submission.SubmissionError, BadTemplate, slots.BadSchedule) as exc:
        message = exc.message if hasattr(exc, "message") else f"Invalid template: {exc}"
        schedule.last_error = f"{slot:%Y-%m-%d %H:%M} UTC: {message}"
        schedule.last_error_at = timezone.now()
        outcome.error = message
        logger.warning("schedule %s: no run for %s: %s", schedule.pk, slot, message)
        return None
    schedule.last_sequence_id = sequence_id
    schedule.last_run = command
    schedule.last_error, schedule.last_error_at = "", None
    outcome.runs.append(command.pk)
    return command
