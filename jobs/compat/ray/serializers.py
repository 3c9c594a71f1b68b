"""What a Ray job submission may hold, and how it becomes the portal's definition.

The Ray request is checked for its own fields (types, which ``runtime_env`` keys mean
something here), then translated to the portal's submission (``command_type`` shell, the
entrypoint as the script) and validated by the portal's own :class:`SubmitSerializer`, so
environment names, metadata and submission ids follow one set of rules. The serializers below
the request describe the answers in the OpenAPI document.
"""

import re

from rest_framework import serializers

from jobportal import untrusted
from jobportal.fields import StrictCharField
from jobs import statuses
from jobs.api.serializers import SubmitSerializer
from jobs.models import CommandType
from jobs.statuses import Shape

# Ray's client names uploaded working directories gcs://_ray_pkg_<content hash>.zip.
PACKAGE_PROTOCOL = "gcs"
PACKAGE_NAME_RE = re.compile(r"^_ray_pkg_[0-9a-f]{16,64}\.zip$")
# runtime_env keys the portal honours, and those the client sends that need nothing here.
RUNTIME_ENV_KEYS = {"env_vars", "working_dir"}
IGNORED_KEYS = {"excludes", "config", "_ray_commit", "_inject_current_ray"}
# openYuanrong spells env_vars "envVars", its value a JSON object or that object as a string.
ENV_VARS_ALIAS = "envVars"
REFUSED = {
    "pip": "pip is not supported: the portal does not install packages per job. Install what "
           "the entrypoint needs on the workers (or ship pure-Python code in working_dir).",
    "uv": "uv is not supported: see pip.",
    "conda": "conda is not supported: the portal does not build environments per job.",
    "py_modules": "py_modules is not supported: put the modules in working_dir.",
}
RAY_STATUS_WORDS = sorted(set(statuses.WORDS[Shape.RAY].values()))
# Portal fields named in its errors, as a Ray client calls them.
RAY_FIELD_NAMES = {"script": "entrypoint"}


def package_uri(protocol, name):
    """``gcs://<name>`` for a valid package name, else None."""
    if protocol == PACKAGE_PROTOCOL and PACKAGE_NAME_RE.match(name):
        return f"{protocol}://{name}"
    return None


class Number(serializers.FloatField):
    """A JSON number (Ray's ints and floats); a string or a boolean is a 400."""

    default_error_messages = {"not_a_number": "Must be a number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("not_a_number")
        return super().to_internal_value(data)


class RaySubmitSerializer(serializers.Serializer):
    """``POST /api/jobs/``: Ray's ``JobSubmitRequest``."""

    entrypoint = StrictCharField(max_length=1_000_000, trim_whitespace=False)
    submission_id = StrictCharField(required=False, allow_null=True, max_length=128)
    job_id = StrictCharField(required=False, allow_null=True, max_length=128,
                             help_text="Deprecated by Ray: the submission id.")
    runtime_env = serializers.DictField(required=False, allow_null=True, help_text=(
        "env_vars (honoured) and working_dir (an uploaded package, gcs://_ray_pkg_….zip); "
        "pip, uv, conda and py_modules are refused."))
    metadata = serializers.DictField(child=StrictCharField(allow_blank=True, max_length=10000),
                                     required=False, allow_null=True)
    entrypoint_num_cpus = Number(required=False, allow_null=True, min_value=0)
    entrypoint_num_gpus = Number(required=False, allow_null=True, min_value=0)
    entrypoint_memory = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    entrypoint_resources = serializers.DictField(child=Number(min_value=0), required=False,
                                                 allow_null=True)
    entrypoint_label_selector = serializers.DictField(
        child=StrictCharField(allow_blank=True, max_length=1000), required=False,
        allow_null=True)

    def validate_runtime_env(self, value):
        if value is None:
            return {}
        if ENV_VARS_ALIAS in value:
            value = dict(value)
            value["env_vars"] = _env_vars_alias(value, value.pop(ENV_VARS_ALIAS))
        for key in value:
            if key in REFUSED:
                raise serializers.ValidationError(REFUSED[key])
            if key not in RUNTIME_ENV_KEYS | IGNORED_KEYS:
                raise serializers.ValidationError(
                    f"{key} is not supported; the portal honours env_vars and working_dir.")
        working_dir = value.get("working_dir")
        if working_dir is not None:
            protocol, _, name = working_dir.partition("://") if isinstance(
                working_dir, str) else ("", "", "")
            if package_uri(protocol, name) is None:
                raise serializers.ValidationError(
                    "working_dir must be a package uploaded through /api/packages/ "
                    "(gcs://_ray_pkg_<hash>.zip), as the Ray client uploads a local directory.")
        return {key: value[key] for key in RUNTIME_ENV_KEYS if key in value}

    def portal_submission(self):
        """``(fields, package uri or None)``: the portal's validated definition of this
        request, the package and the requested resources in its ``runtime_env``."""
        definition, uri = self._portal_definition()
        fields = portal_fields(definition)
        env = dict(fields.get("runtime_env") or {})
        if uri is not None:
            env["package"] = uri
        resources = self._requested_resources()
        if resources:
            env["requested_resources"] = resources
        if env:
            fields["runtime_env"] = env
        return fields, uri

    def _portal_definition(self):
        """The portal's submission data for this request (to pass its SubmitSerializer)."""
        data = self.validated_data
        env = data.get("runtime_env") or {}
        definition = {"command_type": CommandType.SHELL, "script": data["entrypoint"]}
        if env.get("env_vars") is not None:
            definition["runtime_env"] = {"env_vars": env["env_vars"]}
        if data.get("metadata"):
            definition["metadata"] = data["metadata"]
        submission_id = data.get("submission_id") or data.get("job_id")
        if submission_id:
            definition["submission_id"] = submission_id
        return definition, env.get("working_dir")

    def _requested_resources(self):
        """What the entrypoint asked to reserve, recorded (the worker's limits apply)."""
        names = ("num_cpus", "num_gpus", "memory", "resources", "label_selector")
        data = self.validated_data
        return {name: data[f"entrypoint_{name}"] for name in names
                if data.get(f"entrypoint_{name}") not in (None, {})}


def _env_vars_alias(env, alias):
    if "env_vars" in env:
        raise serializers.ValidationError("Either env_vars or envVars, not both.")
    if isinstance(alias, str):
        try:
            alias = untrusted.loads(alias)
        except ValueError as exc:
            raise serializers.ValidationError("envVars must be a JSON object of strings.") from exc
    return alias


def portal_fields(definition):
    """The portal's validated definition of a Ray submission, or a ValidationError whose
    fields carry Ray's names."""
    serializer = SubmitSerializer(data=definition)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    raise serializers.ValidationError({RAY_FIELD_NAMES.get(field, field): errors
                                       for field, errors in serializer.errors.items()})


# -- the answers, for the OpenAPI document -----------------------------------------------------


class VersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    ray_version = serializers.CharField()
    ray_commit = serializers.CharField()
    session_name = serializers.CharField()


class DriverInfoSerializer(serializers.Serializer):
    id = serializers.CharField()
    node_ip_address = serializers.CharField()
    pid = serializers.CharField(help_text="A string, as Ray sends it.")


class JobDetailsSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["SUBMISSION"])
    job_id = serializers.CharField(help_text="The portal's command id.")
    submission_id = serializers.CharField()
    driver_info = DriverInfoSerializer(allow_null=True)
    # A string, not a choice: a second "status" enum would rename the portal's in the schema.
    status = serializers.CharField(help_text=f"One of {', '.join(RAY_STATUS_WORDS)}.")
    entrypoint = serializers.CharField()
    message = serializers.CharField()
    error_type = serializers.CharField(allow_null=True)
    start_time = serializers.IntegerField(help_text="Submitted at, ms since the epoch.")
    end_time = serializers.IntegerField(allow_null=True, help_text="Ended at, ms.")
    metadata = serializers.DictField(child=serializers.CharField())
    runtime_env = serializers.DictField()
    driver_agent_http_address = serializers.CharField(allow_null=True)
    driver_node_id = serializers.CharField(allow_null=True)
    driver_exit_code = serializers.IntegerField(allow_null=True)


class SubmitResponseSerializer(serializers.Serializer):
    job_id = serializers.CharField()
    submission_id = serializers.CharField()


class StopResponseSerializer(serializers.Serializer):
    stopped = serializers.BooleanField()


class DeleteResponseSerializer(serializers.Serializer):
    deleted = serializers.BooleanField()


class LogsResponseSerializer(serializers.Serializer):
    logs = serializers.CharField()
