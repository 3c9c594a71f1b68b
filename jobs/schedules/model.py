"""The :class:`Schedule` row (imported into :mod:`jobs.models`, which is long enough)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Account


class Concurrency(models.TextChoices):
    """What a slot does when the schedule's previous run is still waiting, queued or running."""

    SKIP = "skip", "Skip the slot"
    QUEUE = "queue", "Wait for the previous run, then run"
    CANCEL_PREVIOUS = "cancel_previous", "Cancel the previous run, then run"
    ALLOW = "allow", "Run alongside the previous run"


class CatchUp(models.TextChoices):
    """Which of the slots that passed while no worker was ticking (downtime) still run."""

    ALL = "all", "Every missed slot"
    LAST = "last", "Only the latest missed slot"
    NONE = "none", "None of the missed slots"


class Schedule(models.Model):
    """A cron expression in a time zone over a command template or a saved query.

    ``next_run_at`` is the nominal time of the next slot (UTC; None once ``end_at`` has
    passed); the scheduler claims a slot by locking this row and advancing it in the same
    transaction as the run's submission, and the run's ``(schedule, nominal_time)`` and
    ``(schedule, sequence_id)`` are unique, so a slot never runs twice. ``last_sequence_id``
    counts runs made (1, 2, 3 …), kept here so pruning old runs never reuses a number.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="schedules",
                                db_index=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    cron = models.CharField(max_length=120, help_text="Five fields, or @hourly, @daily …")
    timezone = models.CharField(max_length=64, default="UTC",
                                help_text="IANA name, such as Europe/Berlin.")
    command = models.JSONField(
        default=dict, blank=True,
        help_text="The body of POST /api/v1/commands/ each run submits (empty for a saved "
                  "query).")
    saved_query = models.ForeignKey(
        "jobs.SavedQuery", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="schedules", help_text="Run this saved query (instead of a command).")
    parameters = models.JSONField(default=dict, blank=True,
                                  help_text="The saved query's parameter values.")
    start_at = models.DateTimeField(null=True, blank=True, help_text="No slot before this.")
    end_at = models.DateTimeField(null=True, blank=True, help_text="No slot after this.")
    concurrency = models.CharField(max_length=20, choices=Concurrency.choices,
                                   default=Concurrency.SKIP)
    catch_up = models.CharField(max_length=10, choices=CatchUp.choices, default=CatchUp.LAST)
    paused = models.BooleanField(default=False)

    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_sequence_id = models.PositiveIntegerField(default=0, editable=False)
    last_run = models.ForeignKey("jobs.Command", null=True, blank=True, editable=False,
                                 on_delete=models.SET_NULL, related_name="+")
    last_error = models.TextField(blank=True, editable=False,
                                  help_text="Why the latest slot made no run, if it made none.")
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   help_text="Runs are submitted as this member.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    policy_owner_field = "created_by"

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [
            # Also the index of lists: WHERE account = ? ORDER BY name.
            models.UniqueConstraint(fields=["account", "name"], name="schedule_account_name"),
            models.CheckConstraint(
                condition=Q(start_at__isnull=True) | Q(end_at__isnull=True)
                | Q(end_at__gt=models.F("start_at")), name="schedule_ends_after_start"),
        ]
        indexes = [
            # The tick: WHERE next_run_at <= now AND NOT paused ORDER BY next_run_at (not a
            # partial index: SQLite cannot use one with a bound parameter).
            models.Index(fields=["next_run_at"], name="schedule_due"),
        ]

    def __str__(self):
        return f"{self.name} ({self.cron} {self.timezone})"

    @property
    def kind(self):
        """``saved_query`` or ``command``: what each run submits."""
        return "saved_query" if self.saved_query_id or not self.command else "command"
