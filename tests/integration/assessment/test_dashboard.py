"""The dashboard in headless Chromium, against the real API in its own uvicorn process over real
PostgreSQL and Kafka: the table, the score chart, a unit's breakdown and trend show what the API answers."""
import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from deploy.local.infrastructure import ROOT
from deploy.local.processes import free_port
from services.assessment import reference
from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.kafka.admin import ensure_registered_topics
from tests.integration.assessment.contexts import context
from tests.integration.assessment.test_facts import case_event, incident
from tests.integration.assessment.test_scorecards import at_station

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--window-size=1400,1000")
ARTIFACTS = ROOT / ".local" / "artifacts"
SECRET = "dashboard-test-secret-of-32-bytes-or-more"
MAY = datetime(2024, 5, 3, 2, tzinfo=UTC)
A, B, C, D, E = "990101001", "990101002", "990101003", "990102001", "990102002"  # A-C in 990101; D, E in 990102
WAIT_S = 30


STATIONS = [(A, "望湖派出所", "990101", "北城区", 3345, 8540), (B, "东关派出所", "990101", "北城区", 3060, 7700),
            (C, "西岭派出所", "990101", "北城区", 2100, 5400), (D, "西山派出所", "990102", "南城区", 3370, 8780),
            (E, "南桥派出所", "990102", "南城区", 4000, 10180)]


def units() -> reference.ReferenceFile:
    return reference.ReferenceFile.model_validate({"stations": [
        {"code": code, "name": name, "county_code": county, "county_name": county_name, "households": households,
         "residents": residents, "cohort": "urban"}
        for code, name, county, county_name, households, residents in STATIONS]})


def case_of(station: str, number: str, kind: str, sequence: int, state: str, at: datetime, **details):
    """A case event of its own case at a station."""
    event = at_station(case_event(kind, sequence, state, at, **details), station)
    case_id = f"00000000-0000-4000-8000-{int(number):012d}"
    return event.model_copy(update={"data": event.data | {"case_id": case_id, "incident_number": f"C{number}"}})


def callbacks(station: str) -> list[Envelope]:
    """Ten satisfied callbacks: enough for the satisfaction rate, and with it for a rank (scoring.v2)."""
    return [Envelope(type="callback.recorded", producer="feed", key=station, data={
        "type": "callback", "occurred_at": (MAY + timedelta(hours=n)).isoformat(), "station_code": station,
        "satisfaction": "satisfied"}) for n in range(10)]


def month_events() -> list:
    """Scored against the targets of scoring.v2, every station with ten satisfied callbacks (20 points of 20):
    A: a repeat caller and an intentional injury in a disputed flat (the red line, and 0 of 15 for
       civil-to-criminal per 10,000 residents): (20 + 0 + 5) of 50 rankable = 50.00, grade D.
    B: a case left unclaimed past its SLA: (20 + 15 + 5) / 50 = 80.00, B; C: a dispute mediated to an
       agreement, and D, nothing else: also 80.00. The tie-break (resolution rate: none has enough cases;
       satisfaction: equal; SLA breaches) puts C and D, still tied, before B: ranks 1, 1, 3, 4.
    E has nothing at all: not rankable, no data. Two calls no station holds: data quality.
    A also had a dispute in April, so its trend has more than one month of facts."""
    room = {"address_precision": "room"}
    return [
        incident("A1", 1, MAY, caller_phone_hmac="p1", address_key="addr-1", **room),
        incident("A2", 1, MAY + timedelta(days=10), caller_phone_hmac="p1", address_key="addr-2", **room),
        incident("A3", 1, MAY + timedelta(days=12), kind="crime", crime_type="injury", dispute_type=None,
                 address_key="addr-1", **room),
        incident("A0", 1, MAY - timedelta(days=20), caller_phone_hmac="p9", address_key="addr-9", **room),
        at_station(incident("B1", 1, MAY, caller_phone_hmac="p2"), B),
        at_station(incident("B2", 1, MAY + timedelta(days=1), caller_phone_hmac="p3"), B),
        case_of(B, "1", "case.created", 1, "pending", MAY),
        case_of(B, "1", "case.escalated", 2, "pending", MAY + timedelta(hours=1), reason="unclaimed"),
        at_station(incident("C1", 1, MAY, caller_phone_hmac="p4"), C),
        case_of(C, "2", "case.created", 1, "pending", MAY),
        case_of(C, "2", "case.claimed", 2, "claimed", MAY + timedelta(minutes=20)),
        case_of(C, "2", "case.agreement_reached", 4, "agreement", MAY + timedelta(days=1)),
        case_of(C, "2", "case.closed", 5, "closed", MAY + timedelta(days=2)),
        at_station(incident("U1", 1, MAY), "unassigned"),
        at_station(incident("U2", 1, MAY, reported_station_code="FAKE-1", jurisdiction_method="unknown_station"),
                   "unassigned"),
        *callbacks(A), *callbacks(B), *callbacks(C), *callbacks(D),
    ]


@contextmanager
def api_server(service: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """`fengqiao-<service> api` on a free port until the block ends; yields its base URL once /readyz answers."""
    port = free_port()
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "-m", f"services.{service}", "api", "--port", str(port)],
                                   cwd=ROOT, env=os.environ | env, stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the {service} API exited during start-up:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the {service} API was not ready within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def headless_chromium():
    """Debian's Chromium driven through Debian's chromedriver: Selenium Manager never downloads anything."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run deploy/local/chromium.sh (./fengqiao test runs it)",
                    pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[test]' (./fengqiao test does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver, condition: Callable, what: str):
    """The condition's first truthy value within WAIT_S; otherwise fail with the browser's console."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        # The pages re-render on live updates: an element found and then replaced before it is read is
        # "not yet", and the condition is asked again, as for an element not there yet.
        return WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        console = "\n".join(entry["message"] for entry in driver.get_log("browser"))
        pytest.fail(f"{what} not shown within {WAIT_S} s; browser console:\n{console}")


def save_page(driver, path: Path) -> None:
    """A screenshot of the whole page, not only the window's first screen (Chromium's DevTools protocol)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
        "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def by_testid(root, testid: str) -> list:
    return root.find_elements("css selector", f'[data-testid="{testid}"]')


def shown_rows(driver) -> list[tuple[str, ...]]:
    return [tuple(by_testid(row, f"cell-{name}")[0].text for name in ("cohort", "rank", "unit", "name", "score",
                                                                       "grade", "candidate", "red-line", "tied"))
            for row in by_testid(driver, "ranking-row")]


def shown(value) -> str:
    return "—" if value is None else str(value)


def expected_row(item: dict) -> tuple[str, ...]:
    """A ranking item as the page shows it in Chinese: missing values as a dash."""
    return ("城区", shown(item["rank"]), item["unit"], item["name"], shown(item["score"]), shown(item["grade"]),
            "★" if item["candidate"] else "", "⚠ 红线" if item["red_line"] else "",
            f"并列 {', '.join(item['tied_with'])}" if item["tied_with"] else "")


async def test_the_dashboard_shows_what_the_api_answers(kafka_bootstrap, database_url, topic_prefix, tmp_path):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.assessment")
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)
    pool = await create_pool(database_url, max_size=2)
    try:
        async with pool.acquire() as conn:
            await reference.load(conn, units())
            async with conn.transaction():
                await facts_handler(context(settings))(conn, month_events())
    finally:
        await pool.close()
    token = issue_token(SECRET, subject="bureau", roles=["auditor"])
    env = {"ASSESSMENT_DATABASE_URL": database_url, "ASSESSMENT_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "ASSESSMENT_TOPIC_PREFIX": topic_prefix, "ASSESSMENT_ENVIRONMENT": "test", "ASSESSMENT_JWT_SECRET": SECRET}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with api_server("assessment", env, tmp_path / "assessment-api.log") as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        assert api.post("/v1/rankings/publish", json={"month": "2024-05"}).status_code == 201
        ranking = api.get("/v1/rankings", params={"month": "2024-05"}).json()
        trend = api.get(f"/v1/trends/stations/{A}", params={"from": "2023-12", "to": "2024-05"}).json()
        with headless_chromium() as driver:
            started = time.monotonic()
            driver.get(f"{base}/dashboard#token={token}&month=2024-05&kind=station")
            table_rows = wait_until(driver, lambda d: by_testid(d, "ranking-table")[0].get_attribute("data-state")
                                    == "ready" and by_testid(d, "ranking-row"), "the ranking table")
            rows = shown_rows(driver)
            bars = {bar.get_attribute("data-unit"): bar.get_attribute("data-score")
                    for bar in by_testid(driver, "score-bar")}
            badge = by_testid(driver, "publication-badge")[0]
            published = (badge.is_displayed(), badge.get_attribute("data-state"), badge.text)
            assert "token" not in driver.current_url, "the token left the address bar once stored"

            next(row for row in table_rows if row.get_attribute("data-unit") == A).click()
            wait_until(driver, lambda d: (by_testid(d, "detail")[0].get_attribute("data-unit") == A
                                          and by_testid(d, "detail")[0].get_attribute("data-state") == "ready"),
                       f"the detail of {A}")
            breakdown = [(bar.get_attribute("data-figure"), bar.get_attribute("data-points"))
                         for bar in by_testid(driver, "breakdown-bar")]
            chains = [(c.get_attribute("data-dispute"), c.get_attribute("data-crime"))
                      for c in by_testid(driver, "red-line-chain")]
            apart = [(r.get_attribute("data-unit"), by_testid(r, "cell-reason")[0].text)
                     for r in by_testid(driver, "not-rankable-row")]
            quality = by_testid(driver, "data-quality")[0]
            quality_shown = (quality.get_attribute("data-calls"), quality.get_attribute("data-without-unit"),
                             [(r.get_attribute("data-code"), r.get_attribute("data-calls"))
                              for r in by_testid(driver, "unknown-code-row")])
            points_text = [label.text for label in by_testid(driver, "breakdown-points")]
            trend_points = [(point.get_attribute("data-month"), point.get_attribute("data-score"))
                            for point in by_testid(driver, "trend-point")]
            elapsed = time.monotonic() - started
            screenshot = ARTIFACTS / "dashboard.png"
            save_page(driver, screenshot)
            by_testid(driver, "lang-toggle")[0].click()
            english = (driver.find_element("css selector", "h1").text,
                       [row[-1] for row in shown_rows(driver) if row[-1]])
            save_page(driver, ARTIFACTS / "dashboard-en.png")
    print(f"dashboard screenshot: {screenshot} (page ready and row detail shown in {elapsed:.1f} s)")

    items = ranking["items"]
    assert [(item["unit"], item["rank"], item["score"], item["grade"]) for item in items] == [
        (C, 1, "80.00", "B"), (D, 1, "80.00", "B"), (B, 3, "80.00", "B"), (A, 4, "50.00", "D")]
    assert rows == [expected_row(item) for item in items]
    assert bars == {item["unit"]: item["score"] for item in items if item["score"] is not None}
    # The data exercise what the page must show: a red line with its chain, a tie the tie-break could not
    # decide (C and D), a skipped rank, a unit not ranked, and calls no station holds.
    assert {item["unit"] for item in items if item["red_line"]} == {A} and chains == [("A1", "A3")]
    assert items[0]["tied_with"] == [D] and items[2]["tied_with"] == []
    assert apart == [(E, "本月无数据")] and [i["unit"] for i in ranking["not_rankable"]] == [E]
    assert quality_shown == ("8", "1", [("FAKE-1", "1")])
    assert published[0] and published[1] == "published" and published[2].startswith("已发布")
    contributions = next(item for item in items if item["unit"] == A)["contributions"]
    assert breakdown == [(c["figure"], c["points"]) for c in contributions]
    assert points_text == [f"{c['points']} 分" for c in contributions]
    assert len(trend_points) == len(trend["items"]) == 6
    assert trend_points == [(point["month"], point["score"] or "") for point in trend["items"]]
    assert english[0] == "Fengqiao · monthly assessment" and english[1] and all(
        text.startswith("Tied ") for text in english[1])
