"""The read path every surface shares: one command for one member, in one query.

A single-object read needs neither a FilterSet nor the policy's queryset filter: the row is
fetched by primary key within the member's account (with its submitter's email, as
``user_email``; lists get the same through :func:`listed`), by a statement compiled once, and
:func:`accounts.policy.can` decides on the object itself, the same rules
:func:`accounts.policy.restrict` applies to lists. Anything else a surface shows is computed
only where it applies (the queue position of a waiting command: one more query).
"""

import functools

from django.db import connection, connections
from django.db.models import Count, F, Q

from accounts import policy
from jobs.models import Command, DataSource, Status

# Primary keys are 64-bit: a longer string of digits is not an id (and must not reach the
# database as an out-of-range integer).
MAX_PK_DIGITS = 18


def parse_pk(value):
    """``value`` as a primary key, or None when it cannot be one."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_PK_DIGITS:
        return None
    return int(text)


def visible_command(member, pk, action="read"):
    """The command ``pk`` if ``member`` may ``action`` it, else None (callers answer 404)."""
    pk = parse_pk(pk)
    if pk is None or member is None:
        return None
    return _allowed(member, action, _fetch(BY_PK, [pk, member.account_id]))


def visible_command_by_ref(member, ref, action="read"):
    """The command whose ``submission_id`` is ``ref``, or else whose id is ``ref``, if
    ``member`` may ``action`` it; else None. One query: surfaces such as Ray's accept either
    id in one path segment, and a client's submission id may itself be all digits."""
    # A NUL cannot be in any stored id, and PostgreSQL refuses it in a parameter.
    if member is None or not isinstance(ref, str) or not 0 < len(ref) <= 128 or "\x00" in ref:
        return None
    return _allowed(member, action, _fetch(BY_REF, [member.account_id, ref, parse_pk(ref), ref]))


def _allowed(member, action, command):
    if command is None or not policy.can(member, action, "commands", obj=command):
        return None
    command.account = member.account  # the same row, already loaded with the membership
    return command


# WHERE clauses of the compiled reads ({t}: the quoted table, {q}: the quote function).
BY_PK = "{t}.{id} = %s AND {t}.{account} = %s"
# The submission id wins over an equal primary key: ORDER BY puts its row first.
BY_REF = ("{t}.{account} = %s AND ({t}.{submission_id} = %s OR {t}.{id} = %s) "
          "ORDER BY CASE WHEN {t}.{submission_id} = %s THEN 0 ELSE 1 END LIMIT 1")


@functools.cache
def _statement(alias, where):
    """``SELECT`` of every column of the command and its submitter's email, ``where`` (BY_PK,
    BY_REF), compiled once per process; with the converters of each column, as the ORM would
    apply them. Compiling the ORM query took more time than running it."""
    conn = connections[alias]
    fields = Command._meta.concrete_fields
    columns = [field.get_col(Command._meta.db_table) for field in fields]
    user_table = Command._meta.get_field("user").related_model._meta.db_table
    q = conn.ops.quote_name
    table = q(Command._meta.db_table)
    sql = (f"SELECT {', '.join(f'{table}.{q(f.column)}' for f in fields)}, {q(user_table)}."
           f"{q('email')} FROM {table} LEFT OUTER JOIN {q(user_table)} ON "
           f"{q(user_table)}.{q('id')} = {table}.{q('user_id')} WHERE "
           + where.format(t=table, id=q("id"), account=q("account_id"),
                          submission_id=q("submission_id")))
    converters = [
        (index, converter, column)
        for index, column in enumerate(columns)
        for converter in (conn.ops.get_db_converters(column)
                          + column.get_db_converters(conn))
    ]
    return sql, [field.attname for field in fields], converters


def _fetch(where, params):
    """The command the compiled ``where`` finds, with ``user_email`` set, or None (one query)."""
    sql, names, converters = _statement(connection.alias, where)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[:-1])
    for index, converter, column in converters:
        values[index] = converter(values[index], column, connection)
    command = Command.from_db(connection.alias, names, values)
    command.user_email = row[-1]
    return command


def data_source(member, ref):
    """The data source ``member`` may read, by id or name, or None. The account's built-in
    ``default`` source is created on first use. Names are SQL identifiers, so a string of
    digits can only be an id."""
    if ref == DataSource.DEFAULT_NAME and policy.can(member, "read", "data_sources"):
        return DataSource.objects.default_for(member.account)
    sources = policy.restrict(DataSource.objects.all(), member, "read", "data_sources")
    pk = ref if isinstance(ref, int) else parse_pk(ref)
    return (sources.filter(pk=pk) if pk is not None else sources.filter(name=ref)).first()


def listed(queryset):
    """``queryset`` of commands with ``user_email`` as the representation reads it."""
    return queryset.annotate(user_email=F("user__email"))


def waiting_state(command, max_concurrency):
    """``(queue_position, held_by)`` of a command that waits, one query; ``(None, None)`` for
    any other.

    A throttled ``waiting`` command is held by its account's ``max_concurrency`` (position
    among the account's waiting commands); a ``queued`` one waits for a worker on its label
    (position among the label's queued commands, oldest first: an approximation, since a free
    worker takes the account holding the fewest workers first, see
    :mod:`jobs.worker.fairness`)."""
    if command.status == Status.WAITING:
        counts = Command.objects.filter(account_id=command.account_id).aggregate(
            ahead=Count("pk", filter=Q(status=Status.WAITING, pk__lt=command.pk)),
            holding=Count("pk", filter=Q(status__in=Status.HOLDING_SLOT)),
        )
        held_by = {"limit": "max_concurrency", "max_concurrency": max_concurrency,
                   "active": counts["holding"]} if command.throttled else None
        return counts["ahead"] + 1, held_by
    if command.status == Status.QUEUED:
        counts = Command.objects.filter(
            status__in=[Status.QUEUED, Status.RUNNING], label=command.label).aggregate(
            ahead=Count("pk", filter=Q(status=Status.QUEUED, pk__lt=command.pk)),
            running=Count("pk", filter=Q(status=Status.RUNNING)),
        )
        return counts["ahead"] + 1, {"limit": "workers", "label": command.label,
                                     "running": counts["running"]}
    return None, None
