"""Operators' view of schedules: the list with the next slot, pause state and the last run's
status; a read-only page with the latest runs (links into the command history) and the
pause/resume actions. Schedules are made and changed through the API and the pages, where
the owner's rights are checked; here only pause, resume and delete."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs.schedules import service
from jobs.schedules.model import Schedule

RECENT_RUNS = 20


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "cron", "timezone", "paused", "next_run_at",
                    "last_run_status", "last_sequence_id", "created_by"]
    list_filter = ["paused", "concurrency", "catch_up", "account"]
    list_select_related = ["account", "created_by", "last_run"]
    search_fields = ["name", "=account__slug", "=created_by__email"]
    ordering = ("account_id", "name")
    actions = ["pause_schedules", "resume_schedules"]
    fields = ["name", "account", "description", "cron", "timezone", "command", "saved_query",
              "parameters", "start_at", "end_at", "concurrency", "catch_up", "paused",
              "next_run_at", "next_runs", "last_sequence_id", "last_run_status", "last_error",
              "last_error_at", "created_by", "created_at", "updated_at", "recent_runs"]
    readonly_fields = fields

    @admin.display(description="Last run", ordering="last_run__status")
    def last_run_status(self, obj):
        if obj.last_run_id is None:
            return "—"
        url = reverse("admin:jobs_command_change", args=[obj.last_run_id])
        return format_html('<a href="{}">#{} {}</a>', url, obj.last_run_id,
                           obj.last_run.status if obj.last_run else "")

    @admin.display(description="Next slots")
    def next_runs(self, obj):
        return ", ".join(f"{t:%Y-%m-%d %H:%M} UTC" for t in service.next_runs(obj)) or "—"

    @admin.display(description="Runs")
    def recent_runs(self, obj):
        runs = obj.runs.order_by("-id").values_list("id", "sequence_id", "nominal_time",
                                                    "status")[:RECENT_RUNS]
        everything = reverse("admin:jobs_command_changelist") + f"?schedule__id__exact={obj.pk}"
        rows = format_html_join(
            "", '<li><a href="{}">#{}</a> run {} of {} UTC: {}</li>',
            ((reverse("admin:jobs_command_change", args=[pk]), pk, seq,
              f"{nominal:%Y-%m-%d %H:%M}", status) for pk, seq, nominal, status in runs))
        return format_html('<ul>{}</ul><a href="{}">All runs</a>', rows, everything)

    def has_add_permission(self, request):
        return False  # made through the API or pages, as a member whose rights are checked

    def has_change_permission(self, request, obj=None):
        # Change rights unlock the pause/resume actions; the page itself is read-only.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Pause the selected schedules", permissions=["change"])
    def pause_schedules(self, request, queryset):
        self._set_paused(request, queryset, True)

    @admin.action(description="Resume the selected schedules (from the next slot)",
                  permissions=["change"])
    def resume_schedules(self, request, queryset):
        self._set_paused(request, queryset, False)

    def _set_paused(self, request, queryset, paused):
        changed = sum(service.set_paused_by_operator(s, paused, request.user, request)
                      for s in queryset)
        self.message_user(request, f"{'Paused' if paused else 'Resumed'} {changed} "
                          "schedule(s).", messages.SUCCESS)
