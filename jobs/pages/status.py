"""The status page of one command: live status, progress, log tail, results, Cancel/Re-run.

Reads go through :func:`jobs.reads.visible_command` (one query; 404 for what the member may
not see), the log through :mod:`jobs.logs` (the tail, earlier parts on demand), results through
:mod:`jobs.results`. Live updates come from the API's own event stream
(``/api/v1/commands/<id>/events/``, which accepts the session), read by ``status.js``.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import audit, policy
from accounts.pages import member_view, refused
from jobs import lifecycle, reads, results, submission
from jobs.api.representation import command_detail
from jobs.logs import window_before
from jobs.models import CommandType, DataSource, Status
from jobs.reads import parse_pk

LOG_TAIL_BYTES = 64 * 1024
RESULT_PAGE_ROWS = 50


def _command_or_404(member, pk):
    command = reads.visible_command(member, pk)
    if command is None:
        raise Http404("No such command.")
    return command


def _summary_context(member, command):
    """What the live part of the page shows (re-rendered on every status change)."""
    # Where a waiting command stands and what holds it, exactly as the API's detail says.
    detail = command_detail(command, member)
    context = {
        "command": command,
        "queue_position": detail["queue_position"],
        "held_by": detail["held_by"],
        "may_cancel": not command.is_terminal and policy.can(member, "cancel", "commands",
                                                             obj=command),
        "may_rerun": policy.can(member, "rerun", "commands", obj=command)
        and policy.can(member, "submit", "commands", command_type=command.command_type),
        "results": None,
    }
    if command.status == Status.DONE and command.command_type == CommandType.SQL:
        context["results"] = results.sql_page(command, 0, RESULT_PAGE_ROWS - 1)
    return context


@member_view
def command_page(request, pk):
    """Everything about one command, with a log tail that starts at the end."""
    member = request.member
    command = _command_or_404(member, pk)
    tail = window_before(command.pk, command.log_size, LOG_TAIL_BYTES)
    context = _summary_context(member, command)
    context.update(
        runtime_env=policy.visible_runtime_env(member, command),
        metadata=policy.visible_metadata(member, command),
        log_text=tail.data.decode("utf-8", errors="replace"),
        log_start=tail.offset,
        terminal_statuses=list(Status.TERMINAL),
        data_source_name=(DataSource.objects.filter(pk=command.data_source_id)
                          .values_list("name", flat=True).first()
                          if command.data_source_id else None),
    )
    return render(request, "jobs/command.html", context)


@member_view
def summary(request, pk):
    """The live part of the status page, for htmx to swap in when the status changes."""
    command = _command_or_404(request.member, pk)
    return render(request, "jobs/_command_summary.html",
                  _summary_context(request.member, command))


@member_view
def log_before(request, pk):
    """The part of the log before byte ``before`` (for "Load earlier output")."""
    command = _command_or_404(request.member, pk)
    end = parse_pk(request.GET.get("before", ""))
    if end is None or end > command.log_size:
        end = command.log_size
    part = window_before(command.pk, end, LOG_TAIL_BYTES)
    return render(request, "jobs/_log_part.html", {
        "command": command, "text": part.data.decode("utf-8", errors="replace"),
        "log_start": part.offset})


@member_view
def result_rows(request, pk):
    """A page of a finished SQL command's rows, by cursor (the API's cursors)."""
    command = _command_or_404(request.member, pk)
    try:
        results.require_done(command)
        first = results.decode_cursor(request.GET["cursor"]) if request.GET.get("cursor") else 0
    except (results.NoResult, results.BadCursor) as exc:
        return render(request, "jobs/_results.html", {"command": command, "problem": str(exc)},
                      status=409 if isinstance(exc, results.NoResult) else 400)
    if command.command_type != CommandType.SQL:
        raise Http404("A shell command's result is its output.")
    page = results.sql_page(command, first, first + RESULT_PAGE_ROWS - 1)
    template = "jobs/_results.html" if request.htmx else "jobs/results.html"
    return render(request, template, {"command": command, "results": page})


@require_POST
@member_view
def cancel(request, pk):
    """Cancel through the lifecycle, where the role allows (checked here, whatever the page
    showed)."""
    member = request.member
    command = _command_or_404(member, pk)
    if not policy.can(member, "cancel", "commands", obj=command):
        return refused(request, "Your role may not cancel this command.")
    try:
        lifecycle.cancel(command)
    except lifecycle.IllegalTransition as exc:
        messages.error(request, str(exc))
    else:
        audit.record("commands.cancel", member=member, obj=command, request=request)
        messages.success(request, f"Cancel requested for command {command.pk}.")
    return redirect("pages:command", pk=command.pk)


@require_POST
@member_view
def rerun(request, pk):
    """Submit the same definition again (:func:`jobs.submission.rerun` re-checks every right)."""
    member = request.member
    command = _command_or_404(member, pk)
    if not policy.can(member, "rerun", "commands", obj=command):
        return refused(request, "Your role may not re-run this command.")
    try:
        new, _ = submission.rerun(member, command, request=request, via="pages")
    except submission.NotAllowed as exc:
        return refused(request, exc.message)
    except submission.SubmissionError as exc:
        messages.error(request, exc.message)
        return redirect("pages:command", pk=command.pk)
    messages.success(request, f"Command {new.pk} re-runs command {command.pk}.")
    return redirect(reverse("pages:command", kwargs={"pk": new.pk}))
