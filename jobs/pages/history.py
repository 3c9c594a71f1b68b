"""The command history: the API list's queryset, filters and cursor pages, as HTML.

The same indexed queries as ``GET /api/v1/commands/`` (:class:`jobs.api.filters.CommandFilter`
over :func:`jobs.reads.listed` of the policy's rows, ``-id`` cursor pages): no ``COUNT(*)``.
"""

from urllib.parse import urlsplit

from django import forms
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.request import Request

from accounts import policy
from accounts.pages import member_view
from jobs import reads
from jobs.api.filters import CommandFilter
from jobs.api.views import CommandPagination
from jobs.models import Command, Status

SHOWN_FILTERS = ("search", "status", "command_type", "label", "user", "created_after",
                 "created_before")


class HistoryPagination(CommandPagination):
    page_size = 25


def filter_form(filterset):
    """The FilterSet's own form, with widgets for people (checkboxes, date pickers)."""
    form = filterset.form
    form.label_suffix = ""
    fields = form.fields
    fields["status"].widget = forms.CheckboxSelectMultiple(choices=fields["status"].choices)
    fields["command_type"].widget = forms.CheckboxSelectMultiple(
        choices=fields["command_type"].choices)
    fields["search"].widget = forms.TextInput(attrs={"type": "search",
                                                     "placeholder": "name or submission id"})
    fields["user"].widget = forms.TextInput(attrs={"type": "email",
                                                   "placeholder": "someone@example.com"})
    for name in ("created_after", "created_before"):
        fields[name].widget = forms.DateInput(attrs={"type": "date"})
    fields["created_after"].label, fields["created_before"].label = "From", "Before"
    fields["user"].label, fields["command_type"].label = "Submitter", "Type"
    fields["search"].label = "Search"
    return form


def _relative(url):
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@member_view
def history(request):
    """The account's commands the member may see, newest first, filtered by the query string."""
    member = request.member
    queryset = reads.listed(Command.objects.visible_to(member))
    filterset = CommandFilter(request.GET, queryset=queryset)
    form = filter_form(filterset)
    paginator, rows, problem = HistoryPagination(), [], None
    if filterset.is_valid():
        try:
            rows = paginator.paginate_queryset(filterset.qs, Request(request))
        except exceptions.ValidationError as exc:
            problem = "; ".join(str(m) for m in exc.detail.get("cursor", [exc.detail]))
    context = {
        "form": form,
        "shown_filters": [form[name] for name in SHOWN_FILTERS],
        "commands": rows,
        "problem": problem,
        "next_url": _relative(paginator.get_next_link()) if rows else None,
        "previous_url": _relative(paginator.get_previous_link()) if rows else None,
        "first_page": "cursor" not in request.GET,
        "any_active": any(c.status in Status.ACTIVE for c in rows),
        "may_submit": policy.can(member, "submit", "commands"),
    }
    status = 400 if (form.errors or problem) else 200
    fragment = request.htmx and not request.htmx.history_restore_request
    template = "jobs/_history_table.html" if fragment else "jobs/history.html"
    return render(request, template, context, status=status)
