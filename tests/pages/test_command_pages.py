"""The command pages through Django's test client: who may see and do what, what the pages
say, and what a page view costs in queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from jobs.logs import LogWriter
from jobs.models import Command, Status
from tests.jobs.factories import submit_shell
from tests.pages.helpers import browser, finish_sql

# --- access to one command ------------------------------------------------------------------


@pytest.mark.parametrize(("who", "code"), [("admin", 200), ("member", 200), ("reader", 200),
                                           ("outsider", 404)])
def test_the_status_page_answers_the_account_and_404_to_an_outsider(actors, who, code):
    command = submit_shell(actors["member"], "echo hi")
    assert browser(actors[who]).get(f"/commands/{command.pk}/").status_code == code


@pytest.mark.parametrize("path", ["summary/", "log/", "rows/"])
def test_the_fragments_of_a_status_page_are_404_to_an_outsider(actors, path):
    command = submit_shell(actors["member"])
    assert browser(actors["outsider"]).get(f"/commands/{command.pk}/{path}").status_code == 404


@pytest.mark.parametrize(("who", "shown"), [("admin", True), ("member", True),
                                            ("reader", False)])
def test_the_cancel_button_shows_only_where_the_role_allows(actors, who, shown):
    command = submit_shell(actors["member"], "sleep 60")
    page = browser(actors[who]).get(f"/commands/{command.pk}/").content.decode()
    assert ('id="cancel-button"' in page) is shown
    assert ('id="rerun-button"' in page) is shown


def test_a_member_sees_no_cancel_button_on_someone_elses_command(admin, member):
    command = submit_shell(admin, "sleep 60")
    page = browser(member).get(f"/commands/{command.pk}/").content.decode()
    assert 'id="cancel-button"' not in page


def test_cancel_is_refused_to_a_reader_whatever_the_page_showed(actors):
    command = submit_shell(actors["member"], "sleep 60")
    response = browser(actors["reader"]).post(f"/commands/{command.pk}/cancel/")
    assert response.status_code == 403
    assert b"may not cancel" in response.content
    assert Command.objects.get(pk=command.pk).status == Status.QUEUED
    assert browser(actors["outsider"]).post(f"/commands/{command.pk}/cancel/").status_code == 404


def test_cancel_by_the_owner_goes_through_the_lifecycle_and_the_audit_trail(member):
    command = submit_shell(member, "sleep 60")
    response = browser(member).post(f"/commands/{command.pk}/cancel/", follow=True)
    assert Command.objects.get(pk=command.pk).status == Status.CANCELLED
    assert AuditEvent.objects.filter(action="commands.cancel", object_id=str(command.pk)).exists()
    assert b"Cancel requested" in response.content


def test_cancel_of_a_finished_command_says_why_and_changes_nothing(member):
    command = finish_sql(member)
    response = browser(member).post(f"/commands/{command.pk}/cancel/", follow=True)
    assert b"only waiting, queued or running commands can be cancelled" in response.content


def test_rerun_submits_the_same_definition_as_a_new_command(member):
    command = submit_shell(member, "echo again", name="again")
    response = browser(member).post(f"/commands/{command.pk}/rerun/")
    new = Command.objects.latest("id")
    assert response.status_code == 302 and response["Location"] == f"/commands/{new.pk}/"
    assert (new.script, new.name, new.rerun_of_id, new.source) == (
        "echo again", "again", command.pk, "rerun")


def test_rerun_is_refused_to_a_reader(actors):
    command = submit_shell(actors["member"])
    assert browser(actors["reader"]).post(f"/commands/{command.pk}/rerun/").status_code == 403
    assert Command.objects.count() == 1


# --- what the status page says --------------------------------------------------------------


def test_the_status_page_shows_status_progress_times_and_the_definition(member):
    command = submit_shell(member, "echo hi", name="greeting", tags=["t1"])
    Command.objects.filter(pk=command.pk).update(progress=40, steps_ready=2, steps_total=5)
    page = browser(member).get(f"/commands/{command.pk}/").content.decode()
    assert f"Command {command.pk}: greeting" in page
    assert 'class="badge badge-queued">queued<' in page
    assert '<progress id="progress" max="100" value="40">' in page
    assert "2 of 5 steps" in page
    assert 'aria-live="polite"' in page
    assert "echo hi" in page and "Queued: waiting for a free worker" in page
    assert f'data-events="/api/v1/commands/{command.pk}/events/" data-offset="0"' in page


def test_a_throttled_command_says_which_limit_holds_it(member):
    for _ in range(3):
        command = submit_shell(member, "sleep 60")
    page = browser(member).get(f"/commands/{command.pk}/").content.decode()
    assert "badge-throttled" in page
    assert "number 1 in the account's queue" in page
    assert "Held by the account's concurrency limit: 2 of 2 slots in use." in page


def test_secret_looking_environment_values_are_redacted_for_others(admin, reader, member):
    command = submit_shell(member, "env", runtime_env={"env_vars": {"API_TOKEN": "s3cret",
                                                                    "REGION": "north"}},
                           metadata={"db_password": "hunter2", "team": "etl"})
    seen = browser(reader).get(f"/commands/{command.pk}/").content.decode()
    assert "s3cret" not in seen and "hunter2" not in seen
    assert "REGION=north" in seen and "team=etl" in seen and "db_password=********" in seen
    own = browser(member).get(f"/commands/{command.pk}/").content.decode()
    assert "API_TOKEN=s3cret" in own and "db_password=hunter2" in own


def test_the_log_tail_starts_at_the_end_and_earlier_parts_load_on_demand(member):
    command = submit_shell(member)
    writer = LogWriter(command.pk, 10**7)
    for number in range(30_000):  # about 330 KB
        writer.append("stdout", f"line {number:05d} é\n".encode())
    writer.flush()
    Command.objects.filter(pk=command.pk).update(log_size=writer.size)
    client = browser(member)
    page = client.get(f"/commands/{command.pk}/").content.decode()
    assert "line 29999" in page and "line 00000" not in page
    assert len(page) < 120_000  # the tail, not the log
    before = int(page.split("?before=")[1].split('"')[0])
    earlier = client.get(f"/commands/{command.pk}/log/?before={before}").content.decode()
    assert "\ufffd" not in earlier  # never a character cut in two
    assert 'id="log-earlier"' in earlier and 'hx-swap-oob="true"' in earlier
    start = int(earlier.split("?before=")[1].split('"')[0])
    assert 0 < start < before


def test_a_done_sql_command_shows_its_first_rows_and_pages_on_by_cursor(member):
    command = finish_sql(member)
    client = browser(member)
    page = client.get(f"/commands/{command.pk}/").content.decode()
    assert "Rows 1 to 50 of 120" in page
    assert f"/api/v1/commands/{command.pk}/results/download/?format=csv" in page
    next_url = page.split('id="next-rows" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(next_url, HTTP_HX_REQUEST="true").content.decode()
    assert "Rows 51 to 100 of 120" in second and "<td>50</td>" in second
    bad = client.get(f"/commands/{command.pk}/rows/?cursor=nonsense")
    assert bad.status_code == 400


def test_the_download_link_works_with_the_session(member):
    command = finish_sql(member)
    response = browser(member).get(
        f"/api/v1/commands/{command.pk}/results/download/?format=csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[:3] == ["n", "0", "1"] and len(body.splitlines()) == 121


def test_the_status_page_costs_a_fixed_number_of_queries(member, django_assert_num_queries):
    command = finish_sql(member)
    client = browser(member)
    client.get(f"/commands/{command.pk}/")
    # session, user, membership, command, policies, result page, the switcher's memberships,
    # the command's notify subscriptions (an empty log costs no read; a SQL command's data
    # source name would be one more)
    with django_assert_num_queries(8):
        assert client.get(f"/commands/{command.pk}/").status_code == 200


# --- history ---------------------------------------------------------------------------------


def test_the_history_lists_newest_first_with_badges_and_progress(member, outsider):
    first = submit_shell(member, "echo one", name="first")
    second = submit_shell(member, "echo two", name="second")
    submit_shell(outsider, "echo theirs", name="theirs")
    page = browser(member).get("/commands/").content.decode()
    assert page.index("second") < page.index("first")
    assert "theirs" not in page
    assert f'href="/commands/{first.pk}/"' in page and f'href="/commands/{second.pk}/"' in page
    assert 'aria-label="Progress of command' in page


def test_history_filters_are_the_apis_and_live_in_the_url(member):
    submit_shell(member, "echo a", name="alpha")
    done = finish_sql(member)
    client = browser(member)
    page = client.get("/commands/?status=done").content.decode()
    assert f'href="/commands/{done.pk}/"' in page and "alpha" not in page
    page = client.get("/commands/?search=alph").content.decode()
    assert "alpha" in page and f'href="/commands/{done.pk}/"' not in page
    assert 'value="alph"' in page  # the form shows the filter it came from
    assert client.get("/commands/?status=bogus").status_code == 400
    dated = client.get("/commands/?created_after=2000-01-01&created_before=2999-01-01")
    assert dated.status_code == 200 and "alpha" in dated.content.decode()
    assert "alpha" not in client.get("/commands/?created_before=2000-01-01").content.decode()


def test_the_history_pages_by_cursor_without_counting(member, django_assert_num_queries):
    for number in range(30):
        submit_shell(member, f"echo {number}", name=f"job-{number:02d}")
    client = browser(member)
    client.get("/commands/")
    # session, user, membership, policies, one page of rows, the switcher's memberships
    with django_assert_num_queries(6) as queries:
        page = client.get("/commands/").content.decode()
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    assert "job-29" in page and "job-04" not in page
    older = page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = client.get(older.replace("&amp;", "&")).content.decode()
    assert "job-04" in second and "job-29" not in second and 'rel="prev"' in second


def test_an_htmx_request_gets_the_table_alone(member):
    submit_shell(member)
    fragment = browser(member).get("/commands/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="history"') and "<html" not in fragment


# --- submit ----------------------------------------------------------------------------------


def test_a_shell_command_submitted_from_the_form_runs_through_the_submission_service(member):
    client = browser(member)
    page = client.get("/commands/new/").content.decode()
    sid = page.split('name="submission_id" value="')[1].split('"')[0]
    form = {"script": "echo hello", "name": "hello", "label": "", "tags": "a, b",
            "env": "GREETING=hi", "timeout": "", "submission_id": sid}
    response = client.post("/commands/new/?kind=shell", form)
    command = Command.objects.get()
    assert response["Location"] == f"/commands/{command.pk}/"
    assert (command.script, command.tags, command.source) == ("echo hello", ["a", "b"], "ui")
    assert command.runtime_env == {"env_vars": {"GREETING": "hi"}}
    assert client.post("/commands/new/?kind=shell", form)["Location"] == response["Location"]
    assert Command.objects.count() == 1  # a double click submits once


def test_the_form_shows_the_apis_field_errors(member):
    client = browser(member)
    response = client.post("/commands/new/?kind=shell", {
        "script": "true", "label": "no spaces here", "env": "JOBPORTAL_X=1",
        "submission_id": "ui-1"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Letters, digits, &#x27;_&#x27;, &#x27;.&#x27; and &#x27;-&#x27; only." in page
    assert "JOBPORTAL_* variables are set by the portal" in page
    assert Command.objects.count() == 0


def test_sql_against_an_unknown_data_source_names_the_field(member):
    response = browser(member).post("/commands/new/?kind=sql", {
        "query": "SELECT :x", "data_source": "default", "parameters": "{}",
        "submission_id": "ui-2"})
    assert response.status_code == 400
    assert "is used in the SQL (:x) but has no value" in response.content.decode()


def test_a_saved_query_form_is_built_from_its_parameters(member):
    from jobs.models import SavedQuery

    saved = SavedQuery.objects.create(
        account=member.account, name="by region", sql="SELECT :region AS r, :n AS n",
        parameters=[{"name": "region", "type": "string", "required": True},
                    {"name": "n", "type": "integer", "default": 3, "required": False}])
    client = browser(member)
    page = client.get(f"/commands/new/?kind=saved&saved_query={saved.pk}").content.decode()
    assert 'name="param_region"' in page and 'name="param_n"' in page
    assert 'type="number"' in page
    missing = client.post(f"/commands/new/?kind=saved&saved_query={saved.pk}",
                          {"param_n": "x", "submission_id": "ui-3"})
    assert missing.status_code == 400
    assert "is required (string)" in missing.content.decode()
    assert "must be an integer" in missing.content.decode()
    ok = client.post(f"/commands/new/?kind=saved&saved_query={saved.pk}",
                     {"param_region": "North", "param_n": "5", "submission_id": "ui-4"})
    command = Command.objects.get()
    assert ok["Location"] == f"/commands/{command.pk}/"
    assert command.parameters == {"region": "North", "n": 5}
    assert command.saved_query_id == saved.pk


def test_a_reader_may_not_submit(reader):
    assert browser(reader).get("/commands/new/").status_code == 403
    assert browser(reader).post("/commands/new/", {"script": "true"}).status_code == 403
    assert Command.objects.count() == 0


# --- queue -----------------------------------------------------------------------------------


def test_the_queue_shows_running_queued_and_waiting_with_what_holds_them(member, outsider):
    commands = [submit_shell(member, f"sleep {n}") for n in range(4)]
    Command.objects.filter(pk=commands[0].pk).update(status=Status.RUNNING)
    submit_shell(outsider, "theirs")
    page = browser(member).get("/commands/queue/").content.decode()
    assert "<strong>2</strong> of 2 slots in use" in page
    assert "<strong>1</strong> running" in page and "<strong>2</strong> waiting" in page
    assert "Waiting: held by the account's limit of 2 at once" in page
    assert "theirs" not in page
    assert 'hx-trigger="every 2s"' in page


def test_the_queue_is_a_fixed_number_of_queries(member, django_assert_num_queries):
    for n in range(5):
        submit_shell(member, f"sleep {n}")
    client = browser(member)
    client.get("/commands/queue/")
    with django_assert_num_queries(6):  # session, user, membership, counts, policies, rows
        client.get("/commands/queue/", HTTP_HX_REQUEST="true")




@pytest.mark.parametrize("query", ["", "?status=done", "?user=member@acme.test&label=default",
                                   "?created_after=2000-01-01&search=x"])
def test_the_history_runs_the_api_lists_query(member, query):
    """The same statement as GET /api/v1/commands/ (so the same indexes; only the page size
    differs), which tests/jobs/test_indexes.py checks on PostgreSQL."""
    submit_shell(member)

    def listing(client, path):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        found = [q["sql"] for q in queries.captured_queries if 'FROM "jobs_command"' in q["sql"]]
        assert len(found) == 1, found
        return re.sub(r"LIMIT \d+", "LIMIT n", found[0])

    page = listing(browser(member), f"/commands/{query}")
    assert page == listing(member.client, f"/api/v1/commands/{query}")


@pytest.mark.parametrize("ref", ["0", "abc", "99999999999999999999", "12345"])
def test_a_saved_query_that_is_not_one_is_404(member, ref):
    response = browser(member).get(f"/commands/new/?kind=saved&saved_query={ref}")
    assert response.status_code == 404


def test_a_member_who_may_submit_only_sql_gets_the_sql_form(account):
    from accounts.models import Policy, Role
    from tests.conftest import make_member

    role = Role.objects.create(account=account, name="sql-only")
    Policy.objects.create(role=role, resource="commands", actions=["read", "submit"],
                          conditions={"command_types": ["sql"]})
    Policy.objects.create(role=role, resource="data_sources", actions=["read"])
    analyst = make_member(account, "analyst@acme.test", roles=[role])
    page = browser(analyst).get("/commands/new/").content.decode()
    assert 'name="query"' in page and 'name="script"' not in page
    assert "?kind=shell" not in page
    refused = browser(analyst).post("/commands/new/?kind=shell", {
        "script": "id", "submission_id": "ui-9"})
    assert refused.status_code == 403 and "may not submit shell" in refused.content.decode()


@pytest.mark.parametrize("query", [
    "?cursor=%00", "?cursor=" + "x" * 5000, "?page_size=999999", "?page_size=-1",
    "?search=%00", "?label=%00", "?user=%00", "?created_after=not-a-date",
    "?created_after=99999-01-01", "?status=done&status=%00", "?search=" + "é" * 3000,
])
def test_hostile_history_queries_answer_4xx_or_a_page_never_a_500(member, query):
    assert browser(member).get(f"/commands/{query}").status_code in (200, 400)


@pytest.mark.parametrize("path", [
    "log/?before=%00", "log/?before=99999999999999999999999", "rows/?cursor=%00",
    "rows/?cursor=" + "A" * 2000,
])
def test_hostile_fragment_queries_never_a_500(member, path):
    command = finish_sql(member)
    assert browser(member).get(f"/commands/{command.pk}/{path}").status_code in (200, 400)
