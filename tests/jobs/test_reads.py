"""jobs.reads builds commands from its compiled statements as the ORM would."""

import pytest
from django.utils import timezone

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
