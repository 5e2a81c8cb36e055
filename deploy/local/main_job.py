"""The main job (`./fengqiao run`): the whole system on the local Kafka and PostgreSQL, fed with the
sample 110 feed, worked by a scripted mediator, and the month's ranking printed.

Each sample station works as its profile says (station_profiles.py: strong, average or struggling), so
the ranking shows stations that differ.

Every service runs as its own processes: one API each, and `--replicas` consumers per service (the
consumer group shares the topics' partitions among them). Logs go to .local/logs/. Ctrl-C stops
every process with SIGTERM (consumers finish their batch and commit) and returns; a second run
finds the same sample records already there (duplicates) and works the cases still open.
"""
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import station_profiles as profiles  # beside this file, which runs as a script: its folder leads sys.path
import typer
from fleet import Fleet  # beside this file, as station_profiles
from rich.console import Console
from rich.table import Table

from services.assessment.settings import AssessmentSettings
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.settings import IntakeSettings
from services.mediation.settings import MediationSettings
from shared.auth import issue_token

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOGS = ROOT / ".local" / "logs"
SETTINGS = {"intake": IntakeSettings, "mediation": MediationSettings, "assessment": AssessmentSettings}
# The sample city from intake's reference data: its stations are those with address rules (the
# Milwaukee districts of the same file have none and no grids).
CITY = Jurisdictions.load()
SAMPLE_STATIONS = tuple(s for s in CITY.stations() if s.address_prefixes)
STATIONS = tuple(s.code for s in SAMPLE_STATIONS)
COUNTIES = tuple(dict.fromkeys(s.county_code for s in SAMPLE_STATIONS))
GRIDS = {code: tuple(g for g in CITY.grids() if g.station_code == code) for code in STATIONS}
PROFILE_OF = profiles.assign((s.code, s.county_code) for s in SAMPLE_STATIONS)
BEIJING = timedelta(hours=8)
console = Console(stderr=True, width=120)


def start(fleet: Fleet, name: str, *command: str) -> None:
    """A service process of the fleet, its output in .local/logs/<name>.log."""
    fleet.start(name, [str(BIN / command[0]), *command[1:]], LOGS / f"{name}.log")


def run_step(*command: str) -> None:
    """A one-off command (migrate, topics, ...) that must succeed."""
    done = subprocess.run([str(BIN / command[0]), *command[1:]], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"fengqiao: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def base_url(service: str) -> str:
    settings = SETTINGS[service]()
    return f"http://127.0.0.1:{settings.http_port}"


def token(service: str, roles: list[str], stations: tuple[str, ...] = (), subject: str = "fengqiao-run") -> str:
    secret = SETTINGS[service]().jwt_secret.get_secret_value()
    return issue_token(secret, subject=subject, roles=roles, stations=list(stations))


def wait_ready(fleet: Fleet, service: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead := fleet.dead():
            raise SystemExit(f"fengqiao: {', '.join(dead)} exited; see {LOGS}/")
        try:
            if httpx.get(f"{base_url(service)}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"fengqiao: {service} was not ready within {timeout:.0f} s; see {LOGS}/{service}-api.log")


def wait_for(what: str, check, timeout: float = 90.0):
    """Poll check() until it returns something truthy; a clear message names what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(1.0)
    raise SystemExit(f"fengqiao: {what} did not happen within {timeout:.0f} s; see {LOGS}/")


def queue_size(client: httpx.Client) -> int:
    """Claimable cases in the sample stations, as their chiefs see them."""
    headers = {"Authorization": "Bearer " + token("mediation", ["station_chief"], STATIONS)}
    total, cursor = 0, None
    while True:
        page = client.get(f"{base_url('mediation')}/v1/queue", params={"limit": 500, **({"cursor": cursor} if cursor
                                                                                          else {})}, headers=headers)
        page.raise_for_status()
        body = page.json()
        total += len(body["items"])
        if not (cursor := body["next_cursor"]):
            return total


def settled(read, quiet_s: float = 4.0, timeout: float = 120.0) -> int:
    """Poll a count until it has stayed the same, and above zero, for quiet_s seconds."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif now and time.monotonic() - since >= quiet_s:
            return now
        time.sleep(1.0)
    raise SystemExit(f"fengqiao: the count kept changing or stayed 0 for {timeout:.0f} s (last {last})")


def mediator_headers(station: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token("mediation", ["mediator", "lawyer", "court_liaison"], (station,),
                                                subject=f"scripted-mediator-{station}")}


def work_case(client: httpx.Client, station: str, case: str, plan: profiles.CasePlan, today: date) -> None:
    """Sessions, then the planned outcome: an agreement (with or without the court's confirmation), or a
    failure referred to the court or closed at the station."""
    steps = [("sessions", {"at": datetime.now(UTC).isoformat(), "participants": ["party_a", "party_b"],
                           "notes": f"第{n + 1}次调解会谈"}) for n in range(plan.sessions)]
    if plan.outcome == "agreement":
        steps.append(("outcome", {"type": "agreement", "terms": "双方自愿达成调解协议", "effective_date":
                                  today.isoformat(), "performance_date": (today + timedelta(days=15)).isoformat()}))
        if plan.confirmation == "confirmed":
            steps += [("confirmation-request", None),
                      ("confirmation", {"decision": "confirmed", "ruling_number": f"({today:%Y})示民特{case[:6]}号"})]
        elif plan.confirmation == "rejected":
            steps += [("confirmation-request", None),
                      ("confirmation", {"decision": "rejected", "reason": "协议部分内容超出当事人处分权限"})]
    else:
        steps.append(("outcome", {"type": "failure", "reason": "双方分歧较大"}))
        if plan.outcome == "referred":
            steps.append(("refer", {"to": "人民法院诉前调解", "reason": "调解不成"}))
    steps.append(("close", None))
    url, headers = base_url("mediation"), mediator_headers(station)
    for step, body in steps:
        answer = client.post(f"{url}/v1/cases/{case}/{step}", json=body, headers=headers)
        if answer.status_code >= 300:
            raise SystemExit(f"fengqiao: the scripted mediator's {step} of case {case} was refused: "
                             f"{answer.status_code} {answer.text}")


def work_cases(client: httpx.Client, per_station: int, today: date, seed: int,
               unsettled: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The scripted mediator: strong stations first, then average, then struggling ones; each claims the
    best cases of its queue, as many as its profile says, and works them to the planned end. A deferred
    profile's cases wait until every other station is done, and a few of its claims are left open.
    Returns the closed case ids of each station; (station, case) of every failure goes to `unsettled`."""
    url, closed = base_url("mediation"), {station: [] for station in STATIONS}
    deferred: list[tuple[str, str, profiles.CasePlan]] = []
    for profile in profiles.PROFILES:
        for station in (s for s in STATIONS if PROFILE_OF[s] is profile):
            wanted = profiles.claims(profile, per_station)
            plans = profiles.case_plans(profile, max(0, wanted - profile.left_open),
                                        profiles.rng_for(seed, station, "cases"))
            for n in range(wanted):
                claimed = client.post(f"{url}/v1/queue/claim-next", headers=mediator_headers(station))
                if claimed.status_code == 404:  # the queue is empty
                    break
                claimed.raise_for_status()
                if n >= len(plans):  # claimed and left lying on the desk
                    continue
                case = claimed.json()["id"]
                if profile.deferred:
                    deferred.append((station, case, plans[n]))
                    continue
                work_case(client, station, case, plans[n], today)
                closed[station].append(case)
                unsettled += [(station, case)] if plans[n].outcome != "agreement" else []
    for station, case, plan in deferred:
        work_case(client, station, case, plan, today)
        closed[station].append(case)
        unsettled += [(station, case)] if plan.outcome != "agreement" else []
    return closed


def calls_again(client: httpx.Client, unsettled: list[tuple[str, str]], seed: int) -> int:
    """A quarrel mediation did not settle comes back: for most failed cases the same caller calls 110 again
    from the same flat (a repeat dispute), so a station that settles less has more repeats this month.
    The call comes two days after the first, or at midnight if that is sooner: a rerun the same day posts
    the same records again (duplicates), not new calls."""
    rng, records = random.Random(seed), []
    midnight = (datetime.now(UTC) + BEIJING).replace(hour=0, minute=0, second=0, microsecond=0) - BEIJING
    for station, case_id in unsettled:
        if rng.random() >= 0.8:
            continue
        case = client.get(f"{base_url('mediation')}/v1/cases/{case_id}", headers=mediator_headers(station)).json()
        party, first = case.get("party") or {}, datetime.fromisoformat(case["received_at"])
        at = min(first + timedelta(days=2), midnight.replace(tzinfo=UTC))
        records.append({"source": case["source"], "incident_number": f"{case['incident_number']}-again",
                        "received_at": (at if at > first else first + timedelta(minutes=1)).isoformat(),
                        "station_code": station, "caller_name": party.get("caller_name"),
                        "caller_phone": party.get("caller_phone"), "address_text": party.get("address_text"),
                        "category_code": f"dispute.{case['dispute_type']}",
                        "description": "前次调解未果，双方又因同一纠纷发生争吵，报警人再次求助"})
    if not records:
        return 0
    answer = client.post(f"{base_url('intake')}/v1/dispatch-records/batch", json=records,
                         headers={"Authorization": "Bearer " + token("intake", ["feed"])})
    answer.raise_for_status()
    return answer.json()["summary"].get("accepted", 0)


def community_month(client: httpx.Client, closed: dict[str, list[str]], seed: int) -> int:
    """A month of community work for the sample stations, as much as each station's profile does: a
    callback for every closed case, household visits, information items and patrols in every grid
    (deterministic ids, so a rerun counts nothing twice)."""
    rng, now = random.Random(seed), datetime.now(UTC)
    activities = []
    for station in STATIONS:
        profile = PROFILE_OF[station]
        answers = profiles.satisfactions(profile, len(closed[station]), profiles.rng_for(seed, station, "callbacks"))
        activities += [{"type": "callback", "station_code": station, "case_id": case, "satisfaction": answer}
                       for case, answer in zip(closed[station], answers)]
        work = profiles.rng_for(seed, station, "community")
        for grid in GRIDS[station]:
            where = {"station_code": station, "grid_code": grid.code}
            activities += [{"type": "visit", **where, "household_key": f"{grid.code}-h{household:04d}"}
                           for household in profiles.visited_households(profile, grid.households, work)]
            activities += [{"type": "information", **where} for _ in range(work.randint(*profile.information))]
            activities += [{"type": "patrol", **where, "participants": work.randint(*profile.participants)}
                           for _ in range(work.randint(*profile.patrols))]
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - BEIJING
    for n, activity in enumerate(activities):
        offset = rng.uniform(0, max(1.0, (now - month_start).total_seconds() - 60))
        at = activity.get("occurred_at") or (month_start + timedelta(seconds=offset)).isoformat()
        key = f"{seed}/{now:%Y-%m}/{n}/{activity.get('case_id', '')}"
        activity |= {"occurred_at": at, "activity_id": str(uuid_of(key))}
    headers = {"Authorization": "Bearer " + token("assessment", ["feed"])}
    recorded = 0
    for start in range(0, len(activities), 2000):
        answer = client.post(f"{base_url('assessment')}/v1/community/activities", json=activities[start:start + 2000],
                             headers=headers)
        answer.raise_for_status()
        recorded += answer.json()["recorded"]
    return recorded


def uuid_of(key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"fengqiao:run:{key}")


def print_ranking(client: httpx.Client, month: str) -> None:
    """The month's ranking of the sample city's stations, county by county and, within a county, among the
    stations of the same cohort (urban, rural), as a bureau would report it upward; then the stations
    with too little data to rank and the calls no registered station holds."""
    headers = {"Authorization": "Bearer " + token("assessment", ["auditor"])}
    out = Console(width=140)
    grades: dict[str, int] = {}
    for county in COUNTIES:
        ranking = client.get(f"{base_url('assessment')}/v1/rankings", params={"month": month, "county": county},
                             headers=headers).json()
        listed = ranking["items"] + ranking["not_rankable"]
        table = Table(title=f"{month} {listed[0]['county_name'] if listed else county} 派出所考核排名 "
                            f"(county {county}, rules {ranking['rules_version']})")
        for column in ("cohort", "rank", "station", "name", "profile", "score", "grade", "candidate", "red line",
                       "tied with"):
            table.add_column(column)
        for item in ranking["items"]:
            profile = PROFILE_OF[item["unit"]].name if item["unit"] in PROFILE_OF else ""
            grades[item["grade"]] = grades.get(item["grade"], 0) + 1
            table.add_row(item["cohort"] or "", str(item["rank"]), item["unit"], item["name"] or "", profile,
                          item["score"], item["grade"], "★" if item["candidate"] else "",
                          "红线" if item["red_line"] else "", " ".join(item["tied_with"]))
        for item in ranking["not_rankable"]:
            why = item["not_rankable"]
            table.add_row(item["cohort"] or "", "—", item["unit"], item["name"] or "", "", "not rankable",
                          why["reason"], "", "", " ".join(why["figures"][:3]))
        out.print(table)
    quality = ranking["data_quality"]
    unknown = ", ".join(f"{u['code']} ({u['source']}) {u['calls']}" for u in quality["unknown_codes"]) or "none"
    out.print(f"grades: {', '.join(f'{g} {n}' for g, n in sorted(grades.items()))}; data quality of {month}: "
              f"{quality['calls']:,} calls, {quality['without_unit']:,} placed in no station, "
              f"unknown station codes: {unknown}")


def interrupted(*_) -> None:
    raise KeyboardInterrupt


def main(replicas: list[str] = typer.Option([], "--replicas", help="consumers per service, e.g. mediation=2"),
         records: int = typer.Option(2000, help="sample 110 records to feed"),
         cases_per_station: int = typer.Option(12, help="cases an average station claims (a strong one more)"),
         seed: int = typer.Option(1)) -> None:
    """Run Fengqiao end to end on the local stack until Ctrl-C."""
    counts = {"intake": 1, "mediation": 1, "assessment": 1}
    for given in replicas:
        service, _, n = given.partition("=")
        if service not in counts or not n.isdigit() or not 1 <= int(n) <= 6:
            raise typer.BadParameter(f"{given!r}: expected SERVICE=N, a service of {list(counts)} and 1 <= N <= 6 "
                                     f"(6 partitions per topic)", param_hint="--replicas")
        counts[service] = int(n)
    for service in SETTINGS:
        run_step(f"fengqiao-{service}", "migrate")
    run_step("fengqiao-intake", "topics")
    run_step("fengqiao-assessment", "load-reference")
    fleet = Fleet(say=lambda text: console.print(f"[yellow]fengqiao: {text}[/]"))
    signal.signal(signal.SIGTERM, interrupted)  # a SIGTERM stops the fleet as Ctrl-C does
    try:
        for service in SETTINGS:
            start(fleet, f"{service}-api", f"fengqiao-{service}", "api")
            for n in range(counts[service]):
                start(fleet, f"{service}-consume-{n + 1}", f"fengqiao-{service}", "consume")
        start(fleet, "mediation-sla", "fengqiao-mediation", "sla")
        for service in SETTINGS:
            wait_ready(fleet, service)
        console.print(f"fengqiao: {len(fleet.processes)} processes up "
                      f"({', '.join(f'{s} consumers x{n}' for s, n in counts.items())}); logs in {LOGS}/")
        # The ranked month is the current one, since the mediator works its cases now: the sample feed
        # fills it from its first day to the start of today (on the 1st, to a few minutes ago), so the
        # ranking has the whole feed however early in the month the run starts; a rerun the same day
        # posts the same records again (duplicates).
        now = datetime.now(UTC) + BEIJING
        today, first_day = now.date(), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elapsed = (now - first_day).total_seconds() / 86400
        days = float(int(elapsed)) if elapsed >= 1 else max(elapsed - 10 / 1440, 1 / 1440)
        feed = ROOT / ".local" / "sample-110.ndjson"
        run_step("fengqiao-intake", "sample", "--n", str(records), "--seed", str(seed), "--out", str(feed),
                 "--start", f"{first_day:%Y-%m-%d}", "--days", f"{days:.4f}")
        posted = subprocess.run([str(BIN / "fengqiao-intake"), "post", str(feed)], capture_output=True, text=True)
        console.print(posted.stdout.strip() or posted.stderr.strip())
        with httpx.Client(timeout=30) as client:
            pending = settled(lambda: queue_size(client))
            console.print(f"fengqiao: mediation holds {pending:,} claimable cases of the sample stations")
            unsettled: list[tuple[str, str]] = []
            closed = work_cases(client, cases_per_station, today, seed, unsettled)
            console.print(f"fengqiao: the scripted mediator closed {sum(map(len, closed.values()))} cases")
            again = calls_again(client, unsettled, seed)
            console.print(f"fengqiao: {again} callers of unsettled disputes called 110 again")
            recorded = community_month(client, closed, seed)
            console.print(f"fengqiao: {recorded:,} callbacks, visits, information items and patrols recorded")
            month = f"{today:%Y-%m}"
            auditor = {"Authorization": "Bearer " + token("assessment", ["auditor"])}

            def caught_up() -> bool:  # assessment has every case the mediator closed
                for station, cases in closed.items():
                    card = client.get(f"{base_url('assessment')}/v1/scorecards/stations/{station}",
                                      params={"month": month}, headers=auditor)
                    if card.status_code != 200 or card.json()["figures"]["resolution_rate"]["denominator"] < len(cases):
                        return False
                return True
            wait_for("assessment catching up with the closed cases", caught_up)
            print_ranking(client, month)
        dashboard = (f"{base_url('assessment')}/dashboard#token={token('assessment', ['auditor'], subject='dashboard')}"
                     f"&month={month}")
        for service in SETTINGS:
            console.print(f"  {service:<10} API docs  {base_url(service)}/docs")
        console.print(f"  dashboard  {dashboard}")
        console.print(f"  workbench  {base_url('mediation')}/workbench (one tab per person; these tokens sign in "
                      f"as station {STATIONS[0]}'s people):")
        for who, roles in (("mediator", ["mediator"]), ("court liaison", ["court_liaison"]),
                           ("chief", ["station_chief"])):
            signed = token("mediation", roles, (STATIONS[0],), subject=f"workbench-{roles[0]}")
            console.print(f"    {who:<13} {base_url('mediation')}/workbench#token={signed}")
        console.print("fengqiao: running; Ctrl-C stops every service (a process that exits is restarted)")
        while not (given_up := fleet.supervise()):
            time.sleep(1.0)
        console.print(f"[red]fengqiao: {', '.join(given_up)} kept exiting; stopping everything (see {LOGS}/)[/]")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("fengqiao: stopping the services")
    finally:
        for name in fleet.stop():
            console.print(f"[yellow]fengqiao: {name} did not stop within 20 s: killed[/]")
        console.print("fengqiao: services stopped; Kafka and PostgreSQL stay up (./fengqiao down stops them)")


if __name__ == "__main__":
    os.chdir(ROOT)
    typer.run(main)
