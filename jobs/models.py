"""Commands and what they leave behind (log chunks, result chunks), and what SQL commands run
against (data sources, datasets, saved queries).

The :class:`Command` row is the single source of truth for a command's status, worker,
heartbeat, progress and cancellation; the task engine only carries "run command N". Every
status change goes through :mod:`jobs.lifecycle`.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Account
from jobs import targets
from jobs.schedules.model import Schedule  # noqa: F401  (its own module: this one is long)


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
    SCHEDULE = "schedule", "Schedule"


# The fields that define what a command runs: a re-run copies them, and two submissions with
# one submission_id are "the same command" when they agree on all of them (jobs.submission).
DEFINITION_FIELDS = ("command_type", "name", "label", "tags", "script", "query", "macros",
                     "resolved_macros", "runtime_env", "metadata", "timeout", "data_source",
                     "parameters", "saved_query", "saved_query_version")


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

    # No single-column FK indexes: the composite indexes in Meta start with these columns.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="commands",
                                db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="commands", db_index=False,
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

    # SQL commands: where they ran, with which values, and what came back (jobs.worker.sql).
    data_source = models.ForeignKey(
        "DataSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="commands",
        help_text="SQL: where it runs; the account's built-in source when none is named.")
    saved_query = models.ForeignKey(
        "SavedQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="commands")
    saved_query_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version of the saved query that ran.")
    parameters = models.JSONField(default=dict, blank=True,
                                  help_text="SQL: values bound to the :name placeholders.")
    result_columns = models.JSONField(null=True, blank=True,
                                      help_text='SQL: [{"name": ..., "type": ...}] of the result.')
    result_row_count = models.BigIntegerField(null=True, blank=True)
    result_truncated = models.BooleanField(
        default=False, help_text="The result hit MAX_RESULT_ROWS / MAX_RESULT_BYTES.")
    statements_done = models.PositiveIntegerField(null=True, blank=True)
    statements_total = models.PositiveIntegerField(null=True, blank=True)

    # Runs of a schedule (jobs.schedules): the slot it stands for and its number in the
    # schedule. Deleting a schedule keeps its runs, as history (docs/schedules.md).
    schedule = models.ForeignKey("jobs.Schedule", null=True, blank=True, db_index=False,
                                 on_delete=models.SET_NULL, related_name="runs")
    nominal_time = models.DateTimeField(null=True, blank=True,
                                        help_text="Schedule runs: the slot it stands for.")
    sequence_id = models.PositiveIntegerField(null=True, blank=True,
                                              help_text="Schedule runs: 1, 2, 3 … per schedule.")

    objects = CommandQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "submission_id"],
                                    name="command_submission_id_unique"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="command_progress_le_100"),
            # Exactly once per slot, whichever process ticks (jobs.schedules.scheduler). NULLs
            # are distinct, so commands of no schedule never collide.
            models.UniqueConstraint(fields=["schedule", "nominal_time"],
                                    name="command_schedule_slot"),
            models.UniqueConstraint(fields=["schedule", "sequence_id"],
                                    name="command_schedule_sequence"),
        ]
        indexes = [
            # History lists: WHERE account = ? ORDER BY id DESC (cursor pagination).
            models.Index(fields=["account", "-id"], name="command_account_id"),
            # created_after / created_before filters and the admin date hierarchy.
            models.Index(fields=["account", "created_at"], name="command_account_created"),
            models.Index(fields=["created_at"], name="command_created"),
            # Status filters: WHERE account = ? AND status = ? ORDER BY id DESC.
            models.Index(fields=["account", "status", "-id"], name="command_account_status"),
            # Admission (account + waiting, oldest first) and the slot count (account + queued
            # or running) are served by command_account_status. Partial indexes would be
            # smaller, but SQLite cannot use them with bound parameters, so one index serves
            # both databases.
            # Reaper: WHERE status = 'running' AND heartbeat_at < ?.
            models.Index(fields=["status", "heartbeat_at"], name="command_status_heartbeat"),
            # Admin and API lookups by submission id across accounts (Ray-style ids).
            models.Index(fields=["submission_id"], name="command_submission_id"),
            # A label's history and the admin label filter, newest first.
            models.Index(fields=["label", "-id"], name="command_label_id"),
            # A user's history, newest first (also the FK index for user).
            models.Index(fields=["user", "-id"], name="command_user_id"),
            # Retention: finished commands by age.
            models.Index(fields=["finished_at"], name="command_finished"),
            # A schedule's runs, newest first (?schedule=, its history, its active runs; also
            # the FK index for schedule).
            models.Index(fields=["schedule", "-id"], name="command_schedule_id"),
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

    def definition(self):
        """``{field: value}`` of :data:`DEFINITION_FIELDS`, related objects as objects."""
        return {name: getattr(self, name) for name in DEFINITION_FIELDS}

    def definition_key(self):
        """The definition with related objects as ids, for comparing two commands."""
        return tuple(getattr(self, self._meta.get_field(name).attname)
                     for name in DEFINITION_FIELDS)


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


# -------------------------------------------------------------------------------------------
# SQL: data sources, datasets, saved queries, stored results

SQL_IDENTIFIER = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
    "A SQL identifier: a letter or '_', then letters, digits or '_' (at most 63).",
)


class Engine(models.TextChoices):
    """Where a data source's SQL runs (see :mod:`jobs.executors.sql_engines`)."""

    SQLITE = "sqlite", "SQLite file"
    POSTGRESQL = "postgresql", "PostgreSQL"
    DUCKDB = "duckdb", "DuckDB file"


class DataSourceQuerySet(models.QuerySet):
    """Data sources, and the account's built-in one."""

    def default_for(self, account):
        """The account's built-in source, created on first use (a race creates it once)."""
        source = self.filter(account=account, is_default=True).first()
        if source is not None:
            return source
        try:
            with transaction.atomic():
                return self.create(account=account, name=DataSource.DEFAULT_NAME,
                                   engine=Engine.DUCKDB, is_default=True,
                                   description="DuckDB in memory over the account's datasets.")
        except IntegrityError:
            return self.get(account=account, is_default=True)


class DataSource(models.Model):
    """Where SQL commands run, always read-only: a SQLite file, a PostgreSQL database (DSN with
    the source's own credentials) or a DuckDB file.

    ``target`` (the path or DSN) is write-only: no API, page or admin shows it after saving.
    Each account has one built-in ``is_default`` source — DuckDB in memory with the account's
    datasets as tables — used when a command names none; it cannot be changed or deleted.
    """

    DEFAULT_NAME = "default"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="data_sources")
    name = models.CharField(max_length=100, validators=[SQL_IDENTIFIER])
    description = models.TextField(blank=True)
    engine = models.CharField(max_length=20, choices=Engine.choices)
    target = models.TextField(
        blank=True, help_text="SQLite/DuckDB: absolute file path on the workers. "
        "PostgreSQL: DSN. Empty only for the built-in source.")
    is_default = models.BooleanField(default=False, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataSourceQuerySet.as_manager()

    policy_owner_field = "created_by"

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [
            # Also the index of lists (WHERE account = ? ORDER BY name) and of lookups by name.
            models.UniqueConstraint(fields=["account", "name"], name="datasource_account_name"),
            # default_for(): WHERE account = ? AND is_default; and at most one per account.
            models.UniqueConstraint(fields=["account"], condition=Q(is_default=True),
                                    name="datasource_one_default"),
        ]

    def __str__(self):
        return f"{self.name} ({self.engine})"

    def target_problem(self):
        """Why this source's target may not be used, or None (rules: :mod:`jobs.targets`)."""
        if self.is_default:
            return None
        if not self.target:
            return "Required."
        if self.engine == Engine.POSTGRESQL:
            return targets.dsn_problem(self.target)
        if self.account_id is None:
            return "Needs its account first."
        return targets.file_target_problem(self.target, self.account)

    def clean(self):
        if not self.is_default and self.name == self.DEFAULT_NAME:
            raise ValidationError({"name": f"{self.DEFAULT_NAME!r} is the built-in source."})
        problem = self.target_problem()
        if problem:
            raise ValidationError({"target": problem})


class DatasetFormat(models.TextChoices):
    """File formats DuckDB reads a dataset from."""

    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


def dataset_upload_to(instance, filename):
    """Under the account's own directory, with a random name (the user's name is not trusted)."""
    return f"datasets/{instance.account_id}/{secrets.token_hex(12)}.{instance.format}"


class Dataset(models.Model):
    """An uploaded CSV or Parquet file, stored through Django's storage, that SQL commands of
    its account query by ``name`` as a table of the built-in DuckDB source.

    ``columns`` ([{name, type}]) and ``row_count`` are what DuckDB read at upload (see
    :mod:`jobs.datasets`), the same reader the queries use.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=63, validators=[SQL_IDENTIFIER])
    description = models.TextField(blank=True)
    file = models.FileField(upload_to=dataset_upload_to, max_length=255)
    format = models.CharField(max_length=10, choices=DatasetFormat.choices)
    columns = models.JSONField(default=list)
    row_count = models.BigIntegerField(default=0)
    size = models.BigIntegerField(default=0, help_text="Bytes of the stored file.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    policy_owner_field = "created_by"

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [
            # DuckDB folds unquoted names to one case, so "Sales" and "sales" would collide.
            models.UniqueConstraint(Lower("name"), F("account"), name="dataset_account_name"),
        ]
        indexes = [
            # Lists and the tables of a run: WHERE account = ? ORDER BY name.
            models.Index(fields=["account", "name"], name="dataset_account_list"),
        ]

    def __str__(self):
        return f"{self.name} ({self.format}, {self.row_count} rows)"


class SavedQuery(models.Model):
    """SQL with named, typed parameters, run by name (the toolkit's ``query_id``, Qubole's
    saved query). ``version`` goes up on every edit (:meth:`edit`); a command records the
    version it ran. ``data_source`` None means the account's built-in source (its datasets).

    ``parameters``: ``[{"name", "type": string|integer|number|boolean|date, "default"?,
    "required"?}]``, checked by :mod:`jobs.parameters`.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="saved_queries")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    sql = models.TextField()
    data_source = models.ForeignKey(DataSource, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="saved_queries")
    parameters = models.JSONField(default=list, blank=True)
    # The analytics toolkit saves a query against one dataset and shows that dataset_id on
    # every job of the query; nothing else records which dataset a query was written for (its
    # SQL reads the dataset by name from the built-in source). Empty for other queries.
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="saved_queries",
                                help_text="The dataset it was saved for (toolkit dataset_id).")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    policy_owner_field = "created_by"

    class Meta:
        ordering = ["account_id", "name"]
        verbose_name_plural = "saved queries"
        constraints = [
            # Also the index of lists: WHERE account = ? ORDER BY name.
            models.UniqueConstraint(fields=["account", "name"], name="savedquery_account_name"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"

    def edit(self, user, **changes):
        """Apply ``changes`` and bump ``version`` in one UPDATE, so two concurrent edits get two
        versions instead of one overwriting the other's bump."""
        SavedQuery.objects.filter(pk=self.pk).update(
            version=F("version") + 1, updated_by=user, updated_at=timezone.now(), **changes)
        self.refresh_from_db()
        return self


class ResultChunk(models.Model):
    """Rows ``[row_start, row_start + row_count)`` of a SQL command's result, in order.

    The worker writes one chunk per batch, so its memory holds one batch whatever the result
    size; readers fetch only the chunks that overlap the page (:mod:`jobs.results`).
    """

    command = models.ForeignKey(Command, on_delete=models.CASCADE, related_name="result_chunks")
    seq = models.PositiveIntegerField()
    row_start = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    rows = models.JSONField(help_text="A list of rows, each a list of JSON values.")

    class Meta:
        ordering = ["command_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["command", "seq"], name="resultchunk_command_seq"),
        ]
        indexes = [
            # Pages: WHERE command = ? AND row_start BETWEEN <start of the chunk holding a> AND b
            # ORDER BY row_start; also MAX(row_start) WHERE command = ? AND row_start <= a.
            models.Index(fields=["command", "row_start"], name="resultchunk_command_row"),
        ]

    def __str__(self):
        return f"#{self.command_id} rows {self.row_start}+{self.row_count}"


def package_upload_to(instance, filename):
    """Under the account's own directory, named by the content's hash (not the client's name)."""
    return f"packages/{instance.account_id}/{instance.sha256}.zip"


class Package(models.Model):
    """A zipped working directory a client uploaded for its commands (Ray's
    ``runtime_env.working_dir``: ``gcs://_ray_pkg_<hash>.zip``), stored once per account and
    ``uri`` through Django's storage, checked when uploaded (:mod:`jobs.packages`) and
    unpacked by the worker into the command's working directory. ``last_used_at`` moves with
    every submission that names it; ``prune`` removes packages unused past the retention."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="packages",
                                db_index=False)
    uri = models.CharField(max_length=200, help_text="How commands name it, e.g. "
                           "gcs://_ray_pkg_<hash>.zip (the hash is the client's).")
    sha256 = models.CharField(max_length=64, help_text="Of the stored archive.")
    size = models.BigIntegerField(help_text="Bytes of the archive.")
    unpacked_size = models.BigIntegerField(help_text="Bytes of its files, unpacked.")
    file_count = models.PositiveIntegerField()
    file = models.FileField(upload_to=package_upload_to, max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Also the index of lookups by name (upload checks, submissions, the worker).
            models.UniqueConstraint(fields=["account", "uri"], name="package_account_uri"),
        ]
        indexes = [
            # Retention: WHERE account = ? AND last_used_at < ?.
            models.Index(fields=["account", "last_used_at"], name="package_account_used"),
        ]

    def __str__(self):
        return f"{self.uri} ({self.file_count} files)"
