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
from django.db.models.base import ModelState

from accounts import policy
from jobs.models import Command, DataSource, SavedQuery, Status
from notifications.models import Subscription

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
BY_SUBMISSION = "{t}.{account} = %s AND {t}.{submission_id} = %s"


# The columns a status reply shows (the compatibility shapes' polls): the command's text,
# parameters, macros and environment stay in the table. On SQLite, fetching a row of every
# column and building the command from it (datetimes parsed, JSON decoded) took twice as long
# as these twenty, a third of the poll's own work. Any other field is still there when read,
# deferred, as ``QuerySet.only()`` leaves it: one query more (the query-count tests see it).
STATUS_FIELDS = (
    "id", "account_id", "user_id", "submission_id", "command_type", "saved_query_id",
    "status", "throttled", "progress", "statements_done", "statements_total", "error_type",
    "error_message", "created_at", "queued_at", "started_at", "finished_at",
    "result_columns", "result_row_count", "result_truncated",
)


@functools.cache
def _statement(alias, where, only=None):
    """``SELECT`` of every column of the command (or of the fields ``only`` names) and its
    submitter's email, ``where`` (BY_PK, BY_REF, BY_SUBMISSION), compiled once per process;
    with the converters of each column, as the ORM would apply them. Compiling the ORM query
    took more time than running it."""
    conn = connections[alias]
    fields = Command._meta.concrete_fields
    if only is not None:
        unknown = set(only) - {field.attname for field in fields}
        if unknown:
            raise ValueError(f"not columns of Command: {sorted(unknown)}")
        fields = [field for field in fields if field.attname in only]
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
    if conn.vendor == "sqlite":
        sql = _named(sql)
    return sql, [field.attname for field in fields], converters


def _named(sql):
    """``sql`` with its ``%s`` placeholders as ``:p0``, ``:p1``, … (SQLite's named style).

    Django's SQLite cursor turns ``%s`` into ``?`` with a regular expression on every execute:
    24 µs on these 1,800-character statements, a twentieth of a one-row read. Given a mapping
    of parameters it only %-formats the statement with their names, which leaves one without
    ``%(name)s`` as it is."""
    parts = sql.split("%s")
    if "%" in "".join(parts):
        raise ValueError("a compiled read must hold no % but its placeholders")
    return "".join(f"{part}:p{index}" for index, part in enumerate(parts[:-1])) + parts[-1]


def _execute(cursor, sql, params):
    """Run a compiled read (``sql`` from :func:`_statement`) with its positional ``params``."""
    if connection.vendor == "sqlite":
        params = {f"p{index}": value for index, value in enumerate(params)}
    cursor.execute(sql, params)


def _fetch(where, params, only=None):
    """The command the compiled ``where`` finds, with ``user_email`` set, or None (one query)."""
    sql, names, converters = _statement(connection.alias, where, only)
    with connection.cursor() as cursor:
        _execute(cursor, sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    command = _instance(connection.alias, names, row[:len(names)], converters)
    command.user_email = row[-1]
    return command


def _instance(alias, names, row, converters):
    """The Command of ``row`` (every concrete field, in ``names`` order) as ``Model.from_db``
    builds it, without ``Model.__init__``'s work per field: that checks the arguments (which
    this row has right by construction) and sends ``pre_init``/``post_init`` (which nothing
    here listens to). On a one-row read it was a tenth of the request; tests/jobs/test_reads.py
    holds the two equal."""
    values = list(row)
    for index, converter, column in converters:
        values[index] = converter(values[index], column, connection)
    command = Command.__new__(Command)
    command.__dict__.update(zip(names, values, strict=True))
    command._state = ModelState()
    command._state.adding, command._state.db = False, alias
    return command


# -- the compatibility shapes' reads ---------------------------------------------------------


def visible_submission(member, submission_id, pk=None, extra=None, action="read", only=None):
    """The command of ``member``'s account submitted as ``submission_id`` — or, when no command
    has that id and ``pk`` is given, the command ``pk`` (a shape's alias naming the command
    itself, such as Supermetrics' ``cmd-<id>``) — if ``member`` may ``action`` it, else None.
    One query, reading ``extra`` with it as :func:`visible_command_with` does, and the fields
    ``only`` names (such as :data:`STATUS_FIELDS`; all of them by default)."""
    if member is None or not isinstance(submission_id, str) or not submission_id:
        return None
    if pk is None:  # no alias: the submission id alone, on its unique index
        where, params = BY_SUBMISSION, [member.account_id, submission_id]
    else:
        where, params = BY_REF, [member.account_id, submission_id, pk, submission_id]
    return _allowed(member, action, _fetch_with(where, params, extra, only))


def visible_command_with(member, pk, extra, action="read", only=None):
    """:func:`visible_command` that also reads ``extra`` (one of :data:`EXTRAS`) in the same
    query, into ``command.extras``, and the fields ``only`` names (all by default)."""
    pk = parse_pk(pk)
    if pk is None or member is None:
        return None
    return _allowed(member, action, _fetch_with(BY_PK, [pk, member.account_id], extra, only))


# Values a shape shows with the command, read in the same statement (one query, not two);
# they land in ``command.extras``, in this order.
EXTRAS = {
    # The account's queue, (waiting or queued, running), on the (account, status) index:
    # Supermetrics' workflow.
    "queue": "(SELECT COUNT(*) FROM {t} AS {o} WHERE {o}.{account} = {t}.{account} AND "
             "{o}.{status} IN ({waiting}, {queued})), (SELECT COUNT(*) FROM {t} AS {o} "
             "WHERE {o}.{account} = {t}.{account} AND {o}.{status} = {running})",
    # The dataset the command's saved query was saved for: the toolkit's dataset_id.
    "dataset": "(SELECT {s}.{dataset} FROM {st} AS {s} WHERE {s}.{id} = {t}.{saved_query})",
    # Whether the command notifies anyone (the portal API's detail shows whom only then).
    "notify": "EXISTS (SELECT 1 FROM {nt} AS {n} WHERE {n}.{command} = {t}.{id})",
}


@functools.cache
def _statement_with(alias, where, extra, only=None):
    """:func:`_statement` with the ``EXTRAS[extra]`` values after the email."""
    sql, names, converters = _statement(alias, where, only)
    q = connections[alias].ops.quote_name
    more = EXTRAS[extra].format(
        t=q(Command._meta.db_table), o=q("other"), account=q("account_id"),
        status=q("status"), s=q("saved"), st=q(SavedQuery._meta.db_table),
        dataset=q("dataset_id"), id=q("id"), saved_query=q("saved_query_id"),
        n=q("notify"), nt=q(Subscription._meta.db_table), command=q("command_id"),
        # Status values are the model's own constants, never input: safe as literals.
        **{status.value: f"'{status.value}'" for status in Status})
    head, _, rest = sql.partition(" FROM ")
    return f"{head}, {more} FROM {rest}", names, converters


def _fetch_with(where, params, extra, only=None):
    """:func:`_fetch` with ``command.extras`` (the ``EXTRAS[extra]`` values; none without
    ``extra``)."""
    if extra is None:
        command = _fetch(where, params, only)
        if command is not None:
            command.extras = ()
        return command
    sql, names, converters = _statement_with(connection.alias, where, extra, only)
    with connection.cursor() as cursor:
        _execute(cursor, sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    command = _instance(connection.alias, names, row[:len(names)], converters)
    command.user_email, command.extras = row[len(names)], tuple(row[len(names) + 1:])
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
        fresh = _fetch(BY_PK, [command.pk, command.account_id])
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
