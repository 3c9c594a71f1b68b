"""Template helpers of the HTML pages: status words (through :mod:`jobs.statuses`, never
spelled here), durations and short excerpts."""

from django import template
from django.utils import timezone

from jobs import statuses

register = template.Library()


@register.filter
def status_word(command):
    """The portal's word for the command's state; ``throttled`` when the limit holds it."""
    if command.throttled and not statuses.is_terminal(command.status):
        return statuses.THROTTLED
    return statuses.word(statuses.Shape.PORTAL, command.status, command.throttled)


@register.filter
def is_terminal(command):
    return statuses.is_terminal(command.status)


def format_seconds(seconds):
    """``42 s``, ``3 min 05 s``, ``2 h 04 min``, ``3 d 2 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def run_time(command):
    """How long it ran (or has been running so far); empty before it started."""
    if command.started_at is None:
        return ""
    end = command.finished_at or timezone.now()
    return format_seconds((end - command.started_at).total_seconds())


@register.filter
def wait_time(command):
    """How long it waited between submission and start (or so far)."""
    end = command.started_at or command.finished_at or timezone.now()
    return format_seconds((end - command.created_at).total_seconds())


@register.filter
def excerpt(command, length=80):
    """The command's name, else the first line of its script or query, shortened."""
    if command.name:
        return command.name
    text = (command.body or "").strip().splitlines()
    first = text[0] if text else ""
    return first if len(first) <= length else first[: length - 1] + "…"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
