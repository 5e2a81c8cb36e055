"""The workbench in headless Chromium, three browsers against the real mediation API in its own uvicorn
process over real PostgreSQL and Kafka: two mediators of one station see a new dispute appear without
reloading, one claims it and it leaves the other's queue (a late claim shows as lost, not as an error),
the case is worked to an agreement, a stale write says what changed, the agreement prints, the case
goes to the court, and a court liaison in the third browser accepts it and confirms it with a ruling
number, which the first mediator's page shows live. Every value read off a screen is compared with
what the API answers; controls are labelled and the path is walked with the keyboard."""
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.mediation import sla
from services.mediation.events import case_id
from shared.auth import issue_token
from tests.integration.assessment.test_dashboard import api_server, by_testid, headless_chromium, save_page, wait_until
from tests.integration.mediation.conftest import STATION, dispute_event

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SECRET = "workbench-test-secret-of-32-bytes-or-more"
RULING = "(2026)北01民特88号"
TERMS = "楼上住户于本月20日前修复防水层，并赔偿楼下住户2000元"


def one(root, testid: str):
    found = by_testid(root, testid)
    assert len(found) == 1, f"{len(found)} elements {testid}"
    return found[0]


def sign_in(driver, base: str, token: str) -> None:
    """Type the token and press Enter, then wait for the live stream."""
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{base}/workbench")
    field = wait_until(driver, lambda d: (f := by_testid(d, "token-input")) and f[0].is_displayed() and f[0],
                       "the sign-in form")
    assert driver.switch_to.active_element == field, "the token field has the focus on arrival"
    field.send_keys(token, Keys.ENTER)
    wait_until(driver, lambda d: one(d, "live").get_attribute("data-state") == "on", "the live queue")
    wait_until(driver, lambda d: one(d, "queue").get_attribute("data-state") == "ready", "the queue")


# Read in one script each: the page redraws its lists on every live event, so element handles go stale.
def queue_ids(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=queue-row]')].map(r => r.dataset.case)")


def field(driver, name: str) -> str:
    return driver.execute_script(
        "const f = document.querySelector(`[data-testid=facts] [data-field=${arguments[0]}]`);"
        "return f ? f.innerText : null", name)


def shown_actions(driver) -> set[str]:
    """The actions the case view offers: visible buttons and forms that carry one."""
    return set(driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=actions] [data-action]')]"
        ".filter(n => n.offsetParent).map(n => n.dataset.action)")) - {"parties"}


def case_shown(driver, case: dict) -> None:
    """Wait until the case view shows this version of the case, then compare it with the API's answer."""
    wait_until(driver, lambda d: (box := by_testid(d, "case")) and box[0].get_attribute("data-case-id") == case["id"]
               and box[0].get_attribute("data-version") == str(case["version"]), f"version {case['version']}")
    dash = "—"
    agreement = case["agreement"] or {}
    assert (field(driver, "state"), field(driver, "version"), field(driver, "holder"), field(driver, "sessions"),
            field(driver, "agreement"), field(driver, "ruling")) == (
        case["state_label"], str(case["version"]), case["claimed_by"] or dash, str(case["sessions"]),
        agreement.get("terms") or dash, case["ruling_number"] or dash)
    assert shown_actions(driver) == set(case["allowed_actions"]), (shown_actions(driver), case["allowed_actions"])
    entries = [e.get_attribute("data-action") for e in by_testid(driver, "timeline-entry")]
    assert entries == [e["action"] for e in case["timeline"]]


def set_value(driver, element_id: str, value: str) -> None:
    """Date and time inputs take their value from script: what a date picker types differs by locale."""
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]", element_id, value)


def unlabelled(driver) -> list[str]:
    """Visible form controls without a label, and buttons without a name."""
    return driver.execute_script("""
        const missing = [];
        for (const c of document.querySelectorAll('input, select, textarea')) {
          if (!c.offsetParent) continue;
          const named = (c.id && document.querySelector(`label[for="${c.id}"]`)) || c.getAttribute('aria-label')
            || c.closest('label');
          if (!named) missing.push(c.outerHTML.slice(0, 80));
        }
        for (const b of document.querySelectorAll('button')) {
          if (b.offsetParent && !(b.textContent.trim() || b.getAttribute('aria-label'))) missing.push(b.outerHTML.slice(0, 80));
        }
        return missing;""")


async def test_two_mediators_and_a_court_liaison_work_a_case_from_the_queue_to_the_ruling(
        mediation_settings, mediation_ctx, open_cases, tmp_path):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    started = time.monotonic()
    s = mediation_settings
    env = {"MEDIATION_DATABASE_URL": s.database_url, "MEDIATION_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
           "MEDIATION_TOPIC_PREFIX": s.topic_prefix, "MEDIATION_ENVIRONMENT": "test", "MEDIATION_JWT_SECRET": SECRET}
    tokens = {who: issue_token(SECRET, subject=who, roles=[role], stations=[STATION])
              for who, role in (("m1", "mediator"), ("m2", "mediator"), ("c1", "court_liaison"),
                                         ("chief", "station_chief"))}
    # Waiting before the browsers open: an older dispute, and a high-risk one received later that still comes first.
    await open_cases([dispute_event("WB-OLD"), dispute_event("WB-RISK", risk_flags=["threat"], dispute_type="family")])
    ident = str(case_id("BJ-CAD", "WB-NEW"))
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with ExitStack() as stack:
        base = stack.enter_context(api_server("mediation", env, tmp_path / "mediation-api.log"))
        clients = {who: stack.enter_context(httpx.Client(base_url=base, timeout=30,
                                                         headers={"Authorization": f"Bearer {token}"}))
                   for who, token in tokens.items()}

        def case_of(who: str) -> dict:
            answer = clients[who].get(f"/v1/cases/{ident}")
            assert answer.status_code == 200, answer.text
            return answer.json()

        first, second = stack.enter_context(headless_chromium()), stack.enter_context(headless_chromium())
        sign_in(first, base, tokens["m1"])
        sign_in(second, base, tokens["m2"])
        api_queue = [c["id"] for c in clients["m1"].get("/v1/queue").json()["items"]]
        assert queue_ids(first) == queue_ids(second) == api_queue and len(api_queue) == 2
        risky = first.find_element("css selector", f'[data-case="{api_queue[0]}"]')
        assert risky.get_attribute("data-high-risk") == "true" and "高风险" in risky.text
        assert unlabelled(first) == []

        # A new dispute appears in both queues without a reload.
        await open_cases([dispute_event("WB-NEW", caller_name="王小明", caller_phone="13812345678",
                                        address_text="湖光路12号3单元502", description="楼上漏水，多次协商未果")])
        for driver in (first, second):
            wait_until(driver, lambda d: ident in queue_ids(d), "the new dispute in the queue")
        assert queue_ids(first) == [c["id"] for c in clients["m1"].get("/v1/queue").json()["items"]]
        save_page(second, shots / "1-queue-live.png")

        # The first mediator claims it with the keyboard; it leaves the second's queue, live.
        claim = first.find_element("css selector", f'[data-case="{ident}"] [data-testid="claim"]')
        assert claim.get_attribute("aria-label") == "认领 WB-NEW"
        claim.send_keys(Keys.ENTER)
        wait_until(second, lambda d: ident not in queue_ids(d), "the claimed case leaving the other queue")
        case_shown(first, case_of("m1"))
        assert first.switch_to.active_element == one(first, "case-title"), "the opened case takes the focus"
        # The second mediator's claim that arrives late (clicked on a row it still showed) is lost, not failed.
        second.execute_script("claim({id: arguments[0]})", ident)
        notice = wait_until(second, lambda d: (n := one(d, "notice")) and n.get_attribute("data-claim-lost") == ident
                            and n, "the lost claim")
        assert notice.text == "该案件已被 m1 认领。" and notice.get_attribute("data-kind") == "info"
        assert notice.get_attribute("role") == "status"
        # The second mediator takes the next case instead (high risk first), then gives it back: both live.
        one(second, "claim-next").send_keys(Keys.ENTER)
        risky_id = api_queue[0]
        wait_until(second, lambda d: one(d, "case").get_attribute("data-case-id") == risky_id, "the next case")
        wait_until(first, lambda d: risky_id not in queue_ids(d), "the next case leaving the other queue")
        assert field(second, "holder") == "m2"
        one(second, "do-release").send_keys(Keys.ENTER)
        wait_until(first, lambda d: queue_ids(d)[:1] == [risky_id], "the released case back at the head of the queue")

        # A session, a respondent, then an agreement: typed, submitted with Enter.
        set_value(first, "session-at", "2026-12-05T10:00")
        first.find_element("id", "session-participants").send_keys("王小明，李四")
        first.find_element("id", "session-notes").send_keys("双方到场")
        first.find_element("id", "session-participants").send_keys(Keys.ENTER)
        wait_until(first, lambda d: field(d, "sessions") == "1", "the session")
        assert case_of("m1")["sessions"] == 1
        case_shown(first, case_of("m1"))
        Select(first.find_element("id", "party-role")).select_by_value("respondent")
        first.find_element("id", "party-name").send_keys("李四")
        first.find_element("id", "party-phone").send_keys("13900001111", Keys.ENTER)
        wait_until(first, lambda d: len(by_testid(d, "party")) == 2, "the respondent")
        case_shown(first, case_of("m1"))
        # A mistyped phone, corrected in place (PUT .../parties/1).
        by_testid(by_testid(first, "party")[1], "correct-party")[0].send_keys(Keys.ENTER)
        assert first.switch_to.active_element == first.find_element("id", "party-name")
        phone = first.find_element("id", "party-phone")
        phone.clear()
        phone.send_keys("13900002222", Keys.ENTER)
        wait_until(first, lambda d: "13900002222" in by_testid(d, "party")[1].text, "the corrected phone")
        assert [p["phone"] for p in case_of("m1")["parties"]] == ["13812345678", "13900002222"]
        case_shown(first, case_of("m1"))

        # A stale write: the page read version n, someone wrote n+1; the answer is 412, the page reloads and says what.
        first.execute_script("window.__read = JSON.parse(JSON.stringify(state.caseData))")
        stale_version = case_of("m1")["version"]
        assert clients["m1"].post(f"/v1/cases/{ident}/sessions", json={
            "at": "2026-12-05T15:00:00+08:00", "participants": ["王小明"], "notes": "电话沟通"}).status_code == 200
        case_shown(first, case_of("m1"))  # the live stream reloads it
        first.execute_script("state.caseData = window.__read; renderCase()")
        first.find_element("id", "outcome-terms").send_keys(TERMS)
        set_value(first, "outcome-effective", "2026-12-05")
        set_value(first, "outcome-performance", "2026-12-20")
        first.find_element("css selector", "#form-outcome button[type=submit]").send_keys(Keys.ENTER)
        stale = wait_until(first, lambda d: (n := one(d, "stale")) and n.is_displayed() and n, "the stale write")
        assert f"版本 {stale_version} → {stale_version + 1}" in stale.text and "调解次数：1 → 2" in stale.text
        assert first.find_element("id", "outcome-terms").get_attribute("value") == TERMS, "the form keeps its values"
        case_shown(first, case_of("m1"))
        first.find_element("css selector", "#form-outcome button[type=submit]").send_keys(Keys.ENTER)
        wait_until(first, lambda d: field(d, "state") == "达成协议", "the agreement")
        agreed = case_of("m1")
        assert agreed["agreement"] == {"terms": TERMS, "effective_date": "2026-12-05", "performance_date": "2026-12-20"}
        case_shown(first, agreed)

        # The agreement as the printable 调解协议书.
        one(first, "doc-agreement").send_keys(Keys.ENTER)
        document = wait_until(first, lambda d: (n := one(d, "document")) and n.is_displayed() and n, "the agreement")
        assert document.find_element("css selector", "h1").text == "人民调解协议书"
        assert [p.text for p in by_testid(document, "document-party")] == [
            "申请人：王小明，联系电话：13812345678，身份证号：＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿",
            "被申请人：李四，联系电话：13900002222，身份证号：＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿"]
        assert one(document, "document-terms").text == TERMS and "楼上漏水" in one(document, "document-facts").text
        assert one(document, "document-performance").text == "协议自2026年12月5日起生效，当事人应于2026年12月20日前履行完毕。"
        assert "人民调解委员会（盖章）" in document.text and "调解员（签名）：m1" in document.text
        save_page(first, shots / "2-agreement.png")
        one(first, "close-document").send_keys(Keys.ENTER)
        one(first, "doc-application").send_keys(Keys.ENTER)
        application = wait_until(first, lambda d: (n := one(d, "document")) and n.get_attribute("data-kind")
                                 == "application" and n, "the application")
        assert application.find_element("css selector", "h1").text == "司法确认申请书"
        assert "2026年12月5日" in one(application, "document-request").text
        save_page(first, shots / "3-application.png")
        one(first, "close-document").send_keys(Keys.ENTER)

        # Handed to the court.
        Select(first.find_element("id", "handoff-to")).select_by_value("court")
        first.find_element("id", "handoff-org").send_keys("示例市北城区人民法院")
        first.find_element("id", "handoff-court-number").send_keys("(2026)北01民诉前调12号", Keys.ENTER)
        wait_until(first, lambda d: "法院" in field(d, "handoff"), "the handoff")
        case_shown(first, case_of("m1"))
        assert unlabelled(first) == []

        # The court liaison, in a third browser, accepts it, asks for and gives the confirmation.
        court = stack.enter_context(headless_chromium())
        sign_in(court, base, tokens["c1"])
        waiting = wait_until(court, lambda d: by_testid(d, "handoff"), "the handoff waiting for the court")
        assert [h.get_attribute("data-case") for h in waiting] == [
            h["case_id"] for h in clients["c1"].get("/v1/handoffs").json()["items"]] == [ident]
        one(waiting[0], "accept-handoff").send_keys(Keys.ENTER)
        wait_until(court, lambda d: field(d, "holder") == "c1", "the accepted case")
        case_shown(court, case_of("c1"))
        one(court, "do-confirmation-request").send_keys(Keys.ENTER)
        wait_until(court, lambda d: field(d, "state") == "司法确认申请中", "the confirmation request")
        case_shown(court, case_of("c1"))
        court.find_element("id", "ruling-number").send_keys(RULING, Keys.ENTER)
        wait_until(court, lambda d: field(d, "ruling") == RULING, "the ruling number")
        confirmed = case_of("c1")
        assert (confirmed["state"], confirmed["ruling_number"]) == ("confirmed", RULING)
        case_shown(court, confirmed)
        save_page(court, shots / "4-court-confirmed.png")

        # The first mediator, who worked the case, sees the ruling without reloading.
        wait_until(first, lambda d: field(d, "ruling") == RULING, "the ruling on the mediator's page")
        case_shown(first, case_of("m1"))
        assert [e.text.split(" · ")[1:3] for e in by_testid(first, "timeline-entry")][-3:] == [
            ["c1", "接收移交"], ["c1", "申请司法确认 → 司法确认申请中"], ["c1", "司法确认 → 已司法确认"]]
        save_page(first, shots / "5-mediator-sees-ruling.png")

        # The two cases nobody claimed pass their SLA: the queue marks them live, and the chief (the second
        # browser, signed in again) sees them and the breaches; party data only with a stated purpose.
        await sla.sweep(mediation_ctx, datetime.now(UTC) + timedelta(days=3))
        wait_until(first, lambda d: d.execute_script(
            "return [...document.querySelectorAll('[data-testid=queue-row]')].every(r => r.dataset.escalated === 'true')"
            " && document.querySelectorAll('[data-testid=queue-row]').length === 2"), "the escalation marks")
        one(second, "sign-out").send_keys(Keys.ENTER)
        sign_in(second, base, tokens["chief"])
        escalated = clients["chief"].get("/v1/cases", params={"escalated": "true"}).json()["items"]
        wait_until(second, lambda d: len(by_testid(d, "escalated")[0].find_elements("css selector", "li"))
                   == len(escalated) == 2, "the chief's escalations")
        assert one(second, "sla-breaches").text == "本所超时：超时未认领 2"
        assert not by_testid(second, "claim") and not one(second, "claim-next").is_displayed(), "chiefs do not claim"
        second.find_element("css selector", f'[data-testid="escalated"] [data-case="{escalated[0]["id"]}"] button').click()
        wait_until(second, lambda d: one(d, "case").get_attribute("data-case-id") == escalated[0]["id"], "the case")
        second.execute_script("openCase(arguments[0])", ident)
        wait_until(second, lambda d: one(d, "case").get_attribute("data-case-id") == ident, "the confirmed case")
        assert one(second, "form-purpose").is_displayed() and not by_testid(second, "party")
        second.find_element("id", "purpose").send_keys("核查协议履行情况", Keys.ENTER)
        wait_until(second, lambda d: len(by_testid(d, "party")) == 2, "the parties for a stated purpose")
        assert unlabelled(second) == []
        save_page(second, shots / "6-chief.png")
        one(first, "lang-toggle").send_keys(Keys.ENTER)
        wait_until(first, lambda d: d.find_element("css selector", "h1").text == "Fengqiao · mediator's workbench",
                   "the English page")
        assert field(first, "state") == "Confirmed by the court"
        save_page(first, shots / "7-english.png")
        assert unlabelled(court) == []
    elapsed = time.monotonic() - started
    print(f"workbench screenshots: {shots} ({elapsed:.1f} s)")
