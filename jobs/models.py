"""Commands and what they leave behind (log chunks).

The :class:`Command` row is the single source of truth for a command's status, worker,
heartbeat, progress and cancellation; the task engine only carries "run command N". Every
status change goes through :mod:`jobs.lifecycle`.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Account


class Status(models.TextChoices):
    """The seven-state lifecycle (``throttled`` is a flag on ``waiting``).

    waiting -> queued -> running -> done | error | cancelled; waiting and queued may also go
    straight to cancelled. ``Status.ACTIVE`` / ``Status.TERMINAL`` group them for code,
    filters and templates; ``Status.HOLDING_SLOT`` counts against the account's concurrency.
    """

    WAITING = "waiting", "Waiting"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


Status.ACTIVE = (Status.WAITING, Status.QUEUED, Status.RUNNING)
Status.TERMINAL = (Status.DONE, Status.ERROR, Status.CANCELLED)
Status.HOLDING_SLOT = (Status.QUEUED, Status.RUNNING)


class CommandType(models.TextChoices):
    SHELL = "shell", "Shell"
    SQL = "sql", "SQL"


class Source(models.TextChoices):
    API = "api", "API"
    UI = "ui", "UI"
    ADMIN = "admin", "Admin"
    RERUN = "rerun", "Re-run"


def new_submission_id():
    return f"jp-{secrets.token_hex(12)}"


class CommandQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=Status.ACTIVE)

    def holding_slot(self):
        return self.filter(status__in=Status.HOLDING_SLOT)

    def visible_to(self, member, action="read"):
        """The commands ``member`` may ``action``, through :func:`accounts.policy.restrict`."""
        from accounts.policy import restrict

        return restrict(self, member, action, "commands")


class Command(models.Model):
    """One submission: what to run, where it is in its lifecycle, who ran it and how it ended."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="commands")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="commands",
    )
    submission_id = models.CharField(max_length=128, default=new_submission_id)
    command_type = models.CharField(max_length=20, choices=CommandType.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    name = models.CharField(max_length=200, blank=True)
    label = models.CharField(max_length=100, default="default",
                             help_text="The worker queue that runs it.")
    tags = models.JSONField(default=list, blank=True)
    script = models.TextField(blank=True, help_text="Shell: the script or entrypoint.")
    query = models.TextField(blank=True, help_text="SQL: the statements.")
    macros = models.JSONField(default=dict, blank=True)
    resolved_macros = models.JSONField(null=True, blank=True)
    runtime_env = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timeout = models.PositiveIntegerField(help_text="Seconds of wall time before it is killed.")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reruns")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    throttled = models.BooleanField(
        default=False, help_text="Waiting because the account is at its concurrency limit.")
    progress = models.PositiveSmallIntegerField(default=0)
    steps_ready = models.PositiveIntegerField(null=True, blank=True)
    steps_total = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    node_id = models.CharField(max_length=100, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    worker_id = models.CharField(max_length=100, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)

    exit_code = models.IntegerField(null=True, blank=True)
    error_type = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    log_size = models.BigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)

    objects = CommandQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "submission_id"],
                                    name="command_submission_id_unique"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="command_progress_le_100"),
        ]
        indexes = [
            # History lists: WHERE account = ? ORDER BY id DESC (cursor pagination).
            models.Index(fields=["account", "-id"], name="command_account_id"),
            # created_after / created_before filters and the admin date hierarchy.
            models.Index(fields=["account", "created_at"], name="command_account_created"),
            models.Index(fields=["created_at"], name="command_created"),
            # Status filters: WHERE account = ? AND status = ? ORDER BY id DESC.
            models.Index(fields=["account", "status", "-id"], name="command_account_status"),
            # Admission: the oldest waiting commands of an account.
            models.Index(fields=["account", "id"], name="command_waiting",
                         condition=Q(status="waiting")),
            # Concurrency count: queued + running of an account.
            models.Index(fields=["account"], name="command_holding_slot",
                         condition=Q(status__in=["queued", "running"])),
            # Reaper: running commands whose heartbeat is old.
            models.Index(fields=["heartbeat_at"], name="command_running_heartbeat",
                         condition=Q(status="running")),
            # Retention: finished commands by age.
            models.Index(fields=["finished_at"], name="command_finished"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.command_type} {self.status}"

    @property
    def is_terminal(self):
        return self.status in Status.TERMINAL

    @property
    def body(self):
        """What runs: the script of a shell command, the query of a SQL command."""
        return self.query if self.command_type == CommandType.SQL else self.script


class LogChunk(models.Model):
    """An ordered piece of a command's output, written by the worker while it runs.

    ``offset`` is the byte position in the interleaved log (both streams in arrival order);
    ``stream_offset`` the position within its own stream, for readers of one stream.
    """

    MAX_BYTES = 64 * 1024

    command = models.ForeignKey(Command, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.PositiveIntegerField()
    stream = models.CharField(max_length=6, choices=[("stdout", "stdout"), ("stderr", "stderr")])
    offset = models.BigIntegerField()
    stream_offset = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["command_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["command", "seq"], name="logchunk_command_seq"),
        ]
        indexes = [
            # Interleaved reads: WHERE command = ? AND offset > ? ORDER BY offset.
            models.Index(fields=["command", "offset"], name="logchunk_command_offset"),
            # One-stream reads: WHERE command = ? AND stream = ? AND stream_offset > ?.
            models.Index(fields=["command", "stream", "stream_offset"],
                         name="logchunk_command_stream"),
        ]

    def __str__(self):
        return f"#{self.command_id} {self.stream}@{self.offset}"
