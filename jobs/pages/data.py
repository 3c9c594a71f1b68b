"""Datasets and saved queries: list, look at, upload or edit where the role allows."""

import json

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import audit, policy
from accounts.pages import member_view, refused
from jobs import datasets
from jobs.api.data_serializers import DatasetSerializer, SavedQuerySerializer
from jobs.models import Command, Dataset, SavedQuery
from jobs.pages.submit import add_errors

MAX_LISTED = 500


class UploadForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="The table name in SQL (letters, digits, _).")
    file = forms.FileField(help_text="CSV or Parquet.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


@member_view
def dataset_list(request):
    """The account's datasets; an upload form where the role allows creating one."""
    member = request.member
    if not policy.can(member, "read", "datasets"):
        return refused(request, "Your role may not read datasets.")
    may_create = policy.can(member, "create", "datasets")
    form, status = UploadForm(), 200
    if request.method == "POST":
        if not may_create:
            return refused(request, "Your role may not upload datasets.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                dataset = datasets.register(
                    account=member.account, user=member.user, name=form.cleaned_data["name"],
                    upload=form.cleaned_data["file"],
                    description=form.cleaned_data["description"])
            except datasets.DatasetError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                audit.record("datasets.create", member=member, obj=dataset, request=request)
                messages.success(request, f"Dataset {dataset.name} uploaded.")
                return redirect("pages:dataset", pk=dataset.pk)
        status = 400
    rows = policy.restrict(Dataset.objects.all(), member, "read", "datasets").order_by(
        "name")[:MAX_LISTED]
    return render(request, "jobs/datasets.html", {"datasets": rows, "form": form,
                                                  "may_create": may_create}, status=status)


class DatasetEditForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="The table name in SQL.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


def _dataset_or_404(member, pk):
    dataset = policy.restrict(Dataset.objects.select_related("created_by"), member, "read",
                              "datasets").filter(pk=pk).first()
    if dataset is None:
        raise Http404("No such dataset.")
    return dataset


@require_http_methods(["GET", "POST"])
@member_view
def dataset_detail(request, pk):
    """A dataset's columns and size; where the role allows, its name and description change
    here (validated by the API's serializer)."""
    member = request.member
    dataset = _dataset_or_404(member, pk)
    may_update = policy.can(member, "update", "datasets", obj=dataset)
    form, status = DatasetEditForm(initial={"name": dataset.name,
                                            "description": dataset.description}), 200
    if request.method == "POST":
        if not may_update:
            return refused(request, "Your role may not change this dataset.")
        form = DatasetEditForm(request.POST)
        if form.is_valid():
            serializer = DatasetSerializer(dataset, data=form.cleaned_data, partial=True,
                                           context={"request": request})
            if serializer.is_valid():
                serializer.save()
                audit.record("datasets.update", member=member, obj=dataset, request=request)
                messages.success(request, f"Dataset {dataset.name} saved.")
                return redirect("pages:dataset", pk=dataset.pk)
            add_errors(form, serializer.errors)
        status = 400
    try:
        rows, unreadable = datasets.preview(dataset), None
    except (datasets.DatasetError, OSError) as exc:
        rows, unreadable = [], str(exc)
    return render(request, "jobs/dataset.html", {
        "dataset": dataset, "form": form, "may_update": may_update, "preview_rows": rows,
        "unreadable": unreadable,
        "may_submit": policy.can(member, "submit", "commands", command_type="sql")},
        status=status)


class NewSavedQueryForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sql = forms.CharField(label="SQL", strip=False, help_text="Name parameters as :name.",
                          widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}))
    data_source = forms.CharField(required=False, max_length=100,
                                  help_text="A data source's name; empty: default.")
    parameters = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text='JSON, e.g. [{"name": "region", "type": "string"}].')

    def payload(self):
        data = {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}
        if "parameters" in data:
            try:
                data["parameters"] = json.loads(data["parameters"])
            except ValueError as exc:
                self.add_error("parameters", f"Not JSON: {exc}.")
                return None
        return data


def _create_saved_query(request, form):
    """Validate with the API's serializer and save; the new query or None."""
    payload = form.payload() if form.is_valid() else None
    if payload is None:
        return None
    serializer = SavedQuerySerializer(data=payload, context={"request": request})
    if not serializer.is_valid():
        add_errors(form, serializer.errors)
        return None
    member = request.member
    saved = serializer.save(account=member.account, created_by=member.user)
    audit.record("saved_queries.create", member=member, obj=saved, request=request)
    return saved


@member_view
def saved_query_list(request):
    """The account's saved queries; a form for a new one where the role allows."""
    member = request.member
    if not policy.can(member, "read", "saved_queries"):
        return refused(request, "Your role may not read saved queries.")
    may_create = policy.can(member, "create", "saved_queries")
    form, status = NewSavedQueryForm(), 200
    if request.method == "POST":
        if not may_create:
            return refused(request, "Your role may not create saved queries.")
        form = NewSavedQueryForm(request.POST)
        saved = _create_saved_query(request, form)
        if saved is not None:
            messages.success(request, f"Saved query {saved.name} created.")
            return redirect("pages:saved_query", pk=saved.pk)
        status = 400
    rows = policy.restrict(SavedQuery.objects.select_related("data_source"), member, "read",
                           "saved_queries").order_by("name")[:MAX_LISTED]
    return render(request, "jobs/saved_queries.html", {
        "saved_queries": rows, "form": form, "may_create": may_create}, status=status)


class SavedQueryForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sql = forms.CharField(label="SQL", strip=False,
                          widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}))


def _saved_or_404(member, pk):
    saved = policy.restrict(SavedQuery.objects.select_related("data_source", "updated_by"),
                            member, "read", "saved_queries").filter(pk=pk).first()
    if saved is None:
        raise Http404("No such saved query.")
    return saved


@member_view
def saved_query_detail(request, pk):
    """One saved query: its SQL and parameters, its recent runs, an edit form where allowed
    (validated by the API's serializer: the same rules, the version goes up)."""
    member = request.member
    saved = _saved_or_404(member, pk)
    may_update = policy.can(member, "update", "saved_queries", obj=saved)
    form = SavedQueryForm(initial={"name": saved.name, "description": saved.description,
                                   "sql": saved.sql})
    runs = Command.objects.visible_to(member).filter(saved_query=saved).order_by("-id")[:10]
    return render(request, "jobs/saved_query.html", {
        "saved": saved, "form": form, "may_update": may_update, "runs": runs,
        "may_run": policy.can(member, "run", "saved_queries", obj=saved)})


@require_POST
@member_view
def saved_query_edit(request, pk):
    member = request.member
    saved = _saved_or_404(member, pk)
    if not policy.can(member, "update", "saved_queries", obj=saved):
        return refused(request, "Your role may not edit this saved query.")
    form = SavedQueryForm(request.POST)
    if form.is_valid():
        serializer = SavedQuerySerializer(saved, data=form.cleaned_data, partial=True,
                                          context={"request": request})
        if serializer.is_valid():
            saved = serializer.save()
            audit.record("saved_queries.update", member=member, obj=saved, request=request)
            messages.success(request, f"Saved query {saved.name} is now version "
                             f"{saved.version}.")
            return redirect("pages:saved_query", pk=saved.pk)
        add_errors(form, serializer.errors)
    runs = Command.objects.visible_to(member).filter(saved_query=saved).order_by("-id")[:10]
    return render(request, "jobs/saved_query.html", {
        "saved": saved, "form": form, "may_update": True, "runs": runs,
        "may_run": policy.can(member, "run", "saved_queries", obj=saved)}, status=400)
