"""The status vocabulary of every shape, as a table."""

import pytest

from jobs import statuses
from jobs.models import Status
from jobs.statuses import Shape

# state:        throttled  waiting    queued     running    done         error      cancelled
TABLE = {
    Shape.PORTAL: ["waiting", "waiting", "queued", "running", "done", "error", "cancelled"],
    Shape.QUBOLE: ["waiting", "waiting", "waiting", "running", "done", "error", "cancelled"],
    Shape.RAY: ["PENDING", "PENDING", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"],
    Shape.SUPERMETRICS: ["SCHEDULED", "SCHEDULED", "QUEUED", "RUNNING", "SUCCESS", "FAILURE",
                         "STOPPED"],
    Shape.TOOLKIT: ["queued", "queued", "queued", "running", "succeeded", "failed", "failed"],
}
COMMANDS = [(Status.WAITING, True), (Status.WAITING, False), (Status.QUEUED, False),
            (Status.RUNNING, False), (Status.DONE, False), (Status.ERROR, False),
            (Status.CANCELLED, False)]


@pytest.mark.parametrize("shape", list(Shape))
def test_each_state_has_the_word_of_the_table(shape):
    assert [statuses.word(shape, status, throttled) for status, throttled in COMMANDS] == (
        TABLE[shape])


def test_the_throttled_flag_matters_only_while_waiting():
    assert statuses.word(Shape.SUPERMETRICS, Status.RUNNING, throttled=True) == "RUNNING"


@pytest.mark.parametrize(("shape", "word", "expected"), [
    (Shape.QUBOLE, "waiting", ["queued", "waiting"]),
    (Shape.RAY, "PENDING", ["queued", "waiting"]),
    (Shape.SUPERMETRICS, "SCHEDULED", ["waiting"]),
    (Shape.TOOLKIT, "failed", ["cancelled", "error"]),
    (Shape.RAY, "NOPE", []),
])
def test_a_shapes_word_filters_by_the_statuses_it_stands_for(shape, word, expected):
    assert statuses.statuses(shape, word) == expected


@pytest.mark.parametrize("shape", list(Shape))
def test_terminal_words_are_the_words_of_the_terminal_statuses(shape):
    ended = {TABLE[shape][i] for i in (4, 5, 6)}
    assert statuses.terminal_words(shape) == ended
    active = {TABLE[shape][i] for i in (0, 1, 2, 3)}
    assert not active & ended
