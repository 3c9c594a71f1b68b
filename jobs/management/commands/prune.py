"""prune: apply the retention rules to everything that grows (see docs/operations.md).

- Finished commands (done, error, cancelled) whose ``finished_at`` is older than their
  account's ``retention_days``, with their log chunks and any other rows that cascade.
  Active commands (waiting, queued, running) are never touched, however old. Runs of a
  schedule are commands and go the same way, except each schedule's latest run, kept so the
  schedule still shows how it last ended (its run numbers live on the schedule, so pruning
  never makes one come back).
- Audit events older than ``--audit-days`` (default 365), but never younger than the longest
  command retention in scope, so the trail outlives the commands it describes.
- Finished task-engine results (django-tasks-db ``DBTaskResult``) older than a day: the
  ``Command`` row holds everything that matters, the task row is only the delivery receipt.
  Task rows still "running" long after any command could (their worker was killed; the
  command itself was reaped as ``WorkerLost``) go too.
- Rate-limit counters of past hours.
- The notification delivery log (:class:`notifications.models.Delivery`) older than
  ``JOBPORTAL_NOTIFY_RETENTION_DAYS`` (default 30), except deliveries still pending.
- Working-directory packages (:mod:`jobs.packages`) no submission named for the account's
  ``retention_days``, unless a waiting, queued or running command names them; with their
  stored files.

Deletes run in batches of ``--batch-size`` rows, each its own short transaction, so pruning a
million rows never holds one giant transaction (or its locks) open.
"""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.core.management.base import CommandError
from django.db.models import Max
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Account, AuditEvent, RateCounter
from accounts.throttling import WINDOW_SECONDS
from jobportal.cli import PortalCommand
from jobs import packages
from jobs.models import Command as JobCommand
from jobs.models import LogChunk, Schedule, Status
from notifications.models import Delivery, DeliveryState

TASK_RESULT_MAX_AGE = timedelta(days=1)


def delete_in_batches(queryset, batch_size):
    """Delete the rows of ``queryset`` ``batch_size`` at a time; return deletions per model.

    Each batch re-applies the queryset's conditions, so a row that stopped matching between
    the SELECT and the DELETE is left alone. Deleting through the ORM (not raw SQL) lets
    Django cascade to log chunks and to any related model added later.
    """
    deleted = Counter()
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        _, per_model = queryset.filter(pk__in=ids).delete()
        if not per_model.get(queryset.model._meta.label):
            return deleted  # nothing matched any more: stop instead of looping on it
        deleted.update(per_model)


class Command(PortalCommand):
    help = ("Delete finished commands past their account's retention (never active ones), "
            "old audit events and finished task results.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Print what would be deleted; delete nothing.")
        parser.add_argument("--account", metavar="SLUG",
                            help="Only this account's commands and audit events.")
        parser.add_argument("--batch-size", type=int, default=1000,
                            help="Rows per delete transaction (default 1000).")
        parser.add_argument("--audit-days", type=int, default=365,
                            help="Keep audit events this many days (default 365; never less "
                                 "than the longest command retention).")

    def handle(self, dry_run, account, batch_size, audit_days, **options):
        if batch_size < 1 or audit_days < 1:
            raise CommandError("--batch-size and --audit-days must be at least 1.")
        self.dry_run, self.batch_size = dry_run, batch_size
        self.now = timezone.now()
        accounts = Account.objects.order_by("slug")
        if account:
            accounts = accounts.filter(slug=account)
            if not accounts.exists():
                raise CommandError(f"No account with slug {account!r}.")
        for each in accounts:
            self.prune_commands(each)
            self.prune_packages(each)
        self.prune_audit(accounts if account else None, audit_days)
        self.prune_deliveries(accounts if account else None)
        if not account:
            self.prune_task_results()
            self.prune_rate_counters()

    def report(self, what, count, detail=""):
        verb = "would delete" if self.dry_run else "deleted"
        self.stdout.write(f"{what}: {verb} {count}{detail}")

    def prune_commands(self, account):
        cutoff = self.now - timedelta(days=account.retention_days)
        latest_runs = Schedule.objects.filter(account=account, last_run__isnull=False).values(
            "last_run")
        expired = JobCommand.objects.filter(
            account=account, status__in=Status.TERMINAL, finished_at__lt=cutoff
        ).exclude(pk__in=latest_runs)
        if self.dry_run:
            commands = expired.count()
            chunks = LogChunk.objects.filter(command__in=expired).count()
        else:
            deleted = delete_in_batches(expired, self.batch_size)
            commands = deleted[JobCommand._meta.label]
            chunks = deleted[LogChunk._meta.label]
        self.report(account.slug, f"{commands} finished command(s)",
                    f" with {chunks} log chunk(s), finished before {cutoff:%Y-%m-%d %H:%M} "
                    f"(retention {account.retention_days} days)")

    def prune_packages(self, account):
        cutoff = self.now - timedelta(days=account.retention_days)
        count = packages.prune(account, cutoff, dry_run=self.dry_run)
        self.report(account.slug, f"{count} package(s)", f" unused since {cutoff:%Y-%m-%d %H:%M}")

    def prune_audit(self, accounts, audit_days):
        """Audit events of the given accounts (None: all, including account-less ones)."""
        scope = accounts if accounts is not None else Account.objects.all()
        longest = scope.aggregate(days=Max("retention_days"))["days"] or 0
        days = max(audit_days, longest)
        events = AuditEvent.objects.filter(created_at__lt=self.now - timedelta(days=days))
        if accounts is not None:
            events = events.filter(account__in=accounts)
        count = events.count() if self.dry_run else (
            delete_in_batches(events, self.batch_size)[AuditEvent._meta.label])
        self.report("audit", f"{count} event(s)", f" older than {days} days")

    def prune_task_results(self):
        finished = DBTaskResult.objects.filter(
            status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED],
            finished_at__lt=self.now - TASK_RESULT_MAX_AGE,
        )
        count = finished.count() if self.dry_run else (
            delete_in_batches(finished, self.batch_size)[DBTaskResult._meta.label])
        self.report("task results", f"{count} finished result(s)", " older than a day")
        longest_run = timedelta(seconds=settings.JOBPORTAL["MAX_TIMEOUT_SECONDS"])
        abandoned = DBTaskResult.objects.filter(
            status=TaskResultStatus.RUNNING,
            started_at__lt=self.now - longest_run - TASK_RESULT_MAX_AGE,
        )
        count = abandoned.count() if self.dry_run else (
            delete_in_batches(abandoned, self.batch_size)[DBTaskResult._meta.label])
        self.report("task results", f"{count} abandoned running result(s)",
                    " of workers that died")

    def prune_deliveries(self, accounts):
        """The delivery log past its retention (the given accounts' only, or everyone's)."""
        days = settings.NOTIFICATIONS["RETENTION_DAYS"]
        old = Delivery.objects.filter(created_at__lt=self.now - timedelta(days=days)).exclude(
            state=DeliveryState.PENDING)
        if accounts is not None:
            old = old.filter(account__in=accounts)
        count = old.count() if self.dry_run else (
            delete_in_batches(old, self.batch_size)[Delivery._meta.label])
        self.report("notifications", f"{count} delivery log row(s)",
                    f" older than {days} days")

    def prune_rate_counters(self):
        current = int(self.now.timestamp() // WINDOW_SECONDS)
        old = RateCounter.objects.filter(window_number__lt=current - 1)
        count = old.count() if self.dry_run else (
            delete_in_batches(old, self.batch_size)[RateCounter._meta.label])
        self.report("rate limits", f"{count} counter(s)", " of past hours")
