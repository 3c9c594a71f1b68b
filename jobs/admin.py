"""Operator admin: the job history of every account, built to stay fast at millions of rows.

What keeps it fast: no full-table COUNT (an estimate or a capped count, see
:class:`EstimatedCountPaginator`), no facet counts, searches that hit indexes (only a name
search scans), a label filter fed by recent rows instead of ``SELECT DISTINCT`` over the
table, and a date hierarchy that probes the ``created_at`` index instead of scanning it.
Commands are never edited here: the detail page is read-only and the two actions, cancel and
re-run, go through :mod:`jobs.lifecycle` like every other surface.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator, smart_split

from accounts import audit
from accounts.models import Membership
from jobs import admin_command, lifecycle, submission
from jobs.admin_search import (
    ErrorTypeFilter,
    LabelFilter,
    StateFilter,
    SubmitterFilter,
    _unquote,
    search_q,
)
from jobs.models import Command, CommandQuerySet, Status

admin.site.site_header = "Jobportal administration"
admin.site.site_title = "Jobportal admin"
admin.site.index_title = "Operations"
# The job history needs the width: the app list stays one click away (Home).
admin.site.enable_nav_sidebar = False

MAX_ACTION_ROWS = 1000  # per action run: a "select all" over millions must not run for hours


class EstimatedCountPaginator(Paginator):
    """A paginator whose ``count`` never scans a large table.

    Unfiltered lists on PostgreSQL use the planner's row estimate (``pg_class.reltuples``,
    kept fresh by autovacuum) once it is above ``COUNT_CAP``; everything else counts at most
    ``COUNT_CAP`` rows, so a filtered list pages through its first ``COUNT_CAP`` matches.
    """

    COUNT_CAP = 10_000

    @cached_property
    def count(self):
        estimate = self._estimate()
        if estimate is not None and estimate > self.COUNT_CAP:
            return estimate
        # COUNT over a LIMITed subquery: the cost is bounded by the cap, not by the table.
        return min(self.object_list.order_by()[: self.COUNT_CAP + 1].count(), self.COUNT_CAP)

    def _estimate(self):
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        # -1 means never analysed; then the capped count is the honest answer.
        return int(row[0]) if row and row[0] > 0 else None


def _truncate(moment, kind):
    moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind in ("year", "month"):
        moment = moment.replace(day=1)
    if kind == "year":
        moment = moment.replace(month=1)
    return moment


def _next_bucket(start, kind):
    if kind == "year":
        return start.replace(year=start.year + 1)
    if kind == "month":
        year, month = divmod(start.month, 12)
        return start.replace(year=start.year + year, month=month + 1)
    return start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight


class AdminCommandQuerySet(CommandQuerySet):
    """The admin's queryset: its ``datetimes`` serves the date hierarchy without a scan."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        """The non-empty year/month/day buckets, found by a loose index scan.

        Django's version is ``SELECT DISTINCT date_trunc(...)`` over every matching row. Here
        one MIN/MAX bounds the range (and ends at once when nothing matches); then each bucket
        costs one ``ORDER BY created_at LIMIT 1`` probe from the end of the previous bucket,
        so the cost is the number of buckets shown (at most 31), not the number of rows.
        """
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)
        tz = tzinfo or timezone.get_current_timezone()
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        probe = self.filter(**{f"{field_name}__lte": bounds["last"]}).order_by(
            field_name).values_list(field_name, flat=True)
        buckets, first = [], bounds["first"]
        while first is not None:
            start = _truncate(first.astimezone(tz), kind)
            buckets.append(start)
            cursor = _next_bucket(start, kind)
            first = probe.filter(**{f"{field_name}__gte": cursor}).first()
        return buckets if order == "ASC" else buckets[::-1]


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "type", "status_display", "outcome",
                    "progress_display", "created", "duration", "submitter", "account", "worker"]
    list_display_links = ["id", "title"]
    list_filter = [StateFilter, "status", "command_type", ErrorTypeFilter, SubmitterFilter,
                   "account", LabelFilter]
    list_select_related = ["account", "user"]
    # Sorting by a joined or unindexed column would sort millions of rows per page view.
    sortable_by = ["id", "created_at"]
    search_fields = ["=id", "=submission_id", "name", "=label", "=user__email"]
    search_help_text = ("Id (123), submission id (sub:ID), user email, label:NAME, "
                        "name:TEXT; other words match submission id, label or name.")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    paginator = EstimatedCountPaginator
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facets are one COUNT per choice
    actions = ["cancel_commands", "rerun_commands"]
    # The page: an overview, the definition once, the log viewer and a result preview
    # (jobs/admin_command.py). Fields that the overview shows are not repeated below it.
    fieldsets = [
        (None, {"fields": ["status_display", "outcome_detail", "times", "worker_detail"]}),
        ("Definition", {"fields": ["name", "account", "user", "command_type", "label", "tags",
                                   "source", "submission_id", "rerun_of", "schedule",
                                   "nominal_time", "sequence_id", "body",
                                   "data_source", "saved_query", "parameters", "macros",
                                   "resolved_macros", "runtime_env", "metadata", "timeout"]}),
        ("Log", {"fields": ["log_viewer"]}),
        ("Result", {"fields": ["result_preview"]}),
    ]
    SHOWN_BY_THE_OVERVIEW = {
        "id", "script", "query", "status", "throttled", "progress", "steps_ready",
        "steps_total", "exit_code", "error_type", "error_message", "created_at", "queued_at",
        "started_at", "finished_at", "updated_at", "heartbeat_at", "cancel_requested_at",
        "worker_id", "node_id", "hostname", "ip_address", "pid", "attempt", "log_size",
        "log_truncated", "result_columns", "result_row_count", "result_truncated",
        "statements_done", "statements_total", "saved_query_version"}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return AdminCommandQuerySet(model=queryset.model, query=queryset.query,
                                    using=queryset._db)

    def get_search_results(self, request, queryset, search_term):
        """Each term (quotes keep spaces) is one :func:`search_q` condition; all must hold."""
        for bit in smart_split(search_term):
            bit = _unquote(bit)
            if bit:
                queryset = queryset.filter(search_q(bit))
        return queryset, False

    def get_fieldsets(self, request, obj=None):
        # Fields added to Command later show up too (read-only) instead of staying hidden.
        listed = set(flatten_fieldsets(self.fieldsets)) | self.SHOWN_BY_THE_OVERVIEW
        others = [field.name for field in Command._meta.concrete_fields
                  if field.name not in listed]
        return self.fieldsets + ([("More", {"fields": others})] if others else [])

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def has_add_permission(self, request):
        return False  # commands are submitted through the API or the pages, never typed in

    def has_change_permission(self, request, obj=None):
        # Change rights only unlock the actions (checked with obj=None). An object's page is
        # always view-only: saving a form would write back every field read moments ago and
        # undo whatever the worker recorded in between.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # rows go by retention (manage.py prune), which never touches active ones

    class Media:
        css = {"all": ["jobs/admin.css"]}
        js = ["jobs/admin-log.js"]

    def get_urls(self):
        return admin_command.CommandPageViews(self).urls() + super().get_urls()

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context["jp_may_act"] = super().has_change_permission(request)
        context["jp_cancellable"] = obj is not None and obj.status in Status.ACTIVE
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    @admin.display(description="outcome")
    def outcome_detail(self, obj):
        parts = [self.outcome(obj)]
        if obj.error_message:
            return format_html("{}<pre>{}</pre>", parts[0], obj.error_message)
        return parts[0]

    @admin.display(description="times")
    def times(self, obj):
        return admin_command.times_table(obj)

    @admin.display(description="worker")
    def worker_detail(self, obj):
        if not obj.worker_id:
            return "-"
        parts = [obj.hostname or "?", obj.ip_address and f"({obj.ip_address})",
                 obj.pid and f"pid {obj.pid}", obj.node_id and f"node {obj.node_id}",
                 f"worker {obj.worker_id}", f"attempt {obj.attempt}"]
        return " ".join(part for part in parts if part)

    @admin.display(description="log")
    def log_viewer(self, obj):
        return admin_command.log_viewer(obj)

    @admin.display(description="result")
    def result_preview(self, obj):
        return admin_command.result_preview(obj)

    @admin.display(description="type", ordering="command_type")
    def type(self, obj):
        return obj.command_type

    @admin.display(description="name")
    def title(self, obj):
        """The name, else the start of the script or query (long lines do not widen the
        table: the column wraps and is cut at 60 characters)."""
        if obj.name:
            return obj.name
        return format_html('<code class="jp-excerpt">{}</code>',
                           Truncator(" ".join(obj.body.split())).chars(60))

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        text = obj.status  # the API's word
        if obj.status == Status.RUNNING and obj.cancel_requested_at:
            text = "running, cancel requested"
        elif obj.status == Status.WAITING and obj.throttled:
            text = "waiting (throttled)"
        return format_html('<span class="jp-status jp-status-{}">{}</span>', obj.status, text)

    @admin.display(description="outcome")
    def outcome(self, obj):
        """Error type and exit code of a finished command."""
        parts = [obj.error_type] if obj.error_type else []
        if obj.exit_code is not None:
            parts.append(f"exit {obj.exit_code}")
        return " · ".join(parts) or "-"

    @admin.display(description="progress")
    def progress_display(self, obj):
        text = (f"{obj.steps_ready or 0}/{obj.steps_total}" if obj.steps_total
                else f"{obj.progress}%")
        return format_html('<progress class="jp-progress" max="100" value="{}" '
                           'aria-label="progress {}"></progress> {}', obj.progress, text, text)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        """To the second; this year's without the year (the whole moment on hover)."""
        local = timezone.localtime(obj.created_at)
        short = "%m-%d %H:%M:%S" if local.year == timezone.localtime().year else "%Y-%m-%d %H:%M"
        return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(),
                           local.strftime("%Y-%m-%d %H:%M:%S"), local.strftime(short))

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.started_at is None:
            return "-"
        seconds = int(((obj.finished_at or timezone.now()) - obj.started_at).total_seconds())
        hours, rest = divmod(max(seconds, 0), 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"

    @admin.display(description="user")
    def submitter(self, obj):
        """The email, free to wrap before its ``@`` so the columns fit 1,400 px."""
        if obj.user is None:
            return "-"
        local, at, domain = obj.user.email.partition("@")
        return format_html("{}<wbr>{}{}", local, at, domain)

    @admin.display(description="worker")
    def worker(self, obj):
        return f"{obj.hostname} ({obj.pid})" if obj.hostname and obj.pid else obj.hostname

    @admin.display(description="script / query")
    def body(self, obj):
        return format_html("<pre>{}</pre>", obj.body)

    def _acted_on(self, request, queryset):
        """The selected commands, at most MAX_ACTION_ROWS of them (oldest first)."""
        commands = list(queryset.order_by("id")[: MAX_ACTION_ROWS + 1])
        if len(commands) > MAX_ACTION_ROWS:
            self.message_user(
                request, f"Only the first {MAX_ACTION_ROWS} selected commands were handled; "
                "run the action again for the rest.", messages.WARNING)
        return commands[:MAX_ACTION_ROWS]

    @admin.action(description="Cancel selected commands", permissions=["change"])
    def cancel_commands(self, request, queryset):
        """Cancel through the lifecycle: waiting/queued end at once, running are asked to stop,
        finished ones are reported as not cancellable."""
        ended, stopping, finished = 0, 0, []
        for command in self._acted_on(request, queryset):
            account = command.account
            try:
                command = lifecycle.cancel(command)
            except lifecycle.IllegalTransition:
                finished.append(command.pk)
                continue
            if command.status == Status.CANCELLED:
                ended += 1
            else:
                stopping += 1
            audit.record("commands.cancel", actor=request.user, account=account, obj=command,
                         request=request, via="admin")
        if ended or stopping or not finished:
            self.message_user(
                request, f"Cancelled {ended} command(s); asked the workers of {stopping} "
                "running command(s) to stop them.", messages.SUCCESS)
        if finished:
            self.message_user(
                request, f"{len(finished)} command(s) already finished, not cancellable: "
                + _id_list(finished), messages.WARNING)

    @admin.action(description="Re-run selected commands", permissions=["change"])
    def rerun_commands(self, request, queryset):
        """Submit each selected command's definition again on behalf of its submitter (the
        operator may not be a member there), with every right the original needed checked
        again against the submitter's current membership."""
        new_ids, refused = [], []
        for original in self._acted_on(request, queryset):
            member = Membership.objects.select_related("account", "user").filter(
                account_id=original.account_id, user_id=original.user_id, is_active=True,
                user__is_active=True, account__is_active=True).first()
            if member is None:
                refused.append(f"#{original.pk}: its submitter is no longer an active member")
                continue
            try:
                command, _ = submission.rerun(member, original, request=request,
                                              actor=request.user, via="admin")
            except submission.SubmissionError as exc:
                refused.append(f"#{original.pk}: {exc.message}")
                continue
            new_ids.append(command.pk)
        if new_ids or not refused:
            self.message_user(request, f"Re-ran {len(new_ids)} command(s) as new commands "
                              + _id_list(new_ids), messages.SUCCESS)
        if refused:
            self.message_user(request, "Not re-run: " + "; ".join(refused) + ".",
                              messages.WARNING)


def _id_list(ids, shown=20):
    text = ", ".join(f"#{pk}" for pk in ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "") + "."


from jobs import admin_data, admin_schedule  # noqa: E402,F401
