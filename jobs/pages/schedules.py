"""Schedules: the list (with a form for a new one where the role allows), a schedule's page
(its next runs, the history of its runs, pause/resume where the role allows). The same
service as the API (:mod:`jobs.schedules.service`) validates and writes."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import policy
from accounts.pages import member_view, refused
from jobs import reads, submission
from jobs.models import Command, SavedQuery
from jobs.schedules import service
from jobs.schedules.model import CatchUp, Concurrency, Schedule

MAX_LISTED = 500
HISTORY = 50


class NewScheduleForm(forms.Form):
    name = forms.CharField(max_length=200)
    cron = forms.CharField(max_length=120, help_text="Five fields (minute hour day month "
                           "weekday) or @hourly, @daily …, e.g. 0 2 * * *.")
    timezone = forms.CharField(max_length=64, initial="UTC",
                               help_text="IANA name, e.g. Europe/Berlin.")
    command_type = forms.ChoiceField(choices=[("shell", "Shell"), ("sql", "SQL"),
                                              ("saved", "Saved query")], initial="shell")
    body = forms.CharField(required=False, strip=False, label="Script or SQL",
                           widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
                           help_text="$nominal_time$, $nominal_date$ and $sequence_id$ are "
                                     "replaced in every run.")
    saved_query = forms.CharField(required=False, max_length=200,
                                  help_text="For a saved query: its name.")
    concurrency = forms.ChoiceField(choices=Concurrency.choices, initial=Concurrency.SKIP,
                                    help_text="When the previous run is still active.")
    catch_up = forms.ChoiceField(choices=CatchUp.choices, initial=CatchUp.LAST,
                                 help_text="After downtime.")

    def values(self, member):
        """The service's keyword arguments, or None with the errors on the form."""
        data = self.cleaned_data
        values = {key: data[key] for key in ("name", "cron", "timezone", "concurrency",
                                             "catch_up")}
        kind = data["command_type"]
        if kind == "saved":
            ref = data["saved_query"]
            visible = policy.restrict(SavedQuery.objects.all(), member, "read",
                                      "saved_queries")
            pk = reads.parse_pk(ref)
            saved = (visible.filter(pk=pk) if pk is not None else visible.filter(name=ref)
                     ).first() if ref else None
            if saved is None:
                self.add_error("saved_query", "No such saved query in your account.")
                return None
            return {**values, "saved_query": saved}
        field = "script" if kind == "shell" else "query"
        return {**values, "command": {"command_type": kind, field: data["body"]}}


def _form_errors(form, errors):
    """The service's field errors on the form field that holds each."""
    place = {"command": "body", "cron": "cron", "timezone": "timezone", "name": "name",
             "saved_query": "saved_query"}
    for field, texts in errors.items():
        target = place.get(field)
        text = " ".join(str(t) for t in texts)
        form.add_error(target, text if target else f"{field}: {text}")


@member_view
def schedule_list(request):
    """The account's schedules: next run, pause state, last run; a form for a new one."""
    member = request.member
    if not policy.can(member, "read", "schedules"):
        return refused(request, "Your role may not read schedules.")
    may_create = policy.can(member, "create", "schedules")
    form, status = NewScheduleForm(), 200
    if request.method == "POST":
        if not may_create:
            return refused(request, "Your role may not create schedules.")
        form = NewScheduleForm(request.POST)
        if form.is_valid() and (values := form.values(member)) is not None:
            try:
                schedule = service.create(member, request=request, **values)
            except service.ScheduleError as exc:
                _form_errors(form, exc.errors)
            except submission.NotAllowed as exc:
                return refused(request, exc.message)
            else:
                messages.success(request, f"Schedule {schedule.name} created.")
                return redirect("pages:schedule", pk=schedule.pk)
        status = 400
    rows = policy.restrict(Schedule.objects.select_related("last_run", "created_by"), member,
                           "read", "schedules").order_by("name")[:MAX_LISTED]
    return render(request, "jobs/schedules.html", {
        "schedules": rows, "form": form, "may_create": may_create}, status=status)


def _schedule_or_404(member, pk):
    schedule = policy.restrict(Schedule.objects.select_related("created_by", "saved_query"),
                               member, "read", "schedules").filter(pk=pk).first()
    if schedule is None:
        raise Http404("No such schedule.")
    return schedule


@member_view
def schedule_detail(request, pk):
    """One schedule: what it runs, its next runs, the history of its runs."""
    member = request.member
    schedule = _schedule_or_404(member, pk)
    runs = Command.objects.visible_to(member).filter(schedule=schedule).order_by("-id")[
        :HISTORY]
    template = schedule.command or {}
    return render(request, "jobs/schedule.html", {
        "schedule": schedule, "next_runs": service.next_runs(schedule, 10), "runs": runs,
        "body": template.get("script") or template.get("query") or "",
        "may_update": policy.can(member, "update", "schedules", obj=schedule)})


@require_POST
@member_view
def schedule_pause(request, pk):
    return _set_paused(request, pk, True)


@require_POST
@member_view
def schedule_resume(request, pk):
    return _set_paused(request, pk, False)


def _set_paused(request, pk, paused):
    member = request.member
    schedule = _schedule_or_404(member, pk)
    if not policy.can(member, "update", "schedules", obj=schedule):
        return refused(request, "Your role may not pause or resume this schedule.")
    schedule = (service.pause if paused else service.resume)(member, schedule, request=request)
    messages.success(request, f"Schedule {schedule.name} "
                     f"{'paused' if paused else 'resumed'}.")
    return redirect("pages:schedule", pk=schedule.pk)
