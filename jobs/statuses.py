"""Each API shape's words for the portal's seven states, defined once.

The portal's lifecycle has six statuses (:class:`jobs.models.Status`) and a waiting command
may also be ``throttled`` (held by the account's concurrency limit): seven states. Every
surface that speaks another vocabulary — Qubole, Ray, Supermetrics, the analytics toolkit —
translates through :func:`word` and filters through :func:`statuses`; none spells a foreign
status word or a terminal set of its own.
"""

from enum import StrEnum

from jobs.models import Status

THROTTLED = "throttled"  # a waiting command held by the concurrency limit
STATES = (THROTTLED, Status.WAITING, Status.QUEUED, Status.RUNNING, Status.DONE,
          Status.ERROR, Status.CANCELLED)


class Shape(StrEnum):
    PORTAL = "portal"
    QUBOLE = "qubole"
    RAY = "ray"
    SUPERMETRICS = "supermetrics"
    TOOLKIT = "toolkit"


# state -> word, per shape, in STATES order.
_TABLE = {
    Shape.PORTAL: ("waiting", "waiting", "queued", "running", "done", "error", "cancelled"),
    Shape.QUBOLE: ("waiting", "waiting", "waiting", "running", "done", "error", "cancelled"),
    Shape.RAY: ("PENDING", "PENDING", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"),
    Shape.SUPERMETRICS: ("SCHEDULED", "SCHEDULED", "QUEUED", "RUNNING", "SUCCESS", "FAILURE",
                         "STOPPED"),
    # The toolkit has no word for a cancelled job: it did not succeed.
    Shape.TOOLKIT: ("queued", "queued", "queued", "running", "succeeded", "failed", "failed"),
}
WORDS = {shape: dict(zip(STATES, words, strict=True)) for shape, words in _TABLE.items()}


def state_of(status, throttled=False):
    """The state of a command with ``status`` (and its ``throttled`` flag)."""
    return THROTTLED if throttled and status == Status.WAITING else status


def word(shape, status, throttled=False):
    """What ``shape`` calls a command in ``status``."""
    return WORDS[shape][state_of(status, throttled)]


def statuses(shape, shape_word):
    """The portal statuses ``shape_word`` stands for (to filter by it); empty if unknown."""
    found = {Status.WAITING if state == THROTTLED else state
             for state, text in WORDS[shape].items() if text == shape_word}
    return sorted(found)


def terminal_words(shape):
    """The words of ``shape`` that mean the command has ended."""
    return {WORDS[shape][status] for status in Status.TERMINAL}


def is_terminal(status):
    """Has a command in this portal ``status`` ended?"""
    return status in Status.TERMINAL
