"""The submit page: a shell command, SQL against a data source (or the account's datasets),
or a saved query with a form built from its parameters.

The forms only turn what a person typed into the API's submission payload; that payload goes
through the API's :class:`~jobs.api.serializers.SubmitSerializer` and then
:func:`jobs.submission.submit`, so the page has exactly the API's rules and errors. A hidden
``submission_id`` made when the form is shown makes a double click submit once.
"""

import json
import secrets

from django import forms
from django.http import Http404
from django.shortcuts import redirect, render

from accounts import policy
from accounts.pages import member_view, refused
from jobs import submission
from jobs.api.serializers import SubmitSerializer
from jobs.models import CommandType, DataSource, SavedQuery, Source
from jobs.reads import parse_pk

KINDS = ("shell", "sql", "saved")


def new_submission_id():
    return f"ui-{secrets.token_hex(12)}"


class CommonFields(forms.Form):
    name = forms.CharField(required=False, max_length=200,
                           help_text="Optional: shown in the history instead of the first line.")
    timeout = forms.IntegerField(required=False, min_value=1, label="Timeout (seconds)",
                                 help_text="Empty: the account's default.")
    submission_id = forms.CharField(widget=forms.HiddenInput, max_length=128)

    def payload(self):
        data = {"command_type": self.command_type, "submission_id":
                self.cleaned_data["submission_id"]}
        for name in ("name", "timeout"):
            if self.cleaned_data.get(name) not in (None, ""):
                data[name] = self.cleaned_data[name]
        return data


class ShellForm(CommonFields):
    command_type = CommandType.SHELL
    script = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
                             strip=False, help_text="Runs with bash in a sandbox. Print "
                             "“::progress 2/5” lines to report progress.")
    label = forms.CharField(required=False, max_length=100,
                            help_text="The worker queue; empty: default.")
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    env = forms.CharField(required=False, label="Environment variables",
                          widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
                          help_text="One NAME=value per line.")
    field_order = ["script", "name", "label", "tags", "env", "timeout"]

    def clean_env(self):
        variables = {}
        for number, line in enumerate(self.cleaned_data["env"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep:
                raise forms.ValidationError(f"Line {number} is not NAME=value.")
            variables[name.strip()] = value
        return variables

    def payload(self):
        data = {**super().payload(), "script": self.cleaned_data["script"]}
        if self.cleaned_data.get("label"):
            data["label"] = self.cleaned_data["label"]
        tags = [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]
        if tags:
            data["tags"] = tags
        if self.cleaned_data.get("env"):
            data["runtime_env"] = {"env_vars": self.cleaned_data["env"]}
        return data


class SqlForm(CommonFields):
    command_type = CommandType.SQL
    query = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
                            strip=False, label="SQL", help_text="Read-only. Name parameters "
                            "as :name and give their values below.")
    data_source = forms.ChoiceField(help_text="“default” is DuckDB over your datasets "
                                    "(each one a table by its name).")
    parameters = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text='A JSON object, e.g. {"region": "North"}.')
    field_order = ["query", "data_source", "parameters", "name", "timeout"]

    def __init__(self, *args, sources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["data_source"].choices = [(s.name, s.name) for s in sources]

    def clean_parameters(self):
        text = self.cleaned_data["parameters"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from exc

    def payload(self):
        data = {**super().payload(), "query": self.cleaned_data["query"],
                "data_source": self.cleaned_data["data_source"]}
        if self.cleaned_data.get("parameters") is not None:
            data["parameters"] = self.cleaned_data["parameters"]
        return data


PARAMETER_INPUTS = {"integer": {"type": "number", "step": "1"}, "number": {"type": "number",
                    "step": "any"}, "date": {"type": "date"}}


class SavedQueryForm(CommonFields):
    """One field per declared parameter, typed by the submission service (its messages name
    the parameter)."""

    command_type = CommandType.SQL

    def __init__(self, *args, saved, **kwargs):
        super().__init__(*args, **kwargs)
        self.saved = saved
        for item in saved.parameters:
            label = f"{item['name']} ({item['type']})"
            if item["type"] == "boolean":
                field = forms.ChoiceField(choices=[("", "—"), ("true", "true"),
                                                   ("false", "false")], label=label)
            else:
                field = forms.CharField(label=label, widget=forms.TextInput(
                    attrs=PARAMETER_INPUTS.get(item["type"], {})))
            field.required = False  # the submission service says what is missing
            field.help_text = item.get("description", "")
            if item.get("default") is not None:
                field.initial = str(item["default"]).lower() if item["type"] == "boolean" \
                    else item["default"]
            self.fields[f"param_{item['name']}"] = field

    def payload(self):
        values = {item["name"]: self.cleaned_data.get(f"param_{item['name']}")
                  for item in self.saved.parameters}
        return {**super().payload(), "saved_query": self.saved.pk,
                "parameters": {k: v for k, v in values.items() if v not in (None, "")}}


FORM_FIELD = {"runtime_env": "env"}  # API field -> the form field that holds it


def _flat(messages):
    if isinstance(messages, dict):  # a nested serializer's errors, e.g. runtime_env.env_vars
        return [m for sub in messages.values() for m in _flat(sub)]
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


def add_errors(form, errors):
    """Put the API's field errors on the form field that holds each (else on the form)."""
    for field, messages in errors.items():
        name = f"param_{field}" if f"param_{field}" in form.fields else FORM_FIELD.get(
            field, field)
        text = " ".join(_flat(messages))
        if name in form.fields:
            form.add_error(name, text)
        else:
            form.add_error(None, text if field in ("non_field_errors", "__all__")
                           else f"{field}: {text}")


def _submit(request, form):
    """Validate like the API, submit through the one service; the command or None."""
    serializer = SubmitSerializer(data=form.payload(), context={"request": request})
    if not serializer.is_valid():
        add_errors(form, serializer.errors)
        return None
    try:
        command, _ = submission.submit(request.member, serializer.validated_data,
                                       source=Source.UI, request=request)
    except submission.InvalidDefinition as exc:
        if exc.errors and exc.field == "parameters" and "parameters" in form.fields:
            # Ad-hoc SQL: the values are one JSON field; say which name each message is about.
            exc.errors = {"parameters": [f"{k}: {v}." for k, v in exc.errors.items()]}
        add_errors(form, exc.errors or {exc.field or "__all__": exc.message})
        return None
    return command


def _sources(member):
    default = DataSource.objects.default_for(member.account)
    others = policy.restrict(DataSource.objects.exclude(pk=default.pk), member, "read",
                             "data_sources").order_by("name")
    return [default, *others]


def _form_for(kind, request, member, data=None):
    initial = {"submission_id": new_submission_id()}
    if kind == "shell":
        return ShellForm(data, initial=initial), None
    if kind == "sql":
        # A link may prefill the query and source (a dataset's "Preview" does).
        initial.update({k: request.GET[k] for k in ("query", "data_source") if k in request.GET})
        return SqlForm(data, initial=initial, sources=_sources(member)), None
    saved = None
    ref = request.GET.get("saved_query") or (data or {}).get("saved_query")
    if ref:
        pk = parse_pk(ref)
        saved = None if pk is None else policy.restrict(
            SavedQuery.objects.all(), member, "read", "saved_queries").filter(pk=pk).first()
        if saved is None:
            raise Http404("No such saved query.")
        return SavedQueryForm(data, initial=initial, saved=saved), saved
    return None, None


@member_view
def new_command(request):
    """Show the form of the chosen kind; on POST submit it and go to the new command."""
    member = request.member
    if not policy.can(member, "submit", "commands"):
        return refused(request, "Your role may not submit commands.")
    may_shell = policy.can(member, "submit", "commands", command_type="shell")
    default_kind = "shell" if may_shell else "sql"
    kind = request.GET.get("kind", default_kind)
    kind = kind if kind in KINDS else default_kind
    data = request.POST if request.method == "POST" else None
    form, saved = _form_for(kind, request, member, data)
    status = 200
    if data is not None and form is not None:
        try:
            command = _submit(request, form) if form.is_valid() else None
        except submission.NotAllowed as exc:
            form.add_error(None, exc.message)
            command, status = None, 403
        except submission.DuplicateSubmission as exc:
            form.add_error(None, exc.message)
            command, status = None, 409
        if command is not None:
            return redirect("pages:command", pk=command.pk)
        status = status if status != 200 else 400
    saved_queries = (policy.restrict(SavedQuery.objects.all(), member, "read", "saved_queries")
                     .order_by("name").only("pk", "name", "version")[:200]
                     if kind == "saved" else [])
    return render(request, "jobs/submit.html", {
        "kind": kind, "form": form, "saved": saved, "saved_queries": saved_queries,
        "may_shell": may_shell,
        "may_sql": policy.can(member, "submit", "commands", command_type="sql"),
    }, status=status)
