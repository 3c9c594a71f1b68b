"""Two requests racing for one unique value: the loser hears a 400 naming the field (what it
would have heard a moment later), never a 500, and nothing half-written stays."""

import threading
import time

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Group
from jobportal.problems import exception_handler
from jobs.models import Dataset, SavedQuery


def clash(make):
    """The IntegrityError the database itself raises for a duplicate ``make()``."""
    make()
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        make()
    return caught.value


@pytest.mark.parametrize(("make", "field"), [
    (lambda a: SavedQuery.objects.create(account=a, name="q", sql="SELECT 1"), "name"),
    (lambda a: Group.objects.create(account=a, name="ops"), "name"),
    # Unique on an expression (lower(name)), which SQLite reports by the index's name.
    (lambda a: Dataset.objects.create(account=a, name="sales", file="x.csv"), "name"),
])
def test_a_unique_clash_from_the_database_is_a_400_naming_the_field(member, make, field):
    response = exception_handler(clash(lambda: make(member.account)), {})
    assert response.status_code == 400
    assert list(response.data["errors"]) == [field]
    assert "Another request has just taken this name" in response.data["errors"][field][0]


def test_an_integrity_error_that_is_no_clash_stays_a_server_error(member):
    error = IntegrityError("NOT NULL constraint failed: jobs_savedquery.sql")
    assert exception_handler(error, {}).status_code == 500


@pytest.mark.skipif("connection.vendor != 'postgresql'",
                    reason="needs a second connection writing concurrently: PostgreSQL")
def test_two_creates_racing_for_one_name_answer_201_and_400(transactional_db, admin):
    """The first create holds its uncommitted row while the second passes its own check (it
    cannot see that row) and then waits on the unique index; the first commits, the second
    fails at the database and answers 400 naming ``name``."""
    holding, release = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            SavedQuery.objects.create(account=admin.account, name="daily", sql="SELECT 1")
            holding.set()
            release.wait(30)
        connection.close()

    winner = threading.Thread(target=first)
    winner.start()
    holding.wait(30)
    answers = []

    def second():
        answers.append(admin.client.post(
            "/api/v1/saved-queries/", {"name": "daily", "sql": "SELECT 2"}, format="json"))
        connection.close()

    loser = threading.Thread(target=second)
    loser.start()
    with connection.cursor() as cursor:  # the second waits on the first's index entry
        for _ in range(300):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                           "'Lock' AND datname = current_database()")
            if cursor.fetchone()[0]:
                break
            time.sleep(0.1)
    release.set()
    winner.join(30)
    loser.join(30)
    response = answers[0]
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["name"]
    assert list(SavedQuery.objects.filter(account=admin.account, name="daily")
                .values_list("sql", flat=True)) == ["SELECT 1"]


def test_a_page_that_loses_the_race_says_so_with_a_400(member, rf):
    from accounts.pages import member_view

    @member_view
    def create_twice(request):
        SavedQuery.objects.create(account=member.account, name="q", sql="SELECT 1")
        with transaction.atomic():
            SavedQuery.objects.create(account=member.account, name="q", sql="SELECT 2")

    request = rf.post("/saved-queries/")
    request.user, request.membership = member.user, member.membership
    response = create_twice(request)
    assert response.status_code == 400
    assert b"Another request has just taken this name" in response.content
    assert SavedQuery.objects.filter(name="q").count() == 1


def test_a_page_error_that_is_no_clash_stays_a_server_error(member, rf):
    from accounts.pages import member_view

    @member_view
    def broken(request):
        raise IntegrityError("NOT NULL constraint failed: jobs_savedquery.sql")

    request = rf.post("/saved-queries/")
    request.user, request.membership = member.user, member.membership
    with pytest.raises(IntegrityError):
        broken(request)
