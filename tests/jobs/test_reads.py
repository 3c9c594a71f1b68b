"""jobs.reads builds commands from its compiled statements as the ORM would."""

import pytest
from django.utils import timezone

from accounts import policy
from jobs import reads
from jobs.models import Command
from tests.jobs.factories import submit_shell

pytestmark = pytest.mark.django_db


def _fields(command):
    return {key: value for key, value in vars(command).items() if key != "_state"}


def test_a_read_command_equals_the_orms(admin):
    made = submit_shell(admin, "echo hi", metadata={"team": "a"}, tags=["x"],
                        runtime_env={"env_vars": {"A": "1"}})
    Command.objects.filter(pk=made.pk).update(status="done", started_at=timezone.now(),
                                              finished_at=timezone.now(), exit_code=0)
    orm = Command.objects.get(pk=made.pk)
    read = reads.visible_command(admin.membership, made.pk)
    assert read.user_email == admin.user.email
    fields = _fields(read)
    assert fields.pop("user_email") == admin.user.email
    assert fields == _fields(orm)
    assert (read._state.adding, read._state.db) == (False, orm._state.db)
    assert read == orm and read.user == admin.user and read.is_terminal


def test_a_read_command_saves_like_any_other(admin):
    read = reads.visible_command_with(admin.membership, submit_shell(admin).pk, "notify")
    read.name = "renamed"
    read.save(update_fields=["name"])
    assert Command.objects.get(pk=read.pk).name == "renamed"


def test_compiled_reads_name_their_placeholders_for_sqlite():
    assert reads._named("SELECT a FROM t WHERE id = %s AND b = %s") == (
        "SELECT a FROM t WHERE id = :p0 AND b = :p1")
    assert reads._named("SELECT 1") == "SELECT 1"
    with pytest.raises(ValueError):
        reads._named("SELECT a FROM t WHERE name LIKE 'x%' AND id = %s")


def test_a_status_read_holds_its_fields_and_defers_the_rest(admin, django_assert_num_queries):
    made = submit_shell(admin, "echo status", metadata={"team": "a"}, submission_id="poll-me")
    orm = Command.objects.get(pk=made.pk)
    policy.can(admin.membership, "read", "commands")  # the member's roles, read once
    with django_assert_num_queries(1):
        read = reads.visible_submission(admin.membership, "poll-me", extra="queue",
                                        only=reads.STATUS_FIELDS)
    assert {name: getattr(read, name) for name in reads.STATUS_FIELDS} == {
        name: getattr(orm, name) for name in reads.STATUS_FIELDS}
    assert read.extras == (1, 0)  # this command waits in the account's queue
    assert read.get_deferred_fields() >= {"script", "metadata", "runtime_env"}
    with django_assert_num_queries(1):  # a field a status does not show: read when asked
        assert read.metadata == {"team": "a"}
    assert read.script == orm.script


def test_a_status_read_by_alias_and_by_submission_id(admin):
    first = submit_shell(admin, submission_id="first")
    # A command whose submission id is another's primary key: the submission id wins.
    second = submit_shell(admin, submission_id=str(first.pk))
    by_id = reads.visible_submission(admin.membership, str(first.pk), pk=first.pk,
                                     only=reads.STATUS_FIELDS)
    assert by_id.pk == second.pk
    by_alias = reads.visible_submission(admin.membership, "cmd-x", pk=first.pk,
                                        only=reads.STATUS_FIELDS)
    assert by_alias.pk == first.pk
    assert reads.visible_submission(admin.membership, "nothing", only=reads.STATUS_FIELDS) is None


def test_a_read_of_fields_the_command_lacks_is_refused():
    with pytest.raises(ValueError, match="no_such_field"):
        reads._statement("default", reads.BY_PK, ("id", "no_such_field"))
