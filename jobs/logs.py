"""Command output stored off the worker, as ordered chunks any web node can serve live."""

from dataclasses import dataclass

from django.db.models.functions import Length

from jobs.models import LogChunk

STREAMS = ("stdout", "stderr")


class LogWriter:
    """Buffers output in arrival order and writes it as :class:`LogChunk` rows on ``flush``.

    Consecutive output of one stream is merged; a chunk never exceeds ``LogChunk.MAX_BYTES``.
    Past ``max_bytes`` output is dropped and ``truncated`` set, so a runaway command cannot
    fill the database.
    """

    def __init__(self, command_id, max_bytes):
        self.command_id = command_id
        self.max_bytes = max_bytes
        self.size = 0
        self.stream_sizes = dict.fromkeys(STREAMS, 0)
        self.truncated = False
        self._seq = 0
        self._pending = []  # [stream, bytearray], in arrival order
        self.pending = 0  # bytes in _pending

    def append(self, stream, data):
        room = self.max_bytes - self.size - self.pending
        if room <= 0 or self.truncated:
            self.truncated = self.truncated or bool(data)
            return
        if len(data) > room:
            data, self.truncated = data[:room], True
        if self._pending and self._pending[-1][0] == stream:
            self._pending[-1][1].extend(data)
        else:
            self._pending.append([stream, bytearray(data)])
        self.pending += len(data)

    def flush(self):
        """Write what is buffered (one INSERT); return the number of bytes written."""
        rows = []
        for stream, buf in self._pending:
            for start in range(0, len(buf), LogChunk.MAX_BYTES):
                piece = bytes(buf[start:start + LogChunk.MAX_BYTES])
                rows.append(LogChunk(
                    command_id=self.command_id, seq=self._seq, stream=stream,
                    offset=self.size, stream_offset=self.stream_sizes[stream], data=piece,
                ))
                self._seq += 1
                self.size += len(piece)
                self.stream_sizes[stream] += len(piece)
        self._pending, self.pending = [], 0
        if rows:
            LogChunk.objects.bulk_create(rows)
        return sum(len(row.data) for row in rows)


@dataclass(frozen=True)
class LogPage:
    offset: int
    next_offset: int
    data: bytes


def read_log(command_id, offset=0, limit=1024 * 1024, stream=None):
    """Bytes ``[offset, offset + limit)`` of the interleaved log, or of one ``stream``.

    Costs the page, not the offset: a chunk that holds byte ``offset`` starts at most
    ``LogChunk.MAX_BYTES`` before it, so the index range scan starts right there.
    """
    field = "stream_offset" if stream else "offset"
    chunks = LogChunk.objects.filter(
        command_id=command_id, **{f"{field}__gt": offset - LogChunk.MAX_BYTES}
    )
    if stream:
        chunks = chunks.filter(stream=stream)
    out = bytearray()
    end = offset + limit
    for start, data in chunks.order_by(field).values_list(field, "data").iterator(chunk_size=50):
        if start >= end:
            break
        data = bytes(data)
        if start + len(data) <= offset:
            continue
        out.extend(data[max(0, offset - start): end - start])
    return LogPage(offset, offset + len(out), bytes(out))


def stream_size(command_id, stream):
    """Bytes stored of one stream of a command's log (one index probe)."""
    last = (LogChunk.objects.filter(command_id=command_id, stream=stream)
            .order_by("-stream_offset").values_list("stream_offset", Length("data")).first())
    return sum(last) if last else 0


def tail(command_id, size, max_bytes=4096, stream=None):
    """The last ``max_bytes`` of a log of ``size`` bytes, decoded for messages and pages."""
    page = read_log(command_id, max(0, size - max_bytes), max_bytes, stream=stream)
    return page.data.decode("utf-8", errors="replace")


def window_before(command_id, end, max_bytes=64 * 1024):
    """The log bytes before byte ``end`` (at most ``max_bytes``), starting on a UTF-8
    character boundary, so a page that shows a log from its end and loads earlier parts on
    demand never splits a character between two parts (nor reads more than one part)."""
    if end <= 0:
        return LogPage(0, 0, b"")
    start = max(0, end - max_bytes)
    page = read_log(command_id, start, end - start)
    data, skip = page.data, 0
    if start > 0:
        while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:  # continuation bytes
            skip += 1
    return LogPage(start + skip, page.next_offset, data[skip:])
