"""A command as Ray's ``JobDetails`` (and openYuanrong's "Query Job Details"), built from the row.

Times are integer milliseconds since the epoch, as Ray's client models them: ``start_time``
is when the job was submitted (Ray sets it then, while the job is PENDING), ``end_time`` when
it ended. ``driver_info.pid`` is a string. ``job_id`` is the portal's command id, so either
id finds the job. Status words come from :mod:`jobs.statuses`.
"""

from types import SimpleNamespace

from accounts import policy
from jobs import statuses
from jobs.statuses import Shape

# The version of Ray's job API this shape follows: the client checks ``ray_version`` against
# the features it uses (2.0 submission ids, 2.2 entrypoint resources, 2.8 entrypoint memory).
API_VERSION = "4"
RAY_VERSION = "2.60.0"

# The portal's error types (jobs.worker) in Ray's vocabulary (ray.job_submission.JobErrorType).
ERROR_TYPES = {
    "NonZeroExit": "JOB_ENTRYPOINT_COMMAND_ERROR",
    "Killed": "JOB_ENTRYPOINT_COMMAND_ERROR",
    "Timeout": "JOB_ENTRYPOINT_COMMAND_ERROR",
    "StartFailed": "JOB_ENTRYPOINT_COMMAND_START_ERROR",
    "SandboxUnavailable": "JOB_ENTRYPOINT_COMMAND_START_ERROR",
    "RuntimeEnvSetupFailed": "RUNTIME_ENV_SETUP_FAILURE",
    "WorkerLost": "JOB_SUPERVISOR_ACTOR_DIED",
    "WorkerStopped": "JOB_SUPERVISOR_ACTOR_DIED",
}
UNKNOWN_ERROR = "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE"

MESSAGES = {  # by Ray status word; a failure's message is its own
    "PENDING": "Job has not started yet.",
    "RUNNING": "Job is currently running.",
    "SUCCEEDED": "Job finished successfully.",
    "STOPPED": "Job was intentionally stopped.",
}
PORTAL_ONLY_ENV = ("package", "working_dir", "requested_resources")


# The columns job_details reads: a list fetches only these (a model instance of every column
# cost more than the rest of the answer). tests/compat/test_ray.py holds list and detail equal.
COLUMNS = ("pk", "user_id", "submission_id", "script", "runtime_env", "metadata", "status",
           "throttled", "created_at", "started_at", "finished_at", "node_id", "ip_address",
           "pid", "exit_code", "error_type", "error_message")


def listed(queryset):
    """The commands of ``queryset`` with just what :func:`job_details` reads (one query)."""
    return [SimpleNamespace(**row) for row in queryset.values(*COLUMNS)]


def millis(value):
    """A datetime as integer milliseconds since the epoch, or None."""
    return None if value is None else int(value.timestamp() * 1000)


def ray_runtime_env(member, command):
    """The runtime environment as the Ray client sent it: ``env_vars`` (secret-looking values
    redacted for members who may not see them, :func:`accounts.policy.visible_runtime_env`)
    and ``working_dir`` (the package URI, or an allowed host directory)."""
    env = policy.visible_runtime_env(member, command)
    shown = {key: value for key, value in env.items() if key not in PORTAL_ONLY_ENV}
    working_dir = env.get("package") or env.get("working_dir")
    if working_dir:
        shown["working_dir"] = working_dir
    return shown


def message(command, word, member):
    if word == "FAILED":
        return command.error_message or "Job failed."
    text = MESSAGES[word]
    if command.throttled:
        text += (f" The account runs at most {member.account.max_concurrency} commands at "
                 "once; this one waits for a free slot.")
    return text


def driver_info(command):
    """Who runs the entrypoint, once a worker has taken it (Ray: None before a driver)."""
    if command.started_at is None:
        return None
    return {"id": command.submission_id, "node_ip_address": command.ip_address or "",
            "pid": "" if command.pid is None else str(command.pid)}


def job_details(command, member):
    """``JobDetails`` of ``command`` as ``member`` sees it (no query)."""
    word = statuses.word(Shape.RAY, command.status, command.throttled)
    failed = word == "FAILED"
    return {
        "type": "SUBMISSION",
        "job_id": str(command.pk),
        "submission_id": command.submission_id,
        "driver_info": driver_info(command),
        "status": word,
        "entrypoint": command.script,
        "message": message(command, word, member),
        "error_type": ERROR_TYPES.get(command.error_type, UNKNOWN_ERROR) if failed else None,
        "start_time": millis(command.created_at),
        "end_time": millis(command.finished_at),
        "metadata": policy.visible_metadata(member, command),
        "runtime_env": ray_runtime_env(member, command),
        "driver_agent_http_address": None,
        "driver_node_id": command.node_id or None,
        "driver_exit_code": command.exit_code,
    }


def version():
    """``GET /api/version``: what the client checks on connect."""
    return {"version": API_VERSION, "ray_version": RAY_VERSION, "ray_commit": "jobportal",
            "session_name": "jobportal"}
