"""The read path every surface shares: one command for one member, in one query.

A single-object read needs neither a FilterSet nor the policy's queryset filter: the row is
fetched by primary key within the member's account (with its submitter's email, as
``user_email``; lists get the same through :func:`listed`), by a statement compiled once, and
:func:`accounts.policy.can` decides on the object itself, the same rules
:func:`accounts.policy.restrict` applies to lists. Anything else a surface shows is computed
only where it applies (the queue position of a waiting command: one more query).
"""

import functools
import time

from django.db import connection, connections
from django.db.models import Count, F, Q

from accounts import policy
from jobs.models import Command, DataSource, SavedQuery, Status

# Primary keys are 64-bit: a longer string of digits is not an id (and must not reach the
# database as an out-of-range integer).
MAX_PK_DIGITS = 18


def parse_pk(value):
    """``value`` as a primary key, or None when it cannot be one."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_PK_DIGITS:
        return None
    return int(text)


def visible_command(member, pk, action="read", extra=None):
    """The command ``pk`` if ``member`` may ``action`` it, else None (callers answer 404).
    ``extra`` (one of :data:`_EXTRAS`) reads more with it, into ``command.extras``."""
    pk = parse_pk(pk)
    if pk is None or member is None:
        return None
    return _visible(member, _one("pk", [pk, member.account_id], extra), action)


def visible_submission(member, submission_id, pk=None, action="read", extra=None):
    """The command of ``member``'s account submitted as ``submission_id`` — or, when no command
    has that id and ``pk`` is given, the command ``pk`` (shapes that also accept an alias
    naming the command itself) — if ``member`` may ``action`` it, else None. One query (with
    ``extra`` as for :func:`visible_command`)."""
    if member is None or not submission_id:
        return None
    if pk is None:
        command = _one("submission_id", [submission_id, member.account_id], extra)
    else:
        command = _one("submission_id_or_pk",
                       [member.account_id, submission_id, pk, submission_id], extra)
    return _visible(member, command, action)


def _visible(member, command, action):
    if command is None or not policy.can(member, action, "commands", obj=command):
        return None
    command.account = member.account  # the same row, already loaded with the membership
    return command


# WHERE clauses of the one-row reads, over the quoted command table {t}; each takes the
# parameters in the order its placeholders appear.
_WHERE = {
    "pk": "{t}.{id} = %s AND {t}.{account} = %s",
    # The unique (account, submission_id) constraint serves this.
    "submission_id": "{t}.{submission} = %s AND {t}.{account} = %s",
    # A real submission id wins over the alias of a primary key.
    "submission_id_or_pk": "{t}.{account} = %s AND ({t}.{submission} = %s OR {t}.{id} = %s) "
                           "ORDER BY CASE WHEN {t}.{submission} = %s THEN 0 ELSE 1 END LIMIT 1",
}


# Values a read may add after the email, for a shape that shows them with the command (one
# query instead of two); they land in ``command.extras``, in this order.
_EXTRAS = {
    # The account's queue, (waiting or queued, running), on the (account, status) index:
    # Supermetrics' workflow.
    "queue": "(SELECT COUNT(*) FROM {t} AS {o} WHERE {o}.{account} = {t}.{account} AND "
             "{o}.{status} IN ({waiting}, {queued})), (SELECT COUNT(*) FROM {t} AS {o} "
             "WHERE {o}.{account} = {t}.{account} AND {o}.{status} = {running})",
    # The dataset the command's saved query was saved for: the toolkit's dataset_id.
    "dataset": "(SELECT {s}.{dataset} FROM {st} AS {s} WHERE {s}.{id} = {t}.{saved_query})",
}


@functools.cache
def _statement(alias, key="pk", extra=None):
    """``SELECT`` of every column of the command, its submitter's email and the ``extra``
    values (``WHERE`` one of :data:`_WHERE`), compiled once per process; with the converters
    of each column, as the ORM would apply them. Compiling the ORM query took more time than
    running it."""
    conn = connections[alias]
    fields = Command._meta.concrete_fields
    columns = [field.get_col(Command._meta.db_table) for field in fields]
    user_table = Command._meta.get_field("user").related_model._meta.db_table
    q = conn.ops.quote_name
    table = q(Command._meta.db_table)
    names = {"t": table, "id": q("id"), "account": q("account_id"),
             "submission": q("submission_id"), "o": q("other"), "status": q("status"),
             "s": q("saved"), "st": q(SavedQuery._meta.db_table), "dataset": q("dataset_id"),
             "saved_query": q("saved_query_id"),
             # Status values are the model's own constants, never input: safe as literals.
             **{status.value: f"'{status.value}'" for status in Status}}
    more = f", {_EXTRAS[extra].format(**names)}" if extra else ""
    sql = (f"SELECT {', '.join(f'{table}.{q(f.column)}' for f in fields)}, {q(user_table)}."
           f"{q('email')}{more} FROM {table} LEFT OUTER JOIN {q(user_table)} ON "
           f"{q(user_table)}.{q('id')} = {table}.{q('user_id')} WHERE "
           + _WHERE[key].format(**names))
    converters = [
        (index, converter, column)
        for index, column in enumerate(columns)
        for converter in (conn.ops.get_db_converters(column)
                          + column.get_db_converters(conn))
    ]
    return sql, [field.attname for field in fields], converters


def _one(key, params, extra=None):
    """The command found by the ``_WHERE[key]`` read, with ``user_email`` (and ``extras``, the
    values of ``_EXTRAS[extra]``) set, or None (one query)."""
    sql, names, converters = _statement(connection.alias, key, extra)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[:len(names)])
    for index, converter, column in converters:
        values[index] = converter(values[index], column, connection)
    command = Command.from_db(connection.alias, names, values)
    command.user_email = row[len(names)]
    command.extras = tuple(row[len(names) + 1:])
    return command


def wait_for_end(command, seconds, interval=0.05, longest_interval=0.5):
    """``command`` re-read until it has ended or ``seconds`` have passed (the synchronous modes
    of the compatibility shapes): the freshest row, ended or not. Each look is one query by
    primary key; the interval grows, so a long wait costs a few queries a second."""
    deadline = time.monotonic() + seconds
    while not command.is_terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
        interval = min(interval * 2, longest_interval)
        fresh = _one("pk", [command.pk, command.account_id])
        if fresh is None:  # deleted meanwhile (retention): what we had is all there is
            break
        fresh.account = command.account
        command = fresh
    return command


@functools.cache
def _queue_statement(alias):
    q = connections[alias].ops.quote_name
    status = q("status")
    return (f"SELECT COUNT(CASE WHEN {status} IN (%s, %s) THEN 1 END), "
            f"COUNT(CASE WHEN {status} = %s THEN 1 END) FROM {q(Command._meta.db_table)} "
            f"WHERE {q('account_id')} = %s AND {status} IN (%s, %s, %s)")


def queue_counts(account_id):
    """``(scheduled, running)``: the account's commands waiting or queued, and running — its
    queue as the shapes that report one show it. One query on the (account, status) index."""
    with connection.cursor() as cursor:
        cursor.execute(_queue_statement(connection.alias),
                       [Status.WAITING, Status.QUEUED, Status.RUNNING, account_id,
                        *Status.ACTIVE])
        scheduled, running = cursor.fetchone()
    return scheduled or 0, running or 0


def saved_query(member, **lookup):
    """The saved query of ``member``'s account that ``lookup`` (``pk=`` or ``name=``) finds, if
    ``member`` may read it, else None."""
    found = policy.restrict(SavedQuery.objects.all(), member, "read", "saved_queries")
    return found.filter(**lookup).first()


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


def waiting_state(command):
    """``(queue_position, commands holding a slot)`` of a waiting command, one query;
    ``(None, None)`` for any other."""
    if command.status != Status.WAITING:
        return None, None
    counts = Command.objects.filter(account_id=command.account_id).aggregate(
        ahead=Count("pk", filter=Q(status=Status.WAITING, pk__lt=command.pk)),
        holding=Count("pk", filter=Q(status__in=Status.HOLDING_SLOT)),
    )
    return counts["ahead"] + 1, counts["holding"]
