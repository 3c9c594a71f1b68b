"""What a delivery says: the webhook's JSON body and the e-mail's subject and text, built from
the command row (the command has ended, so they no longer change)."""

import json

from django.conf import settings

from jobs.api.representation import iso

EVENT = "command.ended"


def command_url(command):
    """The command's status page, when the operator set the portal's public address."""
    base = settings.NOTIFICATIONS["PUBLIC_URL"]
    return f"{base}/commands/{command.pk}/" if base else None


def payload(delivery):
    """The webhook body (a dict; see docs/notifications.md for every field)."""
    command = delivery.command
    return {
        "event": EVENT,
        "delivery_id": delivery.pk,
        "attempt": delivery.attempts,
        "account": delivery.account.slug,
        "command": {
            "id": command.pk,
            "submission_id": command.submission_id,
            "name": command.name,
            "command_type": command.command_type,
            "label": command.label,
            "status": delivery.event,
            "exit_code": command.exit_code,
            "error_type": command.error_type,
            "error_message": command.error_message,
            "user": command.user.email if command.user_id else None,
            "created_at": iso(command.created_at),
            "started_at": iso(command.started_at),
            "finished_at": iso(command.finished_at),
            "url": command_url(command),
        },
    }


def body(delivery):
    """The payload as the bytes that are signed and sent."""
    return json.dumps(payload(delivery), separators=(",", ":"), sort_keys=True).encode()


def email(delivery):
    """``(subject, text)`` of the notification e-mail."""
    command = delivery.command
    title = f"command {command.pk}" + (f" ({command.name})" if command.name else "")
    subject = f"[Jobportal] {title} {delivery.event}"
    lines = [f"Jobportal {title} in account {delivery.account.slug} ended: {delivery.event}."]
    if command.error_type or command.error_message:
        lines.append(f"Error: {command.error_type} {command.error_message}".rstrip())
    if command.exit_code is not None:
        lines.append(f"Exit code: {command.exit_code}")
    lines.append(f"Started: {iso(command.started_at) or '-'}; finished: "
                 f"{iso(command.finished_at) or '-'}")
    url = command_url(command)
    if url:
        lines.append(f"\n{url}")
    lines.append("\nYou receive this because the command's notify (or Qubole's can_notify) "
                 "named you.")
    return subject[:200], "\n".join(lines) + "\n"
