"""Filters of the command history (each one served by an index on Command)."""

import django_filters
from django.db.models import Q

from jobportal.limits import MAX_BIGINT
from jobs.models import Command, CommandType, Status


class CommandFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    active = django_filters.BooleanFilter(method="filter_active",
                                          label="Only active (true) or finished (false).")
    command_type = django_filters.MultipleChoiceFilter(choices=CommandType.choices)
    label = django_filters.CharFilter()
    user = django_filters.CharFilter(field_name="user__email", lookup_expr="iexact")
    tag = django_filters.CharFilter(method="filter_tag", label="Has this tag.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search",
                                       label="Submission id (exact) or name (contains).")
    submission_id = django_filters.CharFilter()
    # Served by command_schedule_id (schedule, -id).
    schedule = django_filters.NumberFilter(field_name="schedule", min_value=1,
                                           max_value=MAX_BIGINT, decimal_places=0,
                                           label="Runs of this schedule (its id).")

    class Meta:
        model = Command
        fields = []

    def filter_active(self, queryset, name, value):
        statuses = Status.ACTIVE if value else Status.TERMINAL
        return queryset.filter(status__in=statuses)

    def filter_tag(self, queryset, name, value):
        # JSON containment is not available on SQLite; tags are short lists, so a match on
        # the serialised form is exact enough ('"tag"' includes the quotes).
        return queryset.filter(tags__icontains=f'"{value}"')

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(submission_id=value) | Q(name__icontains=value))


class ByNameFilter(django_filters.FilterSet):
    """The lists of named objects (data sources, datasets, saved queries): ``?name=`` finds
    one by its name, ignoring case as dataset names do. An account holds few enough of them
    that the comparison reads only its own rows."""

    name = django_filters.CharFilter(lookup_expr="iexact",
                                     label="The object of this name (ignoring case).")

    class Meta:
        fields = []
