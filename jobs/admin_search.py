"""The admin job history's search and filters: each one an index lookup or a bounded read,
never a scan of the whole table per page view (see docs/operations.md)."""

from django.contrib import admin
from django.db.models import Q
from django.utils.text import unescape_string_literal

from accounts.models import User
from jobs.models import Command, Status

MAX_PK = 2**63 - 1


def _unquote(text):
    if len(text) > 1 and text[0] in "\"'" and text[0] == text[-1]:
        return unescape_string_literal(text)
    return text


def search_q(term):
    """The condition for one search term (terms are ANDed). See docs/operations.md.

    ``123`` / ``#123`` / ``id:123`` the id; ``sub:X`` the submission id; ``a@b`` or
    ``user:a@b`` the submitter's email; ``label:X`` the label; ``name:X`` a name substring
    (``name:"two words"``). Anything else: submission id or label exactly, or name containing
    it. Only the name match is a ``LIKE '%…%'``; the rest are equality lookups an index can
    serve.
    """
    key, sep, value = term.partition(":")
    key, value = key.lower(), _unquote(value)
    if sep and value and key in ("id", "sub", "submission", "user", "label", "name"):
        if key == "id":
            return _id_q(value)
        if key == "user":
            return _user_q(value)
        if key == "label":
            return Q(label=value)
        if key == "name":
            return Q(name__icontains=value)
        return Q(submission_id=value)
    if term.lstrip("#").isascii() and term.lstrip("#").isdigit():
        return _id_q(term)
    if "@" in term:
        return _user_q(term)
    return Q(submission_id=term) | Q(label=term) | Q(name__icontains=term)


def _user_q(email):
    """Commands of the user with this email (stored lowercased, so an exact match).

    The user's id is looked up first: ``user_id = 42`` lets the planner use the column's
    statistics and index, where a join on email leaves it guessing and it may walk the whole
    ``created_at`` or primary-key index looking for a match.
    """
    ids = list(User.objects.filter(email=email.lower()).values_list("pk", flat=True))
    return Q(user_id__in=ids)


def _id_q(value):
    value = value.lstrip("#")
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_PK:
        return Q(pk__in=[])
    return Q(pk=int(value))


class LabelFilter(admin.SimpleListFilter):
    """Filter by label (worker queue), offering the labels of the most recent commands.

    ``SELECT DISTINCT label`` would read the whole table; queue names are few and reused, so
    the newest ``RECENT`` rows (a backward walk of the primary key) find them. Any label can
    still be filtered with ``?label=NAME`` or searched with ``label:NAME``.
    """

    title = "label"
    parameter_name = "label"
    RECENT = 1000

    def lookups(self, request, model_admin):
        labels = set(
            Command.objects.order_by("-id").values_list("label", flat=True)[: self.RECENT]
        )
        if self.value():
            labels.add(self.value())
        return [(label, label) for label in sorted(labels)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(label=self.value())
        return queryset


class RecentValuesFilter(admin.SimpleListFilter):
    """Offers the values of ``field`` found in the newest ``RECENT`` matching rows (a backward
    walk of the primary key) instead of ``SELECT DISTINCT`` over the table."""

    RECENT = 1000
    field = None
    rows = Command.objects.all()

    def lookups(self, request, model_admin):
        values = set(self.rows.order_by("-id").values_list(self.field, flat=True)[:self.RECENT])
        values.discard("")
        values.discard(None)
        if self.value():
            values.add(self.value())
        return [(value, value) for value in sorted(values)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field: self.value()})
        return queryset


class ErrorTypeFilter(RecentValuesFilter):
    title = "error type"
    parameter_name = field = "error_type"
    rows = Command.objects.filter(status=Status.ERROR)


class SubmitterFilter(RecentValuesFilter):
    """By submitter email; the emails come from the newest commands' users."""

    title = "submitter"
    parameter_name = "user"
    field = "user__email"

    def lookups(self, request, model_admin):
        ids = set(Command.objects.order_by("-id").values_list("user_id", flat=True)
                  [:self.RECENT])
        emails = set(User.objects.filter(pk__in=ids - {None}).values_list("email", flat=True))
        if self.value():
            emails.add(self.value())
        return [(email, email) for email in sorted(emails)]

    def queryset(self, request, queryset):
        return queryset.filter(_user_q(self.value())) if self.value() else queryset


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active (waiting, queued, running)"),
                ("finished", "Finished (done, error, cancelled)")]

    def queryset(self, request, queryset):
        groups = {"active": Status.ACTIVE, "finished": Status.TERMINAL}
        if self.value() in groups:
            return queryset.filter(status__in=groups[self.value()])
        return queryset
