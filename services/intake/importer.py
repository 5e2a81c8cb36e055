"""File imports of CAD exports (CSV or NDJSON) of any size: streaming, resumable, summarised.

The file is read as bytes, line by line, so memory stays constant and a line that is not UTF-8
is rejected on its own. Each batch commits with the import's position (the ordinal of the next
record), so a killed import restarts at the first record not yet committed.
"""
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from services.intake import repository
from services.intake.bootstrap import IntakeContext
from services.intake.domain.profiles import FeedProfile, FieldError
from services.intake.handlers import ImportProgress, RecordResult, ingest_safely, relay_outbox
from services.intake.parsing import RawInput, decode_text, parse_one

STATUSES = ("accepted", "duplicate", "superseded", "rejected")


@dataclass
class Summary:
    """What an import did, over all its runs."""

    rows_read: int
    counts: dict[str, int]
    rejects_path: Path
    resumed_from: int
    already_done: bool = False


def file_id(path: Path, profile: FeedProfile) -> str:
    """Identity of an import: the profile and a hash of the whole file, so a corrected export of
    the same size is a new import, not a finished one."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return f"{profile.name}:{path.stat().st_size}:{digest.hexdigest()[:32]}"


def _lines(path: Path, on_bytes: Callable[[int], None]) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            on_bytes(len(line))
            yield number, line


def read_records(path: Path, profile: FeedProfile, on_bytes: Callable[[int], None]) -> Iterator[RawInput]:
    """The file's records in order, each with its line number as position."""
    if profile.format == "json":
        for number, line in _lines(path, on_bytes):
            if line.strip():
                yield parse_one(line.rstrip(b"\r\n"), f"line {number}")
        return
    decoded: dict[int, str] = {}

    def text_lines() -> Iterator[str]:
        for number, line in _lines(path, on_bytes):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as spreadsheet exports write
            text, error = decode_text(line)
            if error:
                decoded[number] = error.message
            yield text

    reader = csv.reader(text_lines())
    header = next(reader, None) or []
    start = reader.line_num + 1
    for row in reader:
        position, start = f"line {start}", reader.line_num + 1
        if not row:
            continue  # a blank line is no record
        raw_text = ",".join(row)
        problems = [decoded.pop(n) for n in sorted(decoded) if n < start]
        if problems:
            yield RawInput(position, raw_text, parse_error=FieldError("<encoding>", problems[0]))
        elif len(row) != len(header):
            yield RawInput(position, raw_text, parse_error=FieldError(
                "<columns>", f"{len(row)} columns where the header has {len(header)}"))
        else:
            # Kept as a JSON object, so a rejected row can be replayed through the same profile.
            value = dict(zip(header, row, strict=True))
            yield RawInput(position, json.dumps(value, ensure_ascii=False), value)


async def import_file(ctx: IntakeContext, path: Path, profile: FeedProfile, *, rejects_path: Path,
                      batch_size: int = 1000, on_bytes: Callable[[int], None] = lambda n: None,
                      on_batch: Callable[[list[RecordResult]], None] = lambda r: None) -> Summary:
    """Import (or resume importing) a file; rejected records are appended to `rejects_path` with
    their reasons (and kept in the rejected_records table, the copy an operator replays from)."""
    await relay_outbox(ctx)  # events a killed run committed but did not publish
    fid = file_id(path, profile)
    async with ctx.pool.acquire() as conn:
        await conn.execute(repository.START_IMPORT, fid, str(path), profile.name)
        run = await conn.fetchrow(repository.IMPORT_RUN, fid)
    progress = ImportProgress(fid, run["next_record"], dict(run["counts"]))
    resumed_from = progress.next_record
    if run["finished_at"] is not None:
        return Summary(progress.next_record, progress.counts, rejects_path, resumed_from, already_done=True)
    with rejects_path.open("a" if resumed_from else "w", encoding="utf-8") as rejects:
        batch: list[RawInput] = []
        ordinal = 0
        for ordinal, record in enumerate(read_records(path, profile, on_bytes), start=1):
            if ordinal <= resumed_from:
                continue  # committed by an earlier run
            batch.append(record)
            if len(batch) >= batch_size:
                await _commit_batch(ctx, batch, profile, progress, ordinal, rejects, on_batch)
                batch = []
        if batch:
            await _commit_batch(ctx, batch, profile, progress, ordinal, rejects, on_batch)
    async with ctx.pool.acquire() as conn:
        await conn.execute(repository.FINISH_IMPORT, fid)
    return Summary(progress.next_record, progress.counts, rejects_path, resumed_from)


async def _commit_batch(ctx, batch, profile, progress, ordinal, rejects, on_batch) -> None:
    progress.next_record = ordinal
    results = await ingest_safely(ctx, batch, profile=profile, channel="file", progress=progress)
    for raw, result in zip(batch, results, strict=True):
        if result.status == "rejected":
            rejects.write(json.dumps({"position": raw.position, "errors": [e.__dict__ for e in result.errors],
                                      "raw": raw.raw_text}, ensure_ascii=False) + "\n")
    rejects.flush()
    on_batch(results)
