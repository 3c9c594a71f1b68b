"""The one submission service: rights, defaults, macros, idempotency, audit, re-run."""

import pytest

from accounts.models import AuditEvent, Group, Membership, Policy, Role
from jobs import submission
from jobs.api.serializers import SubmitSerializer
from jobs.models import DEFINITION_FIELDS, Command, DataSource, SavedQuery
from tests.jobs.factories import submit_shell


def shell(**fields):
    return {"command_type": "shell", "script": "echo hi", **fields}


def fresh(actor):
    """The actor's membership as a new request sees it (its policies read again)."""
    return Membership.objects.select_related("account", "user").get(pk=actor.membership.pk)


def deny(actor, resource, actions, conditions=None):
    """Give ``actor`` a role that denies ``actions`` on ``resource``."""
    role = Role.objects.create(account=actor.account, name=f"deny-{resource}")
    Policy.objects.create(role=role, resource=resource, actions=actions, access="deny",
                          conditions=conditions or {})
    group = Group.objects.create(account=actor.account, name=f"deny-{resource}")
    group.roles.add(role)
    group.members.add(actor.membership)


def test_submit_creates_the_command_and_its_audit_event_together(member):
    command, created = submission.submit(member.membership, shell(name="greet"))
    assert created and command.status == "queued" and command.user == member.user
    event = AuditEvent.objects.get(action="commands.submit")
    assert (event.object_id, event.actor, event.account) == (
        str(command.pk), member.user, member.account)


def test_the_same_submission_id_and_definition_answers_the_existing_command(member):
    first, created = submission.submit(member.membership, shell(submission_id="once"))
    again, created_again = submission.submit(member.membership, shell(submission_id="once"))
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert AuditEvent.objects.filter(action="commands.submit").count() == 1


@pytest.mark.parametrize("change", [{"script": "echo other"}, {"name": "other"},
                                    {"timeout": 5}, {"label": "gpu"}, {"tags": ["x"]}])
def test_the_same_submission_id_with_another_definition_is_a_conflict(member, change):
    submission.submit(member.membership, shell(submission_id="once"))
    with pytest.raises(submission.DuplicateSubmission, match="different definition"):
        submission.submit(member.membership, shell(submission_id="once", **change))
    assert Command.objects.count() == 1


def test_a_submission_id_of_a_command_the_member_cannot_see_says_nothing_about_it(
        admin, member):
    submission.submit(admin.membership, shell(submission_id="secret"))
    deny(member, "commands", ["read"])
    with pytest.raises(submission.DuplicateSubmission) as raised:
        submission.submit(fresh(member), shell(submission_id="secret"))
    assert "already used in this account" in raised.value.message
    assert "command" not in raised.value.message.split("used")[0]


def test_a_type_the_role_may_not_submit_is_refused_before_anything_is_written(member):
    deny(member, "commands", ["submit"], {"command_types": ["shell"]})
    with pytest.raises(submission.NotAllowed, match="may not submit shell"):
        submission.submit(fresh(member), shell())
    assert not Command.objects.exists() and not AuditEvent.objects.exists()


def test_macros_are_resolved_by_the_service(member):
    command, _ = submission.submit(member.membership,
                                   shell(script="echo $day$ $other$", macros={"day": "mon"}))
    assert (command.script, command.resolved_macros) == ("echo mon $other$", {"day": "mon"})


def test_a_sql_command_records_the_built_in_source_when_it_names_none(member):
    command, _ = submission.submit(member.membership, {"command_type": "sql",
                                                       "query": "SELECT 1"})
    assert command.data_source == DataSource.objects.get(account=member.account,
                                                         is_default=True)


def test_the_serializer_validates_fields_and_writes_no_rows(member, rf):
    request = rf.post("/api/v1/commands/")
    serializer = SubmitSerializer(data={"command_type": "sql", "query": "SELECT 1",
                                        "data_source": "default", "saved_query": 7},
                                  context={"request": request})
    assert serializer.is_valid() is False  # a saved query replaces the query
    serializer = SubmitSerializer(data={"command_type": "sql", "query": "SELECT 1",
                                        "data_source": "warehouse"},
                                  context={"request": request})
    assert serializer.is_valid(), serializer.errors
    assert not DataSource.objects.exists() and not Command.objects.exists()


def test_a_rerun_copies_every_field_of_the_definition(member):
    original = submit_shell(member, "echo again", name="n", tags=["t"], timeout=30,
                            metadata={"k": "v"}, runtime_env={"env_vars": {"A": "1"}})
    copy, created = submission.rerun(member.membership, original)
    assert created and copy.pk != original.pk and copy.rerun_of == original
    assert copy.definition_key() == original.definition_key()
    assert copy.submission_id != original.submission_id and copy.source == "rerun"
    assert set(DEFINITION_FIELDS) >= {"script", "query", "data_source", "saved_query"}


def test_a_rerun_rechecks_the_right_to_submit_that_type(member):
    original = submit_shell(member)
    deny(member, "commands", ["submit"], {"command_types": ["shell"]})
    with pytest.raises(submission.NotAllowed):
        submission.rerun(fresh(member), original)


def test_a_rerun_rechecks_the_right_to_read_the_data_source(member):
    original, _ = submission.submit(member.membership, {"command_type": "sql",
                                                        "query": "SELECT 1"})
    deny(member, "data_sources", ["read"])
    with pytest.raises(submission.InvalidDefinition) as raised:
        submission.rerun(fresh(member), original)
    assert raised.value.field == "data_source"


def test_a_rerun_rechecks_the_right_to_run_the_saved_query(member):
    saved = SavedQuery.objects.create(account=member.account, name="q", sql="SELECT 1")
    original, _ = submission.submit(member.membership, {"command_type": "sql",
                                                        "saved_query": saved.pk})
    deny(member, "saved_queries", ["run"])
    with pytest.raises(submission.NotAllowed, match="may not run this saved query"):
        submission.rerun(fresh(member), original)


def test_a_rerun_through_the_api_is_refused_once_the_data_source_is_out_of_reach(member):
    original, _ = submission.submit(member.membership, {"command_type": "sql",
                                                        "query": "SELECT 1"})
    deny(member, "data_sources", ["read"])
    response = member.client.post(f"/api/v1/commands/{original.pk}/rerun/")
    assert response.status_code == 400
    assert "data_source" in response.json()["errors"]
    assert Command.objects.count() == 1
