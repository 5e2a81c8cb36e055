"""File imports of CAD exports (CSV or NDJSON) of any size: streaming, resumable, summarised.

The file is read as bytes, line by line, so memory stays constant and a line that is not UTF-8
is rejected on its own. Each batch commits with the import's position (the ordinal of the next
record), so a killed import restarts at the first record not yet committed.
"""
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.intake import repository
from services.intake.bootstrap import IntakeContext
from services.intake.domain.profiles import FeedProfile
from services.intake.domain.results import ImportProgress, RecordResult
from services.intake.file_reading import read_records
from services.intake.handlers import ingest_safely, relay_outbox
from services.intake.parsing import RawInput

STATUSES = ("accepted", "duplicate", "superseded", "conflict", "rejected")


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


async def import_file(ctx: IntakeContext, path: Path, profile: FeedProfile, *, rejects_path: Path,
                      batch_size: int = 1000, on_bytes: Callable[[int], None] = lambda n: None,
                      on_batch: Callable[[list[RecordResult]], None] = lambda r: None) -> Summary:
    """Import (or resume importing) a file; rejected records are appended to `rejects_path` with
    their reasons (and kept in the rejected_records table, the copy an operator replays from)."""
    await relay_outbox(ctx)  # events a killed run committed but did not publish
    fid = file_id(path, profile)
    async with ctx.pool.acquire() as conn:
        run = await repository.start_import(conn, fid, str(path), profile.name)
    progress = ImportProgress(fid, run.next_record, dict(run.counts))
    resumed_from = progress.next_record
    if run.finished_at is not None:
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
        await repository.finish_import(conn, fid)
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
