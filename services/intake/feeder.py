"""A CAD system's side of the HTTP feed: post an NDJSON file to intake in batches."""
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx


def ndjson_batches(path: Path, size: int) -> Iterator[bytes]:
    """The file's lines in bodies of at most `size` lines, read lazily."""
    batch: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                batch.append(line.rstrip(b"\r\n"))
            if len(batch) == size:
                yield b"\n".join(batch)
                batch = []
    if batch:
        yield b"\n".join(batch)


def post_file(path: Path, *, url: str, token: str, profile: str, batch_size: int) -> Counter:
    """Post every batch and return the summed outcomes; HTTP errors raise."""
    totals: Counter = Counter()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for body in ndjson_batches(path, batch_size):
            response = client.post("/v1/dispatch-records/batch", params={"profile": profile}, content=body)
            response.raise_for_status()
            totals.update(response.json()["summary"])
    return totals
