"""Fair share of workers between accounts: one account's flood never keeps another's command
waiting beyond the next free slot, and a queued command says what it waits for."""

import pytest
from django.utils import timezone

from accounts.models import Account
from jobs import lifecycle
from jobs.models import Command, Status
from jobs.worker.loop import Slot, Worker
from tests.jobs.conftest import wait_for
from tests.jobs.factories import submit_shell
from tests.jobs.test_lifecycle import WORKER


@pytest.fixture
def flood(admin, django_capture_on_commit_callbacks):
    """``submit(actor, n)``: n commands of the actor's account, handed to the task engine."""
    Account.objects.filter(pk=admin.account.pk).update(max_concurrency=10)

    def submit(actor, n=1):
        with django_capture_on_commit_callbacks(execute=True):
            return [submit_shell(actor) for _ in range(n)]
    return submit


def next_claimed():
    """The command whose task a free worker takes now (and mark it running, as it would)."""
    task = Slot(Worker(), "w-1").claim_task()
    command = lifecycle.claim(task.args_kwargs["args"][0], WORKER)
    return command.pk


def test_a_free_worker_takes_the_account_holding_fewer_workers_first(admin, outsider, flood):
    first, *rest = flood(admin, 4)
    theirs = flood(outsider)[0]
    assert next_claimed() == first.pk
    assert next_claimed() == theirs.pk
    assert [next_claimed() for _ in rest] == [c.pk for c in rest]


def test_between_equals_the_account_served_least_recently_goes_first(admin, outsider, flood):
    first, second = flood(admin, 2)
    theirs = flood(outsider)[0]
    assert next_claimed() == first.pk
    lifecycle.finish(Command.objects.get(pk=first.pk), Status.DONE, exit_code=0)
    assert next_claimed() == theirs.pk  # neither runs anything; this account ran last
    assert next_claimed() == second.pk


def test_one_accounts_tasks_are_taken_oldest_first(admin, flood, django_assert_num_queries):
    commands = flood(admin, 3)
    assert [next_claimed() for _ in commands] == [c.pk for c in commands]


def test_a_queued_command_says_it_waits_for_a_worker(admin, outsider, flood):
    flood(admin, 3)
    theirs = flood(outsider)[0]
    next_claimed()
    body = outsider.client.get(f"/api/v1/commands/{theirs.pk}/").json()
    assert (body["status"], body["queue_position"]) == ("queued", 3)
    assert body["held_by"] == {"limit": "workers", "label": "default", "running": 1}


@pytest.mark.slow
def test_with_real_workers_a_flood_holds_another_account_one_slot_turnover(
        admin, outsider, start_worker):
    Account.objects.filter(pk=admin.account.pk).update(max_concurrency=6)
    floods = [submit_shell(admin, "sleep 1.5") for _ in range(6)]
    start_worker()
    start_worker()
    wait_for(lambda: Command.objects.filter(status=Status.RUNNING).count() == 2, 60,
             message="both workers busy with the flood")
    single = submit_shell(outsider, "echo hi")
    waiting = outsider.client.get(f"/api/v1/commands/{single.pk}/").json()
    assert waiting["status"] == "queued"
    assert waiting["held_by"] == {"limit": "workers", "label": "default", "running": 2}
    wait_for(lambda: Command.objects.get(pk=single.pk).status == Status.DONE, 120,
             message="the other account's command done")
    single = Command.objects.get(pk=single.pk)
    started_before = Command.objects.filter(
        pk__in=[c.pk for c in floods], started_at__lt=single.started_at).count()
    # The two running when it arrived, and at most one more that took a slot freed while
    # the other worker was between commands: never the rest of the flood.
    assert started_before <= 3
    assert single.started_at <= timezone.now()
