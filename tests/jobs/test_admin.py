"""The operator job history in the Django admin: list, search, filters, detail, actions."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent, Group, Policy, Role, User
from jobs.admin import AdminCommandQuerySet, EstimatedCountPaginator
from jobs.models import Command, LogChunk, Status

CHANGELIST = "/admin/jobs/command/"


def change_url(command):
    return f"/admin/jobs/command/{command.pk}/change/"


def make(account, **fields):
    fields = {"command_type": "shell", "script": "true", "timeout": 60, **fields}
    return Command.objects.create(account=account, **fields)


def analyse():
    """Fresh planner statistics: on PostgreSQL the admin's unfiltered count is the
    ``pg_class`` estimate, which an earlier test's ANALYZE may have left at thousands of rows
    (ANALYZE writes it in place, so a rollback keeps it)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_command")  # counts this transaction's own rows as live


def listed(response):
    """The ids the changelist shows, in order."""
    assert response.status_code == 200
    return [command.pk for command in response.context["cl"].result_list]


@pytest.fixture
def operator(db, client):
    user = User.objects.create_superuser("ops@portal.test")
    client.force_login(user)
    return client


def test_changelist_of_many_commands_costs_a_bounded_number_of_queries(
    operator, account, other_account, member, django_assert_max_num_queries
):
    for i in range(30):
        make(account, user=member.user, name=f"job {i}", label=f"queue-{i % 3}")
        make(other_account, status=Status.DONE, started_at=timezone.now(),
             finished_at=timezone.now(), hostname="node-1", pid=40 + i)
    analyse()
    with django_assert_max_num_queries(15):
        response = operator.get(CHANGELIST)
    assert len(listed(response)) == 60
    assert response.context["cl"].result_count == 60
    assert "queue-2" in response.content.decode()


def test_changelist_is_newest_first(operator, account):
    first, second = make(account), make(account)
    assert listed(operator.get(CHANGELIST)) == [second.pk, first.pk]


def test_a_numeric_term_finds_that_id_only(operator, account):
    target = make(account, name=f"x{make(account).pk}")  # a name holding another id
    assert listed(operator.get(CHANGELIST, {"q": str(target.pk)})) == [target.pk]
    assert listed(operator.get(CHANGELIST, {"q": f"#{target.pk}"})) == [target.pk]
    assert listed(operator.get(CHANGELIST, {"q": "99999999999999999999999"})) == []


def test_search_by_submission_id_is_exact(operator, account):
    target = make(account, submission_id="raysubmit_abc")
    make(account, submission_id="raysubmit_abcdef")
    numeric = make(account, submission_id="424242")
    assert listed(operator.get(CHANGELIST, {"q": "raysubmit_abc"})) == [target.pk]
    assert listed(operator.get(CHANGELIST, {"q": "sub:424242"})) == [numeric.pk]


def test_search_by_user_email_finds_their_commands(operator, account, member, reader):
    mine = [make(account, user=member.user).pk for _ in range(2)]
    make(account, user=reader.user)
    found = listed(operator.get(CHANGELIST, {"q": "Member@Acme.test"}))
    assert sorted(found) == sorted(mine)
    assert sorted(listed(operator.get(CHANGELIST, {"q": "user:member@acme.test"}))) == mine


def test_search_by_name_substring_label_and_combined_terms(operator, account, member):
    nightly = make(account, name="nightly export", label="etl", user=member.user)
    make(account, name="nightly cleanup", label="default")
    assert listed(operator.get(CHANGELIST, {"q": "export"})) == [nightly.pk]
    assert listed(operator.get(CHANGELIST, {"q": "label:etl"})) == [nightly.pk]
    assert listed(operator.get(CHANGELIST, {"q": 'name:"nightly export"'})) == [nightly.pk]
    assert listed(operator.get(CHANGELIST, {"q": "nightly member@acme.test"})) == [nightly.pk]


def test_filters_by_status_type_account_and_label(operator, account, other_account):
    waiting = make(account)
    sql = make(account, command_type="sql", query="select 1", status=Status.DONE)
    elsewhere = make(other_account, label="gpu")
    assert listed(operator.get(CHANGELIST, {"status__exact": "waiting"})) == [
        elsewhere.pk, waiting.pk]
    assert listed(operator.get(CHANGELIST, {"command_type__exact": "sql"})) == [sql.pk]
    assert listed(operator.get(CHANGELIST, {"account__id__exact": other_account.pk})) == [
        elsewhere.pk]
    response = operator.get(CHANGELIST, {"label": "gpu"})
    assert listed(response) == [elsewhere.pk]
    assert "?label=gpu" in response.content.decode()  # offered as a filter choice


def test_filters_by_state_error_type_and_submitter(operator, account, member, reader):
    running = make(account, status=Status.RUNNING, user=member.user)
    failed = make(account, status=Status.ERROR, error_type="NonZeroExit", exit_code=2,
                  user=reader.user)
    timed_out = make(account, status=Status.ERROR, error_type="Timeout", user=member.user)
    assert listed(operator.get(CHANGELIST, {"state": "active"})) == [running.pk]
    assert listed(operator.get(CHANGELIST, {"state": "finished"})) == [timed_out.pk, failed.pk]
    response = operator.get(CHANGELIST, {"error_type": "NonZeroExit"})
    assert listed(response) == [failed.pk]
    assert "?error_type=Timeout" in response.content.decode()
    response = operator.get(CHANGELIST, {"user": "member@acme.test"})
    assert listed(response) == [timed_out.pk, running.pk]
    assert "?user=reader%40acme.test" in response.content.decode()


def test_the_list_says_what_each_command_is_and_how_it_ended(operator, account):
    make(account, name="nightly export", status=Status.ERROR, error_type="NonZeroExit",
         exit_code=3)
    make(account, script="python train.py --epochs 10 " + "x" * 200, progress=40,
         status=Status.WAITING, throttled=True)
    Command.objects.update(created_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    body = operator.get(CHANGELIST).content.decode()
    assert "nightly export" in body
    assert "python train.py --epochs 10 xxx" in body and "x" * 100 not in body
    assert '<span class="jp-status jp-status-error">error</span>' in body
    assert '<span class="jp-status jp-status-waiting">waiting (throttled)</span>' in body
    assert "NonZeroExit · exit 3" in body
    assert '<progress class="jp-progress" max="100" value="40"' in body
    assert "2026-03-04 05:06:07" in body
    assert "Jobportal administration" in body


def test_date_hierarchy_drills_down_by_year(operator, account):
    old, new = make(account), make(account)
    Command.objects.filter(pk=old.pk).update(
        created_at=datetime(2023, 5, 17, 12, tzinfo=UTC))
    response = operator.get(CHANGELIST)
    body = response.content.decode()
    assert "created_at__year=2023" in body
    assert f"created_at__year={timezone.now().year}" in body
    assert listed(operator.get(CHANGELIST, {"created_at__year": 2023})) == [old.pk]
    assert new.pk not in listed(operator.get(CHANGELIST, {"created_at__year": 2023}))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_date_buckets_match_djangos_distinct_scan(account, kind, zone):
    moments = [datetime(2023, 12, 31, 23, 30), datetime(2024, 1, 1, 0, 10),
               datetime(2024, 1, 1, 9), datetime(2024, 3, 2, 8), datetime(2025, 7, 4, 5)]
    for moment in moments:
        Command.objects.filter(pk=make(account).pk).update(
            created_at=moment.replace(tzinfo=UTC))
    with timezone.override(ZoneInfo(zone)):  # buckets are local days, as the admin shows them
        stock = list(Command.objects.datetimes("created_at", kind))
        probed = AdminCommandQuerySet(Command).datetimes("created_at", kind)
        descending = AdminCommandQuerySet(Command).datetimes("created_at", kind, "DESC")
    assert probed == stock
    assert descending == stock[::-1]


def test_a_filtered_count_stops_at_the_cap(account, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_CAP", 10)
    Command.objects.bulk_create(
        Command(account=account, command_type="shell", script="true", timeout=60)
        for _ in range(25))
    filtered = Command.objects.filter(account=account).order_by("-id")
    assert EstimatedCountPaginator(filtered, 5).count == 10
    assert EstimatedCountPaginator(filtered.filter(pk__lt=0), 5).count == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class estimate: PostgreSQL")
def test_an_unfiltered_count_on_postgresql_is_the_planner_estimate(account, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_CAP", 10)
    Command.objects.bulk_create(
        Command(account=account, command_type="shell", script="true", timeout=60)
        for _ in range(25))
    analyse()
    assert EstimatedCountPaginator(Command.objects.order_by("-id"), 5).count == 25


def test_detail_page_shows_the_escaped_log_tail_and_the_error(operator, account):
    command = make(account, status=Status.ERROR, error_type="ExitCode",
                   error_message="boom <b>bold</b>", exit_code=3)
    out, err = b"hello <script>alert(1)</script>\n", b"bad & worse\n"
    LogChunk.objects.create(command=command, seq=0, stream="stdout", offset=0,
                            stream_offset=0, data=out)
    LogChunk.objects.create(command=command, seq=1, stream="stderr", offset=len(out),
                            stream_offset=0, data=err)
    body = operator.get(change_url(command)).content.decode()
    assert "hello &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "bad &amp; worse" in body
    assert "<script>alert(1)" not in body
    assert "boom &lt;b&gt;bold&lt;/b&gt;" in body
    assert f"{len(out) + len(err)} bytes" in body


def write_log(command, data, piece=60_000):
    for seq, offset in enumerate(range(0, len(data), piece)):
        LogChunk.objects.create(command=command, seq=seq, stream="stdout", offset=offset,
                                stream_offset=offset, data=data[offset:offset + piece])
    Command.objects.filter(pk=command.pk).update(log_size=len(data))


def test_detail_page_of_a_long_log_shows_its_end_and_loads_earlier_parts(operator, account):
    command = make(account, status=Status.DONE)
    data = b"THE-START" + b"a" * 99_982 + b"THE-END\n\n"
    write_log(command, data)
    body = operator.get(change_url(command)).content.decode()
    assert "THE-END" in body and "THE-START" not in body
    assert "last 65536 of 100000 bytes" in body
    earlier = operator.get(f"/admin/jobs/command/{command.pk}/log/", {"before": 100_000 - 65_536})
    assert earlier.content.startswith(b"THE-START") and earlier["X-Log-Start"] == "0"
    whole = operator.get(f"/admin/jobs/command/{command.pk}/log/", {"whole": 1})
    assert b"".join(whole.streaming_content) == data
    assert "attachment" in whole["Content-Disposition"]


def test_new_output_of_a_running_command_is_read_after_an_offset(operator, account):
    command = make(account, status=Status.RUNNING, started_at=timezone.now())
    write_log(command, b"first\nsecond\n")
    part = operator.get(f"/admin/jobs/command/{command.pk}/log/", {"after": 6})
    assert part.content == b"second\n"
    assert (part["X-Log-Next"], part["X-Log-Active"]) == ("13", "1")
    assert 'data-active="1"' in operator.get(change_url(command)).content.decode()


def test_the_overview_shows_times_to_the_second_and_the_script_once(operator, account):
    command = make(account, script="echo unique-script-text", status=Status.DONE,
                   exit_code=0, hostname="node-9", pid=4242, worker_id="w-9")
    Command.objects.filter(pk=command.pk).update(
        created_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        queued_at=datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC),
        started_at=datetime(2026, 3, 4, 5, 6, 9, tzinfo=UTC),
        finished_at=datetime(2026, 3, 4, 5, 7, 19, tzinfo=UTC))
    body = operator.get(change_url(command)).content.decode()
    for text in ("2026-03-04 05:06:07", "2026-03-04 05:06:09", "2026-03-04 05:07:19",
                 "ran 0:01:10", "node-9", "pid 4242"):
        assert text in body, text
    assert body.count("echo unique-script-text") == 1


def test_a_sql_result_is_previewed_with_download_links(operator, account):
    from jobs.models import ResultChunk

    command = make(account, command_type="sql", query="select 1", status=Status.DONE,
                   result_columns=[{"name": "n", "type": "INTEGER"}], result_row_count=2)
    ResultChunk.objects.create(command=command, seq=0, row_start=0, row_count=2,
                               rows=[[1], [2]])
    body = operator.get(change_url(command)).content.decode()
    assert "2 of 2 rows" in body and "<td>2</td>" in body
    csv = operator.get(f"/admin/jobs/command/{command.pk}/download/", {"format": "csv"})
    assert b"".join(csv.streaming_content).decode().split() == ["n", "1", "2"]


def test_cancel_and_rerun_buttons_go_through_the_lifecycle(operator, account, member):
    command = make(account, user=member.user)
    body = operator.get(change_url(command)).content.decode()
    assert f"/admin/jobs/command/{command.pk}/cancel/" in body
    assert operator.get(f"/admin/jobs/command/{command.pk}/cancel/").status_code == 405
    operator.post(f"/admin/jobs/command/{command.pk}/cancel/")
    assert Command.objects.get(pk=command.pk).status == Status.CANCELLED
    assert AuditEvent.objects.filter(action="commands.cancel").exists()
    assert f"/admin/jobs/command/{command.pk}/cancel/" not in operator.get(
        change_url(command)).content.decode()
    operator.post(f"/admin/jobs/command/{command.pk}/rerun/")
    assert Command.objects.filter(rerun_of=command).count() == 1


def test_detail_page_is_read_only(operator, account):
    command = make(account, name="original")
    response = operator.get(change_url(command))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert operator.post(change_url(command), {"name": "edited"}).status_code == 403
    assert Command.objects.get(pk=command.pk).name == "original"
    assert operator.get("/admin/jobs/command/add/").status_code == 403


def run_action(client, action, commands):
    return client.post(CHANGELIST, {
        "action": action, "_selected_action": [c.pk for c in commands],
    }, follow=True)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_cancel_action_ends_waiting_and_queued_and_reports_finished(operator, account):
    waiting, queued = make(account), make(account, status=Status.QUEUED)
    running = make(account, status=Status.RUNNING, started_at=timezone.now())
    done = make(account, status=Status.DONE, finished_at=timezone.now())
    response = run_action(operator, "cancel_commands", [waiting, queued, running, done])
    statuses = dict(Command.objects.values_list("pk", "status"))
    assert statuses[waiting.pk] == statuses[queued.pk] == Status.CANCELLED
    assert statuses[running.pk] == Status.RUNNING
    assert Command.objects.get(pk=running.pk).cancel_requested_at is not None
    assert statuses[done.pk] == Status.DONE
    shown = messages_of(response)
    assert any("Cancelled 2 command(s)" in m and "1 running" in m for m in shown)
    assert any("not cancellable" in m and f"#{done.pk}" in m for m in shown)
    assert AuditEvent.objects.filter(action="commands.cancel").count() == 3


def test_cancel_action_on_finished_commands_only_reports_them(operator, account):
    done = make(account, status=Status.DONE, finished_at=timezone.now())
    shown = messages_of(run_action(operator, "cancel_commands", [done]))
    assert shown == [f"1 command(s) already finished, not cancellable: #{done.pk}."]


def test_rerun_action_submits_new_commands_for_the_original_submitter(operator, account, member):
    done = make(account, status=Status.DONE, name="report", script="echo hi",
                finished_at=timezone.now(), user=member.user)
    failed = make(account, status=Status.ERROR, finished_at=timezone.now(), user=member.user)
    response = run_action(operator, "rerun_commands", [done, failed])
    reruns = Command.objects.filter(rerun_of__in=[done, failed])
    assert reruns.count() == 2
    copy = reruns.get(rerun_of=done)
    assert (copy.name, copy.script, copy.source) == ("report", "echo hi", "rerun")
    assert copy.status in Status.ACTIVE
    assert copy.user == member.user
    assert any("Re-ran 2 command(s)" in m for m in messages_of(response))
    event = AuditEvent.objects.get(action="commands.rerun", object_id=str(copy.pk))
    assert event.actor.is_staff and event.detail == {"rerun_of": done.pk, "via": "admin"}


def test_rerun_action_refuses_what_the_submitter_may_no_longer_run(operator, account, member):
    gone = make(account, status=Status.DONE, finished_at=timezone.now())  # no submitter
    denied = make(account, status=Status.DONE, finished_at=timezone.now(), user=member.user)
    role = Role.objects.create(account=account, name="no-shell")
    Policy.objects.create(role=role, resource="commands", actions=["submit"], access="deny",
                          conditions={"command_types": ["shell"]})
    group = Group.objects.create(account=account, name="no-shell")
    group.roles.add(role)
    group.members.add(member.membership)

    response = run_action(operator, "rerun_commands", [gone, denied])

    assert not Command.objects.filter(rerun_of__in=[gone, denied]).exists()
    warning = " ".join(messages_of(response))
    assert f"#{gone.pk}: its submitter is no longer an active member" in warning
    assert f"#{denied.pk}: Your role may not submit shell commands" in warning


@pytest.mark.parametrize("url", [CHANGELIST, "/admin/jobs/command/1/change/"])
def test_a_user_who_is_not_staff_is_sent_to_the_login(client, member, url):
    client.force_login(member.user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_log_chunks_have_no_admin_of_their_own(operator):
    assert operator.get("/admin/jobs/logchunk/").status_code == 404
