"""What every fault test needs: intake, mediation and assessment as OS processes on one topic prefix
with a database each, a steady stream of disputes posted to intake, and the checks that after recovery
nothing accepted was lost, nothing was applied twice and no partition is stuck."""
import asyncio
import json
import signal
import time
import types
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from deploy.local.processes import SERVICES, ServiceGroup, ServiceProcess, free_port, run_command, service_env
from services.intake.events import event_id
from shared.auth import issue_token
from shared.db.provision import drop_database
from shared.events.community import ACTIVITY_TOPIC
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC, RAW_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.events.topics import TOPICS
from shared.kafka.admin import delete_topics_with_prefix
from shared.kafka.security import PLAINTEXT, KafkaAuth

SOURCE = "FAULT-CAD"
# Keyed by station code: these six stations put events on every partition of the six-partition topics
# (and of the three-partition ones; aiokafka's murmur2 partitioner), so a partition stuck after the
# fault shows up as lag (assert_exactly_once checks that every partition had events).
STATIONS = ("990101001", "990102001", "MKE-D1", "MKE-D3", "990103002", "990103003")
DESCRIPTION = "楼上邻居装修噪音太大，双方发生争吵"
SHOW = 20  # how many record names a failure message lists


def listed(names: Iterable[str]) -> str:
    """A sorted, bounded list of record names for a failure message."""
    names = sorted(names)
    more = f" ... ({len(names)} in all)" if len(names) > SHOW else ""
    return ", ".join(names[:SHOW]) + more


def assert_no_personal_data(services: "Services") -> None:
    """The stream's party data (its description, its addresses) is in no process log, faults or not."""
    logs = services.logs(tail_chars=10**9)
    for secret in (DESCRIPTION, "望湖街道湖光路"):
        lines = [line[:400] for line in logs.splitlines() if secret in line]
        assert not lines, f"personal data {secret!r} in {len(lines)} log line(s):\n" + "\n".join(lines[:5])


def dispute_record(number: str, index: int, base: datetime) -> dict:
    """A neighbour dispute of one of STATIONS; each index its own incident."""
    return {"source": SOURCE, "incident_number": number, "revision": 1,
            "received_at": (base + timedelta(milliseconds=100 * index)).isoformat(),
            "address_text": f"示例市北城区望湖街道湖光路{index % 500 + 1}号", "station_code": STATIONS[index % len(STATIONS)],
            "category_code": "dispute", "description": DESCRIPTION, "disposition": "已调解"}


def dispute_event_id(number: str) -> uuid.UUID:
    """The id intake gives the dispute.opened event of revision 1 of an incident of SOURCE."""
    return event_id("dispute.opened", types.SimpleNamespace(source=SOURCE, incident_number=number, revision=1))


@dataclass
class Services(ServiceGroup):
    """ServiceGroup whose processes can be started again (after a kill) with a log file of their own."""

    killed: set[str] = field(default_factory=set)

    async def kill(self, process: ServiceProcess) -> None:
        """SIGKILL a process on purpose (check_alive no longer counts it)."""
        self.killed.add(process.name)
        process.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.process.wait, 10)
        assert process.process.returncode == -signal.SIGKILL, f"{process.name} exited {process.process.returncode}"

    def check_alive(self) -> None:
        """AssertionError naming the first process that exited unless it was killed on purpose, with its log."""
        for p in self.processes:
            if p.name not in self.killed and p.process.poll() is not None:
                raise AssertionError(f"{p.name} exited with {p.process.returncode} while it should run:\n"
                                     f"{p.output()[-4000:]}")

    def logs(self, tail_chars: int = 12_000) -> str:
        """Each process's log (its end, when long), under a header."""
        return "\n".join(f"===== {p.name} (pid {p.process.pid}, exit {p.process.poll()}) {p.log} =====\n"
                         f"{p.output()[-tail_chars:]}" for p in self.processes)


@dataclass
class Pipeline:
    """The three services' settings on one Kafka and PostgreSQL, under a topic prefix of their own."""

    kafka_bootstrap: str
    prefix: str
    databases: dict[str, str]
    env: dict[str, dict[str, str]]
    ports: dict[str, int]
    secret: str
    auth: KafkaAuth = PLAINTEXT  # the tests' own clients (lags, reads, clean-up): the admin on a SASL cluster

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def groups(self) -> dict[str, tuple[str, list[str]]]:
        """Each consumer group of the pipeline and the registered topics it reads."""
        return {"intake raw consumer": (f"{self.prefix}intake-raw", [RAW_TOPIC]),
                "mediation consumer": (f"{self.prefix}mediation-disputes", [DISPUTE_TOPIC]),
                "assessment consumer": (f"{self.prefix}assessment-facts", [INCIDENT_TOPIC, CASE_TOPIC, ACTIVITY_TOPIC])}

    def feed_client(self, url: str) -> httpx.AsyncClient:
        token = issue_token(self.secret, subject="cad-faults", roles=["feed"])
        return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120.0, connect=10.0),
                                 limits=httpx.Limits(max_connections=500, max_keepalive_connections=50),
                                 headers={"Authorization": f"Bearer {token}"})


@asynccontextmanager
async def pipeline(kafka_bootstrap: str, postgres_url: str, unique: str, *, auth: KafkaAuth = PLAINTEXT,
                   service_settings: dict[str, dict[str, object]] | None = None,
                   **settings: object) -> AsyncIterator[Pipeline]:
    """Migrated databases and created topics for the three services; dropped and deleted afterwards.
    `service_settings` adds settings per service (its Kafka principal); `auth` creates the topics and
    is what the tests' own clients use."""
    prefix = f"f{unique}."
    databases = {s: f"{postgres_url}/faults_{unique}_{s}" for s in SERVICES}
    ports = {s: free_port() for s in SERVICES}
    secret = f"faults-{unique}-jwt-secret-of-this-test-only"
    common = dict(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, environment="test",
                  jwt_secret=secret) | settings
    env = {s: service_env(s, database_url=databases[s], http_port=ports[s], **common,
                          **(service_settings or {}).get(s, {})) for s in SERVICES}
    creator = {"kafka_security_protocol": auth.security_protocol, "kafka_sasl_mechanism": auth.sasl_mechanism,
               "kafka_sasl_username": auth.username, "kafka_sasl_password": auth.password}
    await asyncio.gather(*(run_command(s, "migrate", env=env[s]) for s in SERVICES),
                         run_command("intake", "topics", env=service_env("intake", **common, **creator)))
    try:
        yield Pipeline(kafka_bootstrap, prefix, databases, env, ports, secret, auth)
    finally:
        for url in databases.values():
            try:
                await asyncio.wait_for(drop_database(url), 30)
            except Exception as exc:  # the test's own outcome matters more than its clean-up
                print(f"could not drop {url}: {exc!r}")
        try:
            await asyncio.wait_for(delete_topics_with_prefix(kafka_bootstrap, prefix, auth), 30)
        except Exception as exc:
            print(f"could not delete the topics {prefix}*: {exc!r}")


# --- the stream of disputes ------------------------------------------------------------------------------------

@dataclass
class BatchAnswer:
    """One POST of the stream and what intake answered."""

    numbers: list[str]
    sent_at: float
    phase: str
    answered_at: float | None = None
    outcome: str = "pending"  # "200", "HTTP 500", or the exception's class
    statuses: dict[str, str] = field(default_factory=dict)  # incident number -> accepted | duplicate | ...


class DisputeStream:
    """Posts `rate` disputes a second to intake's batch endpoint, `batch` records per POST, for `duration_s`,
    on a fixed schedule: a slow answer does not slow the stream (the POSTs overlap)."""

    def __init__(self, client: httpx.AsyncClient, tag: str, *, rate: int = 150, batch: int = 30,
                 duration_s: float = 40.0) -> None:
        self._client = client
        self.tag = tag
        self.batch = batch
        self.interval = batch / rate
        self.count = int(duration_s / self.interval) * batch
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        self.records = [dispute_record(self.number(i), i, base) for i in range(self.count)]
        self.answers: list[BatchAnswer] = []
        self.marks: list[tuple[float, str]] = [(0.0, "before the fault")]
        self._started = 0.0

    def number(self, index: int) -> str:
        return f"110-{self.tag}-{index:06d}"

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def mark(self, phase: str) -> None:
        """Label the POSTs sent from now on (e.g. "broker down")."""
        self.marks.append((self.elapsed(), phase))

    async def _post(self, answer: BatchAnswer, records: list[dict]) -> None:
        try:
            response = await self._client.post("/v1/dispatch-records/batch", json=records)
            answer.outcome = str(response.status_code) if response.status_code == 200 else f"HTTP {response.status_code}"
            if response.status_code == 200:
                answer.statuses = {r["incident_number"]: r["status"] for r in response.json()["results"]}
        except httpx.HTTPError as exc:
            answer.outcome = type(exc).__name__
        answer.answered_at = self.elapsed()

    async def run(self) -> list[BatchAnswer]:
        """Post the whole stream; returns once every POST was answered (or failed). Cancelled (a test
        failing mid-stream), it cancels the POSTs in flight."""
        self._started = time.monotonic()
        tasks = []
        try:
            for k, start in enumerate(range(0, self.count, self.batch)):
                await asyncio.sleep(max(0.0, k * self.interval - self.elapsed()))
                records = self.records[start:start + self.batch]
                answer = BatchAnswer([r["incident_number"] for r in records], self.elapsed(), self.marks[-1][1])
                self.answers.append(answer)
                tasks.append(asyncio.create_task(self._post(answer, records)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.answers

    @asynccontextmanager
    async def streaming(self) -> AsyncIterator[asyncio.Task]:
        """The stream running in the background within the block; cancelled if the block fails."""
        task = asyncio.create_task(self.run())
        try:
            yield task
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def accepted(self) -> set[str]:
        """The records intake answered `accepted`: the ones it must never lose."""
        return {n for a in self.answers for n, s in a.statuses.items() if s == "accepted"}

    def unanswered(self) -> list[dict]:
        """Records without an accepted or duplicate answer (the POST failed, or an unexpected status)."""
        settled = {n for a in self.answers for n, s in a.statuses.items() if s in ("accepted", "duplicate")}
        return [r for r in self.records if r["incident_number"] not in settled]

    def report(self) -> str:
        """Per phase: records sent, intake's answers and the slowest answer."""
        lines = []
        for phase in dict.fromkeys(a.phase for a in self.answers):
            mine = [a for a in self.answers if a.phase == phase]
            outcomes = Counter()
            for a in mine:
                if a.statuses:
                    outcomes.update(f"200 {s}" for s in a.statuses.values())
                else:
                    outcomes[a.outcome] += len(a.numbers)
            slowest = max((a.answered_at - a.sent_at for a in mine if a.answered_at is not None), default=0.0)
            lines.append(f"  {phase}: {sum(len(a.numbers) for a in mine)} records in {len(mine)} POSTs "
                         f"(sent {mine[0].sent_at:.1f}-{mine[-1].sent_at:.1f} s), answers {dict(outcomes)}, "
                         f"slowest answer {slowest:.1f} s")
        marks = ", ".join(f"{label} at {t:.1f} s" for t, label in self.marks[1:])
        return f"stream {self.tag}: {self.count} records, {self.batch} per POST every {self.interval:.2f} s; " \
               f"{marks}\n" + "\n".join(lines)

    async def post_again(self, *, within_s: float = 60.0) -> Counter:
        """Post what was not answered again, as a CAD system would, until intake answers each; what it
        answered this time (a `duplicate` was committed though its first answer never came)."""
        answers: Counter = Counter()
        deadline = time.monotonic() + within_s
        for start in range(0, len(pending := self.unanswered()), 500):
            chunk = pending[start:start + 500]
            while True:
                answer = BatchAnswer([r["incident_number"] for r in chunk], self.elapsed(), "posted again")
                await self._post(answer, chunk)
                if answer.statuses:
                    self.answers.append(answer)
                    answers.update(answer.statuses.values())
                    break
                assert time.monotonic() < deadline, f"intake still answers {answer.outcome} to a retried POST"
                await asyncio.sleep(1.0)
        return answers


# --- what the databases and Kafka hold -----------------------------------------------------------------------

async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def group_lags(bootstrap: str, group: str, prefix: str, topics: Iterable[str],
                     auth: KafkaAuth = PLAINTEXT) -> dict[TopicPartition, tuple[int, int]]:
    """(committed offset, end offset) of every partition of the registered topics (under the prefix) for
    a consumer group; a partition the group never committed counts as committed at 0."""
    partitions = [TopicPartition(prefix + t, p) for t in topics for p in range(TOPICS[t].partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **auth.options())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10_000,
                                **auth.options())
    await admin.start()
    try:
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
    finally:
        await admin.close()
    return {tp: (max(committed[tp].offset, 0) if tp in committed else 0, ends[tp]) for tp in partitions}


async def all_lags(p: Pipeline, groups: Iterable[str]) -> dict[str, dict[TopicPartition, tuple[int, int]]]:
    """The lags of the named groups of `Pipeline.groups`."""
    found = {}
    for name in groups:
        group, topics = p.groups[name]
        found[name] = await group_lags(p.kafka_bootstrap, group, p.prefix, topics, p.auth)
    return found


def lagging(lags: dict[str, dict[TopicPartition, tuple[int, int]]]) -> list[str]:
    """Every partition whose group has not committed up to its end, named."""
    return [f"{name}: {tp.topic}[{tp.partition}] committed {c}, end {e} (lag {e - c})"
            for name, parts in lags.items() for tp, (c, e) in sorted(parts.items()) if c != e]


async def read_records(bootstrap: str, topic: str, partitions: int, within_s: float = 30.0,
                       auth: KafkaAuth = PLAINTEXT) -> list[ConsumerRecord]:
    """Every record of a topic now, each partition from its start to its end offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **auth.options())
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[ConsumerRecord] = []
        deadline = time.monotonic() + within_s
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"could not read {topic} to its end offsets {ends}"
            batch = await consumer.getmany(*parts, timeout_ms=300, max_records=5000)
            found += [r for tp_records in batch.values() for r in tp_records]
        return found
    finally:
        await consumer.stop()


@dataclass
class Holdings:
    """What each service holds of the stream's incidents (incident numbers)."""

    intake: set[str]
    mediation_cases: set[str]
    assessment_incidents: set[str]
    assessment_cases: set[str]
    outboxes: dict[str, int]


async def holdings(p: Pipeline) -> Holdings:
    numbers = "SELECT incident_number FROM {} WHERE source = $1"
    intake = await fetch(p.databases["intake"], numbers.format("dispatch_records"), SOURCE)
    cases = await fetch(p.databases["mediation"], numbers.format("cases"), SOURCE)
    incidents = await fetch(p.databases["assessment"], numbers.format("incidents"), SOURCE)
    facts = await fetch(p.databases["assessment"], numbers.format("cases"), SOURCE)
    outboxes = {s: (await fetch(p.databases[s], "SELECT count(*) FROM outbox"))[0][0] for s in ("intake", "mediation")}
    return Holdings({r[0] for r in intake}, {r[0] for r in cases}, {r[0] for r in incidents},
                    {r[0] for r in facts}, outboxes)


async def wait_until_settled(p: Pipeline, expected: set[str], services: Services, *, within_s: float = 90.0,
                             groups: Iterable[str] = ("mediation consumer", "assessment consumer")) -> float:
    """Wait until every service holds every expected incident, the outboxes are empty and every group has
    committed up to the end of every partition; seconds it took. Fails naming what is missing or stuck."""
    started = time.monotonic()
    deadline = started + within_s
    while True:
        services.check_alive()
        problems: list[str] = []
        try:
            held = await holdings(p)
            for what, found in (("intake's dispatch_records", held.intake), ("mediation's cases", held.mediation_cases),
                                ("assessment's incidents", held.assessment_incidents),
                                ("assessment's cases", held.assessment_cases)):
                if missing := expected - found:
                    problems.append(f"missing from {what}: {listed(missing)}")
            problems += [f"{service}'s outbox still holds {n} event(s)" for service, n in held.outboxes.items() if n]
            if not problems:
                problems += lagging(await all_lags(p, groups))
        except Exception as exc:  # a server still coming back: look again
            problems.append(f"could not look: {exc!r}")
        if not problems:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {within_s:.0f} s of the end of the stream:\n  "
                                 + "\n  ".join(problems))
        await asyncio.sleep(1.0)


async def assert_exactly_once(p: Pipeline, accepted: set[str], posted: set[str]) -> dict[str, int]:
    """After settling: every accepted record is one incident and one case everywhere, each event was applied
    once, and no partition has lag. Returns counts for the test's report."""
    held = await holdings(p)
    assert not accepted - held.intake, f"accepted by intake, then lost by it: {listed(accepted - held.intake)}"
    assert not held.intake - posted, f"incidents nobody posted: {listed(held.intake - posted)}"
    for what, found in (("mediation's cases", held.mediation_cases), ("assessment's incidents", held.assessment_incidents),
                        ("assessment's cases", held.assessment_cases)):
        assert found == held.intake, (f"{what} differ from intake's records: missing {listed(held.intake - found)}; "
                                      f"extra {listed(found - held.intake)}")

    med, ass = p.databases["mediation"], p.databases["assessment"]
    twice = await fetch(med, "SELECT incident_number, count(*) FROM cases GROUP BY 1 HAVING count(*) > 1")
    assert not twice, f"more than one case in mediation for {listed(r[0] for r in twice)}"
    twice = await fetch(ass, "SELECT incident_number, count(*) FROM cases GROUP BY 1 HAVING count(*) > 1")
    assert not twice, f"more than one case in assessment for {listed(r[0] for r in twice)}"
    # One dispute.opened per incident: each case was created once, its timeline says so once, nothing updated it.
    timeline = await fetch(med, """
        SELECT c.incident_number, c.version, count(t.id) AS entries,
               count(t.id) FILTER (WHERE t.action = 'created') AS created
        FROM cases c LEFT JOIN case_timeline t ON t.case_id = c.id GROUP BY c.id
        HAVING count(t.id) <> 1 OR count(t.id) FILTER (WHERE t.action = 'created') <> 1 OR c.version <> 1""")
    assert not timeline, "cases whose dispute was applied other than once (incident, version, timeline entries, " \
        f"created entries): {[tuple(r) for r in timeline[:SHOW]]}"
    sequences = await fetch(ass, "SELECT incident_number, sequence, state FROM cases WHERE sequence <> 1 OR state <> 'pending'")
    assert not sequences, f"assessment's cases changed by more than case.created: {[tuple(r) for r in sequences[:SHOW]]}"

    # The exactly-once ledgers: one row per event applied, and exactly the events the stream made.
    mediation_group, _ = p.groups["mediation consumer"]
    ledger = {r[0] for r in await fetch(med, "SELECT event_id FROM processed_events WHERE consumer = $1",
                                        mediation_group)}
    wanted = {dispute_event_id(n): n for n in held.intake}
    assert ledger == set(wanted), (f"mediation's processed_events differ from the disputes: missing "
                                   f"{listed(wanted[e] for e in set(wanted) - ledger)}; {len(ledger - set(wanted))} unknown")
    assessment_group, _ = p.groups["assessment consumer"]
    applied = dict(await fetch(ass, "SELECT topic, count(*) FROM processed_events WHERE consumer = $1 GROUP BY 1",
                               assessment_group))
    assert applied == {p.topic(INCIDENT_TOPIC): len(held.intake), p.topic(CASE_TOPIC): len(held.intake)}, \
        f"assessment's processed_events per topic {applied}, wanted {len(held.intake)} incidents and case.created each"

    lags = await all_lags(p, ("mediation consumer", "assessment consumer"))
    assert not (stuck := lagging(lags)), "partitions with lag after recovery:\n" + "\n".join(stuck)
    idle = [f"{tp.topic}[{tp.partition}]" for parts in lags.values() for tp, (_, end) in parts.items()
            if end == 0 and not tp.topic.endswith(ACTIVITY_TOPIC)]
    assert not idle, f"partitions the stream never reached (the lag check would prove nothing there): {idle}"

    # How often the fault made Kafka carry an event twice (the relay re-sending what a request also sent).
    counts = {"records": len(held.intake)}
    for name in (DISPUTE_TOPIC, CASE_TOPIC):
        records = await read_records(p.kafka_bootstrap, p.topic(name), TOPICS[name].partitions, auth=p.auth)
        ids = Counter(json.loads(r.value)["event_id"] for r in records)
        counts[f"{name} messages"] = len(records)
        counts[f"{name} events"] = len(ids)
    return counts

