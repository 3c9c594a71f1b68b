"""Cron and time zones: slots in the schedule's zone, stored in UTC, across daylight saving."""

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from jobs.schedules import slots


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_a_daily_local_time_follows_daylight_saving_in_utc():
    winter = slots.next_slot("0 9 * * *", "America/New_York", utc(2026, 1, 10))
    summer = slots.next_slot("0 9 * * *", "America/New_York", utc(2026, 7, 10))
    assert (winter, summer) == (utc(2026, 1, 10, 14), utc(2026, 7, 10, 13))


def test_a_local_time_skipped_by_spring_forward_runs_once_at_the_next_valid_minute():
    # Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    found = slots.upcoming("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12), 3)
    assert found == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]


def test_a_local_time_repeated_by_fall_back_runs_once():
    # Berlin, 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    found = slots.upcoming("30 2 * * *", "Europe/Berlin", utc(2026, 10, 23, 12), 3)
    assert found == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30),
                     utc(2026, 10, 26, 1, 30)]


def test_an_hourly_schedule_runs_every_real_hour_of_the_long_day():
    found = slots.upcoming("0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 21, 30), 25)
    assert len(set(found)) == 25
    assert all((b - a).total_seconds() == 3600 for a, b in pairwise(found))
    assert found[0] == utc(2026, 10, 24, 22) and found[-1] == utc(2026, 10, 25, 22)


def test_the_latest_slot_skips_the_repeat_of_a_fall_back_time():
    latest = slots.latest_slot("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 2),
                               utc(2026, 10, 1))
    assert latest == utc(2026, 10, 25, 0, 30)  # the first 02:30, not the second (01:30 UTC)


def test_the_latest_slot_is_never_after_now():
    now = datetime(2026, 12, 2, 9, 59, 59, 500_000, tzinfo=UTC)
    assert slots.latest_slot("* * * * *", "UTC", now, utc(2026, 12, 1)) == utc(2026, 12, 2, 9, 59)


@pytest.mark.parametrize("expression", ["", "61 * * * *", "* * * *", "* * * * * *", "bad",
                                        "@sometimes", "0 0 31 2 1-5 7", "0 0 31 2 *",
                                        "0 0 30 2 *"])
def test_bad_cron_expressions_name_the_cron_field(expression):
    with pytest.raises(slots.BadSchedule) as caught:
        slots.check_cron(expression)
    assert caught.value.field == "cron"


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../etc/passwd", "UTC\x00", 7, "America",
                                  "America/", "zone1970.tab", " UTC"])
def test_bad_time_zones_name_the_timezone_field(name):
    with pytest.raises(slots.BadSchedule) as caught:
        slots.zone(name)
    assert caught.value.field == "timezone"


def test_aliases_and_spacing_are_accepted():
    assert slots.check_cron("@daily") == "@daily"
    assert slots.check_cron("  */15   *  * * 1-5 ") == "*/15 * * * 1-5"
