"""The HTML pages' addresses (docs/pages.md)."""

from django.urls import path

from jobs.pages import data, history, queue, schedules, status, submit

app_name = "pages"

urlpatterns = [
    path("commands/", history.history, name="history"),
    path("commands/new/", submit.new_command, name="submit"),
    path("commands/queue/", queue.queue, name="queue"),
    path("commands/<int:pk>/", status.command_page, name="command"),
    path("commands/<int:pk>/summary/", status.summary, name="summary"),
    path("commands/<int:pk>/log/", status.log_before, name="log"),
    path("commands/<int:pk>/rows/", status.result_rows, name="rows"),
    path("commands/<int:pk>/cancel/", status.cancel, name="cancel"),
    path("commands/<int:pk>/rerun/", status.rerun, name="rerun"),
    path("datasets/", data.dataset_list, name="datasets"),
    path("datasets/<int:pk>/", data.dataset_detail, name="dataset"),
    path("saved-queries/", data.saved_query_list, name="saved_queries"),
    path("saved-queries/<int:pk>/", data.saved_query_detail, name="saved_query"),
    path("saved-queries/<int:pk>/edit/", data.saved_query_edit, name="saved_query_edit"),
    path("schedules/", schedules.schedule_list, name="schedules"),
    path("schedules/<int:pk>/", schedules.schedule_detail, name="schedule"),
    path("schedules/<int:pk>/pause/", schedules.schedule_pause, name="schedule_pause"),
    path("schedules/<int:pk>/resume/", schedules.schedule_resume, name="schedule_resume"),
]
