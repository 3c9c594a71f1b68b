"""What a schedule's run submits: its template, checked by the very serializer of
``POST /api/v1/commands/`` (so every field that body accepts, now or later, is accepted in a
template too), plus the slot's macros.
"""

from jobs.api.serializers import SubmitSerializer
from jobs.models import CommandType

# A run's identity is its slot; a fixed submission id would make every run answer the first.
NOT_IN_TEMPLATE = ("submission_id",)
SLOT_MACROS = ("nominal_time", "nominal_date", "sequence_id")


class BadTemplate(Exception):
    """The template is not a valid command body: ``errors`` is ``{field: [messages]}``."""

    def __init__(self, errors):
        super().__init__(str(errors))
        self.errors = errors


def template_of(schedule):
    """The command body each run of ``schedule`` submits, before the slot's macros."""
    if schedule.kind == "saved_query":
        return {"command_type": CommandType.SQL, "saved_query": schedule.saved_query_id,
                "parameters": schedule.parameters or {}}
    return dict(schedule.command or {})


def check_template(body):
    """The validated fields of a command body, or BadTemplate."""
    if not isinstance(body, dict):
        raise BadTemplate({"non_field_errors": ["A JSON object: the body of "
                                                "POST /api/v1/commands/."]})
    refused = [name for name in NOT_IN_TEMPLATE if name in body]
    if refused:
        raise BadTemplate({name: ["Not in a schedule: each run is its own command."]
                           for name in refused})
    serializer = SubmitSerializer(data=body)
    if not serializer.is_valid():
        raise BadTemplate(serializer.errors)
    return dict(serializer.validated_data)


def slot_macros(slot, sequence_id, tz):
    """``$nominal_time$`` (UTC, ISO 8601), ``$nominal_date$`` (the slot's date in the
    schedule's zone) and ``$sequence_id$``."""
    return {"nominal_time": slot.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "nominal_date": slot.astimezone(tz).date().isoformat(),
            "sequence_id": str(sequence_id)}


def _substituted(value, macros):
    if not isinstance(value, str):
        return value
    for name, text in macros.items():
        value = value.replace(f"${name}$", text)
    return value


def run_definition(schedule, slot, sequence_id, tz):
    """The definition (validated fields) of the run of ``slot``: the template's fields, its
    macros with the slot's added (they win over the template's own of the same name), string
    parameter values with the slot's macros replaced, the run's schedule fields and, unless
    the template names it, the schedule's name."""
    fields = check_template(template_of(schedule))
    macros = slot_macros(slot, sequence_id, tz)
    fields["macros"] = {**(fields.get("macros") or {}), **macros}
    if isinstance(fields.get("parameters"), dict):
        fields["parameters"] = {name: _substituted(value, macros)
                                for name, value in fields["parameters"].items()}
    fields.setdefault("name", schedule.name[:200])
    fields.update(schedule=schedule, nominal_time=slot, sequence_id=sequence_id)
    return fields
