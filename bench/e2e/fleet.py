"""The system under test: fresh databases, topics under a fresh prefix, and every service as its own
OS process (deploy/local/processes.py), plus CPU and peak memory of each process during a phase."""
import asyncio
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import memory
from bench.common.cpu import cpu_seconds, machine_cpu
from bench.e2e.feed import STATIONS, DisputeFeed
from deploy.local.infrastructure import ROOT
from deploy.local.processes import (
    SERVICES,
    ServiceGroup,
    ServiceProcess,
    command,
    free_port,
    run_command,
    service_env,
)
from shared.auth import issue_token
from shared.db.provision import drop_database
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.events.topics import TOPICS
from shared.kafka.admin import delete_topics_with_prefix

PROCESS_LOG_DIR = Path("/tmp")


@dataclass
class Fleet:
    """One phase's system: its prefix, databases, settings and running processes."""

    bootstrap: str
    server_url: str
    run_id: str
    mediation_consumers: int = 1
    assessment_consumers: int = 1
    prefix: str = ""
    urls: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    secret: str = field(default_factory=lambda: secrets.token_hex(24))
    group: ServiceGroup | None = None
    set_up: bool = False
    log_level: str = "WARNING"
    canaries: int = 0  # records posted to check the path before measuring
    peak_rss: list[memory.PeakRss] = field(default_factory=list)  # of every service process, for the report

    def __post_init__(self) -> None:
        self.prefix = f"benche2e{self.run_id}."
        self.urls = {s: f"{self.server_url}/bench_e2e_{self.run_id}_{s}" for s in SERVICES}
        self.ports = {s: free_port() for s in ("intake", "mediation")}
        self.log_dir = PROCESS_LOG_DIR / f"bench-e2e-{self.run_id}"

    def env(self, service: str) -> dict[str, str]:
        return service_env(service, database_url=self.urls[service], kafka_bootstrap_servers=self.bootstrap,
                           topic_prefix=self.prefix, environment="test", jwt_secret=self.secret,
                           log_level=self.log_level, http_port=self.ports.get(service, free_port()))

    def token(self, subject: str, roles: list[str], stations: list[str] = ()) -> str:
        return issue_token(self.secret, subject=subject, roles=roles, stations=list(stations))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def groups(self) -> dict[str, str]:
        """The consumer groups whose committed offsets say how far each consumer got."""
        return {"mediation": f"{self.prefix}mediation-disputes", "assessment": f"{self.prefix}assessment-facts"}

    async def start(self) -> None:
        """Migrate the databases, create the topics, load the reference units, start the processes."""
        self.set_up = True
        env = {s: self.env(s) for s in SERVICES}

        async def prepare(service: str, *then: str) -> None:
            for subcommand in ("migrate", *then):  # a busy machine can take a minute for one
                await run_command(service, subcommand, env=env[service], timeout=180)

        # Each service's own database (and intake's topics), so the three can be prepared side by side.
        await asyncio.gather(prepare("intake", "topics"), prepare("mediation"), prepare("assessment", "load-reference"))
        self.group = ServiceGroup(self.log_dir)
        await self.group.__aenter__()
        intake = self._start("intake", "api", env["intake"], port=self.ports["intake"])
        mediation = self._start("mediation", "api", env["mediation"], port=self.ports["mediation"])
        for n in range(self.mediation_consumers):
            self._start("mediation", "consume", env["mediation"], replica=n + 1)
        for n in range(self.assessment_consumers):
            self._start("assessment", "consume", env["assessment"], replica=n + 1)
        await self.group.wait_ready(intake, mediation, within_s=90)
        self.canaries = await self.canary()

    async def canary(self, within_s: float = 90.0) -> int:
        """Post one record per station and return once both consumer groups have committed them: the
        consumers hold their partitions and the whole path works before anything is measured. (aiokafka
        0.14 cannot decode Kafka 4's DescribeGroups answer for a group with members, so the bench
        watches committed offsets instead of the group's state.) Returns the records posted."""
        feed = DisputeFeed(f"{self.run_id}c")
        lines = [feed.record(datetime.now(UTC), station=code)[1] for code in STATIONS]
        token = self.token("bench-e2e-canary", ["feed"])
        async with httpx.AsyncClient(base_url=self.url("intake"), timeout=30) as client:
            answer = await client.post("/v1/dispatch-records/batch", content="\n".join(lines),
                                       headers={"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/x-ndjson"})
            answer.raise_for_status()
        async with Offsets(self) as offsets:
            deadline = time.monotonic() + within_s
            while True:
                self.group.check_alive()
                ends, committed = await offsets.ends(), await offsets.committed()
                if (ends[DISPUTE_TOPIC] >= len(lines) and committed["mediation"] >= ends[DISPUTE_TOPIC]
                        and committed["assessment"] >= ends[INCIDENT_TOPIC]):
                    return len(lines)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the canary records did not get through within {within_s:.0f} s: "
                                       f"topics {ends}, committed {committed}; logs in {self.log_dir}")
                await asyncio.sleep(0.2)

    def _start(self, service: str, subcommand: str, env: dict[str, str], *, port: int | None = None,
               replica: int = 1) -> ServiceProcess:
        """`fengqiao-<service> <subcommand>` with a log of its own; replicas get a number in name and log."""
        name = f"{service} {subcommand}" + (f" {replica}" if replica > 1 else "")
        log = self.log_dir / (name.replace(" ", "-") + ".log")
        with log.open("wb") as handle:
            process = subprocess.Popen(command(service, subcommand), cwd=ROOT, env=env, stdout=handle,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started = ServiceProcess(name, process, log, port)
        self.group.processes.append(started)
        self.peak_rss.append(memory.watch(process, name, report=False))
        return started

    def processes(self) -> dict[str, int]:
        """Name → pid of every running service process."""
        return {p.name: p.process.pid for p in self.group.processes} if self.group else {}

    async def stop(self) -> dict[str, int | None]:
        return await self.group.stop() if self.group else {}

    async def clean_up(self) -> None:
        """Stop the processes, drop the databases, delete the topics (also after a failure)."""
        try:
            await self.stop()
        finally:
            if self.set_up:
                for url in self.urls.values():
                    await drop_database(url)
                await delete_topics_with_prefix(self.bootstrap, self.prefix)


# --- progress through the pipeline, without touching the services' databases ----------------------

class Offsets:
    """End offsets of the pipeline's topics and the consumer groups' committed offsets."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.admin = AIOKafkaAdminClient(bootstrap_servers=fleet.bootstrap, client_id="bench-e2e-offsets")
        self.consumer = AIOKafkaConsumer(bootstrap_servers=fleet.bootstrap, enable_auto_commit=False)
        self.parts = {name: [TopicPartition(fleet.prefix + name, p) for p in range(TOPICS[name].partitions)]
                      for name in (DISPUTE_TOPIC, INCIDENT_TOPIC, CASE_TOPIC)}

    async def __aenter__(self) -> "Offsets":
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def ends(self) -> dict[str, int]:
        """Messages on each topic (sum of the partitions' end offsets)."""
        found = await self.consumer.end_offsets([tp for parts in self.parts.values() for tp in parts])
        return {name: sum(found[tp] for tp in parts) for name, parts in self.parts.items()}

    async def committed(self) -> dict[str, int]:
        """Events each consumer has committed (after its database transaction): mediation's of
        intake.dispute.v1, assessment's of intake.incident.v1 and of mediation.case.v1."""
        groups = self.fleet.groups
        mediation = await self.admin.list_consumer_group_offsets(groups["mediation"])
        assessment = await self.admin.list_consumer_group_offsets(groups["assessment"])

        def total(offsets: dict, topic: str) -> int:
            return sum(meta.offset for tp, meta in offsets.items() if tp.topic == self.fleet.prefix + topic
                       and meta.offset >= 0)
        return {"mediation": total(mediation, DISPUTE_TOPIC), "assessment": total(assessment, INCIDENT_TOPIC),
                "assessment_cases": total(assessment, CASE_TOPIC)}


# --- CPU of each process ------------------------------------------------------------------------------

def kafka_broker_pids(bootstrap: str) -> dict[str, int]:
    """The local Kafka brokers' JVMs (their command line names kafka.Kafka) that listen on a port of
    `bootstrap`, by "kafka broker :port", from each one's server.properties; with none of them matching,
    the first broker found, as "kafka broker (shared)"."""
    ports = {address.rsplit(":", 1)[1] for address in bootstrap.split(",")}
    found: dict[str, int] = {}
    first: int | None = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" not in cmdline:
            continue
        first = first or int(entry.name)
        try:  # kafka.sh starts it as `... kafka.Kafka <node>/server.properties`
            properties = Path(cmdline[cmdline.index(b"kafka.Kafka") + 1].decode())
            listeners = next((line for line in properties.read_text().splitlines()
                              if line.startswith("listeners=")), "")
        except (IndexError, OSError, UnicodeDecodeError):
            continue
        for port in ports:
            if f":{port}," in listeners + ",":
                found[f"kafka broker :{port}"] = int(entry.name)
    return found or ({"kafka broker (shared)": first} if first else {})


@dataclass
class CpuSample:
    label: str
    at: float  # monotonic
    seconds: dict[str, float]  # process key -> CPU seconds so far
    machine: tuple[int, int]  # (busy, total) ticks


@dataclass
class CpuWindow:
    """CPU use between two samples."""
    label: str
    wall: float
    machine_busy: float  # share of both cores, 0..1
    spent: list[tuple[str, float]]  # (process, CPU seconds), most first


class CpuMeter:
    """CPU seconds of each service process, of the PostgreSQL backends serving each service database,
    of the Kafka broker and of this bench, from /proc/<pid>/stat. Sampled every `every_s` while
    running: asyncpg replaces a pool connection after 50,000 queries, and a backend that exits takes
    its CPU time with it, so each backend counts up to its last sample. Marks (start, ..., end) cut
    the run into windows."""

    def __init__(self, fleet: Fleet, labels: dict[int, str] | None = None, every_s: float = 1.0) -> None:
        self.fleet, self.labels, self.every_s = fleet, labels or {}, every_s
        self.kafka = kafka_broker_pids(fleet.bootstrap)
        self.samples: list[CpuSample] = []
        self.last: dict[str, float] = {}  # process key -> CPU seconds at its latest sample
        self._task: asyncio.Task | None = None

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                self.last |= await self._read()
            except (OSError, asyncpg.PostgresError):
                pass  # the next sample will do

    async def _backends(self) -> dict[str, dict[int, float]]:
        """Per service database: CPU seconds so far of each backend connected to it, by pid, under
        "<service> db" for client backends and "<service> db, autovacuum" for the others."""
        conn = await asyncpg.connect(self.fleet.urls["intake"])
        try:
            rows = await conn.fetch("SELECT datname, pid, backend_type FROM pg_stat_activity "
                                    "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                                    [urlsplit(u).path.lstrip("/") for u in self.fleet.urls.values()])
        finally:
            await conn.close()
        found: dict[str, dict[int, float]] = {}
        for row in rows:
            service = row["datname"].rsplit("_", 1)[1]
            kind = f"{service} db" if row["backend_type"] == "client backend" else f"{service} db, {row['backend_type']}"
            try:
                found.setdefault(kind, {})[row["pid"]] = cpu_seconds(row["pid"])
            except OSError:
                pass
        return found

    async def mark(self, label: str) -> None:
        """Sample every process now; the first mark starts the periodic sampling, "end" stops it."""
        self.last |= await self._read()
        self.samples.append(CpuSample(label, time.monotonic(), dict(self.last), machine_cpu()))
        if self._task is None:
            self._task = asyncio.create_task(self._sample_forever())
        if label == "end":
            self.close()

    def close(self) -> None:
        if self._task:
            self._task.cancel()

    async def _read(self) -> dict[str, float]:
        sample = {}
        for name, pid in self.fleet.processes().items():
            try:
                sample[name] = cpu_seconds(pid)
            except OSError:
                pass
        for kind, pids in (await self._backends()).items():
            for pid, seconds in pids.items():
                sample[f"{self.labels.get(pid, f'postgres ({kind})')}#{pid}"] = seconds
        for name, pid in self.kafka.items():
            try:
                sample[name] = cpu_seconds(pid)
            except OSError:
                pass
        sample["bench (this process)"] = cpu_seconds(os.getpid())
        return sample

    def window(self, first: int = 0, last: int = -1) -> CpuWindow:
        """CPU seconds between two marks, backends summed per database; a backend opened in between
        counts from zero, one closed in between is missed."""
        a, b = self.samples[first], self.samples[last]
        spent: dict[str, float] = {}
        for key, seconds in b.seconds.items():
            name = key.split("#", 1)[0]
            spent[name] = spent.get(name, 0.0) + seconds - a.seconds.get(key, 0.0)
        busy = (b.machine[0] - a.machine[0]) / max(b.machine[1] - a.machine[1], 1)
        return CpuWindow(f"{a.label} → {b.label}", b.at - a.at, busy, sorted(spent.items(), key=lambda r: -r[1]))
