"""The command page of the admin: a compact overview and its own small views.

The page is read-only (see :class:`jobs.admin.CommandAdmin`); what it shows is built here:
status and times to the second with durations, the outcome, the worker, the log viewer (the
end of the log, earlier parts on demand, new output while the command runs, the whole log as
a download) and a result preview with download links. Cancel and Re-run buttons post to the
same code as the list's actions, so they go through :mod:`jobs.lifecycle` and
:mod:`jobs.submission` and are audited alike. Operators are staff, not members: these views
read commands directly, behind the admin's own permission checks.
"""

from django.core.exceptions import PermissionDenied
from django.db.models.functions import Length
from django.http import HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from jobs import results
from jobs.api.results import download_response
from jobs.logs import read_log, window_before
from jobs.models import Command, CommandType, LogChunk, Status

LOG_PART_BYTES = 64 * 1024
PREVIEW_ROWS = 20
FULL_LOG_PIECE = 1024 * 1024


def seconds(start, end):
    """``h:mm:ss`` from ``start`` to ``end`` (or now), or ``-``."""
    if start is None:
        return "-"
    total = max(0, int(((end or timezone.now()) - start).total_seconds()))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def moment(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def times_table(command):
    """Every moment of the command to the second, with how long it waited and ran."""
    rows = [("created", moment(command.created_at), ""),
            ("queued", moment(command.queued_at),
             f"waited {seconds(command.created_at, command.queued_at)}"
             if command.queued_at else ""),
            ("started", moment(command.started_at),
             f"queued for {seconds(command.queued_at or command.created_at, command.started_at)}"
             if command.started_at else ""),
            ("finished", moment(command.finished_at),
             f"ran {seconds(command.started_at, command.finished_at)}"
             if command.started_at else ""),
            ("last heartbeat", moment(command.heartbeat_at), ""),
            ("cancel requested", moment(command.cancel_requested_at), "")]
    return format_html('<table class="jp-times">{}</table>', format_html_join(
        "", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
        [row for row in rows if row[1] != "-" or row[0] in ("created", "finished")]))


def log_viewer(command):
    """The end of the log, a button for earlier parts and, while it runs, new output."""
    base = reverse("admin:jobs_command_log", args=[command.pk])
    # log_size lags behind a running command by up to a heartbeat; the last chunk's end is
    # the real size.
    last = (LogChunk.objects.filter(command_id=command.pk).order_by("-offset")
            .values_list("offset", Length("data")).first())
    end = max(command.log_size, sum(last) if last else 0)
    if not end:
        return "(no output yet)" if command.status in Status.ACTIVE else "(no output)"
    shown = window_before(command.pk, end, LOG_PART_BYTES)
    note = (f"last {end - shown.offset} of {end} bytes" if shown.offset else f"{end} bytes")
    if command.log_truncated:
        note += "; output past the size limit was dropped"
    return format_html(
        '<div class="jp-log" data-url="{}" data-start="{}" data-end="{}" data-active="{}">'
        '<p>{}. <a href="{}?whole=1">Whole log</a> '
        '<button type="button" class="button jp-earlier"{}>Load earlier output</button></p>'
        '<pre role="log" aria-live="polite">{}</pre></div>',
        base, shown.offset, end, "1" if command.status in Status.ACTIVE else "0", note, base,
        "" if shown.offset else " hidden", shown.data.decode("utf-8", errors="replace"))


def result_preview(command):
    """The first rows of a finished SQL command's result and its downloads; a shell
    command's stdout as a file."""
    base = reverse("admin:jobs_command_download", args=[command.pk])
    if command.status != Status.DONE:
        return "-"
    if command.command_type == CommandType.SHELL:
        return format_html('<a href="{}?format=txt">Download stdout</a>', base)
    page = results.sql_page(command, 0, PREVIEW_ROWS - 1)
    names = [column["name"] for column in page["columns"]]
    head = format_html_join("", "<th>{}</th>", ((name,) for name in names))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td>{}</td>", ((value,) for value in row)),)
        for row in page["rows"]))
    links = format_html_join(" · ", '<a href="{}?format={}">{}</a>', (
        (base, fmt, fmt.upper()) for fmt in ("csv", "json", "ndjson")))
    return format_html(
        '<p>{} of {} rows{}. Download: {}</p><table class="jp-preview"><thead><tr>{}</tr>'
        "</thead><tbody>{}</tbody></table>", len(page["rows"]), page["row_count"],
        " (result cut at the size limit)" if page["truncated"] else "", links, head, body)


class CommandPageViews:
    """The admin URLs of one command: ``log/``, ``download/``, ``cancel/``, ``rerun/``."""

    def __init__(self, model_admin):
        self.admin = model_admin

    def urls(self):
        wrap = self.admin.admin_site.admin_view
        return [
            path("<int:pk>/log/", wrap(self.log), name="jobs_command_log"),
            path("<int:pk>/download/", wrap(self.download), name="jobs_command_download"),
            path("<int:pk>/cancel/", wrap(self.cancel), name="jobs_command_cancel"),
            path("<int:pk>/rerun/", wrap(self.rerun), name="jobs_command_rerun"),
        ]

    def command(self, request, pk, change=False):
        allowed = (self.admin.has_change_permission(request) if change
                   else self.admin.has_view_permission(request))
        if not allowed:
            raise PermissionDenied
        return get_object_or_404(Command, pk=pk)

    def log(self, request, pk):
        """A part of the log as text: ``?before=N`` (the part ending at byte N),
        ``?after=N`` (new output from byte N), or ``?whole=1`` (the whole log)."""
        command = self.command(request, pk)
        if request.GET.get("whole"):
            response = StreamingHttpResponse(self._whole(command.pk),
                                             content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="command-{pk}.log"'
            return response
        if "before" in request.GET:
            page = window_before(command.pk, _offset(request.GET["before"]), LOG_PART_BYTES)
        else:
            page = read_log(command.pk, _offset(request.GET.get("after")), LOG_PART_BYTES)
        response = HttpResponse(page.data, content_type="text/plain; charset=utf-8")
        response["X-Log-Start"], response["X-Log-Next"] = page.offset, page.next_offset
        response["X-Log-Active"] = "1" if command.status in Status.ACTIVE else "0"
        return response

    @staticmethod
    def _whole(command_id):
        offset = 0
        while True:
            page = read_log(command_id, offset, FULL_LOG_PIECE)
            if not page.data:
                return
            yield page.data
            offset = page.next_offset

    def download(self, request, pk):
        command = self.command(request, pk)
        fmt = request.GET.get("format", "csv")
        if command.status != Status.DONE or fmt not in ("csv", "json", "ndjson", "txt"):
            return HttpResponse("No such download.", status=404, content_type="text/plain")
        return download_response(command, "csv" if fmt == "txt" else fmt)

    def cancel(self, request, pk):
        return self._act(request, pk, self.admin.cancel_commands)

    def rerun(self, request, pk):
        return self._act(request, pk, self.admin.rerun_commands)

    def _act(self, request, pk, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.command(request, pk, change=True)
        action(request, Command.objects.filter(pk=pk))
        return redirect("admin:jobs_command_change", pk)


def _offset(value):
    try:
        return max(0, min(int(value or 0), 2**62))
    except ValueError:
        return 0
