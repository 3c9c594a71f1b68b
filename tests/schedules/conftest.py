"""The worker-process fixtures of the jobs tests serve the schedules' process tests too."""

from tests.jobs.conftest import start_worker, worker_env  # noqa: F401
