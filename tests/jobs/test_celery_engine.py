"""The Celery engine end to end: the portal's settings with ``JOBPORTAL_TASK_BACKEND=celery``, the
real Redis on 127.0.0.1:6379 (RabbitMQ on 5672 for a smoke test), real ``manage.py worker``
processes and commands submitted through the API. Skipped when the broker is not reachable."""

import os
import re
import runpy
import secrets
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django_tasks_db.models import DBTaskResult
from kombu import Connection

from jobportal.celery import app as celery_app
from jobs.models import Command, Status
from jobs.worker.tasks import run_command
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.slow

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DBS = range(11, 16)
REDIS_LOCK = "jobportal-test-run"  # who uses this database; expires if a run dies
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
TERMINAL = set(Status.TERMINAL)
WAIT = 120  # seconds: generous, so a loaded machine slows the tests down instead of failing them
SUCCEEDED = re.compile(
    r"jobs\.worker\.tasks\.run_command\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: '(\w+)'")


@pytest.fixture
def redis_broker():
    """A Redis database (11-15) that no other test run is using, empty before and after."""
    token = secrets.token_hex(8)
    client = wait_for(lambda: claim_redis_db(token), timeout=300, interval=0.5,
                      message=f"a Redis database of {list(REDIS_DBS)} that no other run uses")
    client.flushdb()
    client.set(REDIS_LOCK, token, ex=900)
    yield client
    client.flushdb()
    client.close()


def claim_redis_db(token):
    for db in REDIS_DBS:
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db, socket_connect_timeout=1)
        try:
            if client.set(REDIS_LOCK, token, nx=True, ex=900):
                return client
        except redis.RedisError as exc:
            pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({exc}); "
                        "the Celery engine tests need it")
        client.close()
    return None


def use_celery_engine(settings, monkeypatch, broker_url):
    """Switch this test process to the Celery engine exactly as the settings file does when
    ``JOBPORTAL_TASK_BACKEND=celery``, so submitting through the API enqueues through Celery."""
    monkeypatch.setenv("JOBPORTAL_TASK_BACKEND", "celery")
    monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
    monkeypatch.setenv("JOBPORTAL_DATA_DIR", str(django_settings.DATA_DIR))
    values = runpy.run_path(str(Path(django_settings.BASE_DIR) / "jobportal" / "settings.py"))
    for name, value in values.items():
        if name.startswith("CELERY_") or name in ("TASK_ENGINE", "TASKS"):
            # TASKS fires setting_changed: django.tasks drops its cached backends.
            setattr(settings, name, value)
    celery_app.config_from_object("django.conf:settings", namespace="CELERY", force=True)
    # The app keeps its broker connection and producer pools for the broker it met first.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    assert run_command.get_backend().__class__.__name__ == "CeleryBackend"
    assert celery_app.connection_for_write().as_uri(include_password=True) == broker_url


@pytest.fixture
def celery_engine(redis_broker, settings, monkeypatch):
    db = redis_broker.connection_pool.connection_kwargs["db"]
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    use_celery_engine(settings, monkeypatch, url)
    return url


@pytest.fixture
def start_celery_worker(start_worker):
    """``manage.py worker`` with the Celery engine; stopped (and waited for) after the test, so
    no worker of this test consumes the next test's messages."""
    procs = []

    def start(queues, broker_url, concurrency=1):
        proc = start_worker("--queues", queues, "--concurrency", str(concurrency), env={
            "JOBPORTAL_TASK_BACKEND": "celery", "CELERY_BROKER_URL": broker_url})
        procs.append(proc)
        eventually(lambda: proc.poll() is not None or " ready." in worker_log(proc),
                   f"the Celery worker for {queues} to be ready")
        assert proc.poll() is None, worker_log(proc)
        return proc

    yield start
    for proc in procs:
        stop(proc)


def stop(proc, timeout=WAIT / 3):
    """Stop a worker the way an operator does (SIGTERM), again if it takes long."""
    for _ in range(3):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue  # the next signal escalates
    return proc.wait(timeout=timeout)


def eventually(predicate, what):
    return wait_for(predicate, timeout=WAIT, interval=0.1, message=what)


def worker_log(proc):
    return Path(proc.log_path).read_text(errors="replace")


def handled_deliveries(proc, count):
    """What the worker's tasks returned ("done", "skipped", ...) once it handled ``count``."""
    found = SUCCEEDED.findall(worker_log(proc))
    return found if len(found) >= count else None


def submit(actor, script, **fields):
    response = actor.client.post("/api/v1/commands/",
                                 {"command_type": "shell", "script": script, **fields},
                                 format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def finished(actor, pk):
    def terminal():
        body = actor.client.get(f"/api/v1/commands/{pk}/").json()
        return body if body["status"] in TERMINAL else None

    return eventually(terminal, f"command {pk} to finish")


def log_text(actor, pk):
    return actor.client.get(f"/api/v1/commands/{pk}/logs/?offset=0").json()["data"]


def reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# -- Redis ------------------------------------------------------------------------------------


def test_a_command_submitted_through_the_api_runs_on_a_celery_worker(
        member, celery_engine, start_celery_worker):
    start_celery_worker("default", celery_engine)
    pk = submit(member, "echo hello from celery; echo to stderr >&2")

    body = finished(member, pk)

    assert (body["status"], body["exit_code"], body["error_type"]) == ("done", 0, "")
    assert log_text(member, pk) == "hello from celery\nto stderr\n"
    command = Command.objects.get(pk=pk)
    assert command.attempt == 1 and command.worker_id and command.hostname
    assert not DBTaskResult.objects.exists()  # the message went through Redis, not the database


def test_a_duplicate_delivery_runs_the_command_once(member, celery_engine, start_celery_worker):
    pk = submit(member, "echo ran once; sleep 1")  # first delivery, sent on commit
    run_command.using(queue_name="default").enqueue(pk)  # a second one, as a broker redelivers
    # Two pool processes take both messages at once and race for the claim.
    proc = start_celery_worker("default", celery_engine, concurrency=2)

    assert finished(member, pk)["status"] == "done"
    outcomes = eventually(lambda: handled_deliveries(proc, 2), "both deliveries")

    assert sorted(outcomes) == ["done", "skipped"]
    assert log_text(member, pk) == "ran once\n"
    assert Command.objects.get(pk=pk).attempt == 1


def test_a_label_is_run_only_by_a_worker_serving_its_queue(
        member, celery_engine, redis_broker, start_celery_worker):
    start_celery_worker("default", celery_engine)
    gpu = submit(member, "echo on the gpu queue", label="gpu")
    plain = submit(member, "echo on the default queue")

    assert finished(member, plain)["status"] == "done"
    assert Command.objects.get(pk=gpu).status == Status.QUEUED
    assert redis_broker.llen("gpu") == 1  # its message waits in the gpu queue

    start_celery_worker("gpu", celery_engine)

    assert finished(member, gpu)["status"] == "done"
    assert log_text(member, gpu) == "on the gpu queue\n"
    assert redis_broker.llen("gpu") == 0


def test_a_worker_for_all_queues_also_serves_labels_it_has_not_seen_yet(
        member, celery_engine, start_celery_worker):
    proc = start_celery_worker("*", celery_engine)
    pk = submit(member, "echo on a new queue", label="nightly-batch")

    assert finished(member, pk)["status"] == "done"
    assert log_text(member, pk) == "on a new queue\n"
    assert "now also serving queue nightly-batch" in worker_log(proc)


def test_sigterm_lets_the_running_command_finish_then_the_worker_exits(
        member, celery_engine, start_celery_worker):
    proc = start_celery_worker("default", celery_engine)
    pk = submit(member, "echo started; sleep 1; echo finished")
    eventually(lambda: Command.objects.get(pk=pk).status == Status.RUNNING, "the command to start")

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=WAIT) == 0
    body = finished(member, pk)
    assert (body["status"], log_text(member, pk)) == ("done", "started\nfinished\n")


def test_a_second_sigterm_stops_the_running_command_and_records_it(
        member, celery_engine, start_celery_worker):
    proc = start_celery_worker("default", celery_engine)
    pk = submit(member, "echo started; sleep 120")
    eventually(lambda: "started" in log_text(member, pk), "the command to start")

    proc.send_signal(signal.SIGTERM)
    eventually(lambda: "Warm shutdown" in worker_log(proc), "the warm shutdown")
    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=WAIT) == 0
    body = finished(member, pk)
    assert (body["status"], body["error_type"]) == ("error", "WorkerStopped")


def test_a_celery_worker_killed_mid_command_is_reaped_by_another_worker(
        member, celery_engine, start_celery_worker):
    doomed = start_celery_worker("default", celery_engine)
    pk = submit(member, "echo started; sleep 120")
    eventually(lambda: "started" in log_text(member, pk), "the command to start")
    command_pid = Command.objects.get(pk=pk).pid

    os.killpg(celery_pid(doomed), signal.SIGKILL)  # the Celery worker and its pool, at once
    os.killpg(doomed.pid, signal.SIGKILL)
    start_celery_worker("elsewhere", celery_engine)  # any worker's reaper will do

    body = finished(member, pk)
    assert (body["status"], body["error_type"]) == ("error", "WorkerLost")
    eventually(lambda: not process_group_alive(command_pid), "the command's processes to go")


def celery_pid(proc):
    return int(re.search(r"celery worker \S+ \(pid (\d+)\)", worker_log(proc)).group(1))


def process_group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# -- RabbitMQ ---------------------------------------------------------------------------------


@pytest.fixture
def rabbitmq_queue(settings, monkeypatch):
    """A queue of its own on the RabbitMQ at 127.0.0.1:5672, deleted afterwards: other runs
    may share the broker, and RabbitMQ keeps queues until they are deleted."""
    if not reachable("127.0.0.1", 5672):
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    use_celery_engine(settings, monkeypatch, RABBITMQ_URL)
    name = f"jobportal-test-{secrets.token_hex(4)}"
    yield name
    with Connection(RABBITMQ_URL) as conn:
        channel = conn.default_channel
        channel.queue_delete(name)
        channel.exchange_delete(name)


def test_rabbitmq_runs_a_command_from_its_queue(member, rabbitmq_queue, start_celery_worker):
    start_celery_worker(rabbitmq_queue, RABBITMQ_URL)
    pk = submit(member, "echo via rabbitmq", label=rabbitmq_queue)

    assert finished(member, pk)["status"] == "done"
    assert log_text(member, pk) == "via rabbitmq\n"
