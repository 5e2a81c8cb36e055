"""The workbench's sign-in through the identity provider's login page, in headless Chromium against the real
mediation API (its own uvicorn process over real PostgreSQL and Kafka) and a minimal real OIDC provider
this test serves over HTTP on another origin: an authorization endpoint that sends the browser straight
back with a code and the state, a token endpoint that checks the PKCE verifier against the challenge and
answers an RS256 JWT, and the JWKS mediation verifies it with. The button signs in, the code leaves the
address, and the page shows the user's queue as the API answers it for that token."""
import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.integration.assessment.test_dashboard import api_server, by_testid, headless_chromium, save_page, wait_until
from tests.integration.mediation.conftest import STATION, dispute_event
from tests.integration.mediation.test_workbench_browser import one, queue_ids

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CLIENT_ID = "fengqiao-workbench"
AUDIENCE = "fengqiao-mediation"


class Provider:
    """Authorization Code with PKCE (S256) for one public client, as Keycloak answers it, on a free port."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}  # code -> the authorization request it answers
        self.exchanges: list[dict[str, str]] = []  # what the token endpoint was sent, and what it said
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                url = urlsplit(self.path)
                if url.path == "/certs":
                    jwk = RSAAlgorithm.to_jwk(outer.key.public_key(), as_dict=True) | {"kid": "k1", "use": "sig"}
                    return self.answer(200, {"keys": [jwk]})
                if url.path != "/auth":
                    return self.answer(404, {"error": "not_found"})
                asked = {k: v[0] for k, v in parse_qs(url.query).items()}
                if asked.get("client_id") != CLIENT_ID or asked.get("code_challenge_method") != "S256" \
                        or asked.get("response_type") != "code" or "openid" not in asked.get("scope", "").split():
                    return self.answer(400, {"error": "invalid_request", "asked": asked})
                code = secrets.token_urlsafe(16)
                outer.codes[code] = asked
                # The user has a session at the provider: straight back, as a logged-in Keycloak does.
                self.send_response(302)
                self.send_header("Location", f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}")
                self.end_headers()

            def do_POST(self):  # noqa: N802
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                asked = outer.codes.pop(form.get("code", ""), None)  # a code is good once
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                ok = (asked is not None and form.get("grant_type") == "authorization_code"
                      and form.get("client_id") == CLIENT_ID and form.get("redirect_uri") == asked["redirect_uri"]
                      and challenge == asked["code_challenge"])
                outer.exchanges.append(form | {"ok": str(ok)})
                if not ok:
                    return self.answer(400, {"error": "invalid_grant"})
                now = int(time.time())
                token = jwt.encode({"sub": "sso-m1", "iss": outer.issuer, "aud": [AUDIENCE, "account"], "iat": now,
                                    "exp": now + 300, "azp": CLIENT_ID, "stations": [STATION],
                                    "realm_access": {"roles": ["mediator", "offline_access"]}},  # as Keycloak puts them
                                   outer.key, algorithm="RS256", headers={"kid": "k1"})
                self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                # The token endpoint is another origin than the page: the browser's fetch needs CORS.
                self.send_header("Access-Control-Allow-Origin", outer.page_origin)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.page_origin = ""


@contextmanager
def provider() -> Iterator[Provider]:
    served = Provider()
    threading.Thread(target=served.server.serve_forever, daemon=True).start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


async def test_the_button_signs_in_through_the_provider_and_the_page_shows_the_users_queue(
        mediation_settings, open_cases, tmp_path):
    started = time.monotonic()
    await open_cases([dispute_event("SSO-1"), dispute_event("SSO-2", risk_flags=["threat"])])
    s = mediation_settings
    with ExitStack() as stack:
        idp = stack.enter_context(provider())
        env = {"MEDIATION_DATABASE_URL": s.database_url, "MEDIATION_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
               "MEDIATION_TOPIC_PREFIX": s.topic_prefix, "MEDIATION_ENVIRONMENT": "test",
               "MEDIATION_JWT_JWKS_URL": f"{idp.issuer}/certs", "MEDIATION_JWT_ISSUER": idp.issuer,
               "MEDIATION_JWT_AUDIENCE": AUDIENCE, "MEDIATION_JWT_ROLES_CLAIM": "realm_access.roles",
               "MEDIATION_OIDC_AUTHORIZATION_URL": f"{idp.issuer}/auth",
               "MEDIATION_OIDC_TOKEN_URL": f"{idp.issuer}/token", "MEDIATION_OIDC_CLIENT_ID": CLIENT_ID}
        base = stack.enter_context(api_server("mediation", env, tmp_path / "mediation-api.log"))
        idp.page_origin = base
        assert httpx.get(f"{base}/workbench/config.json").json()["oidc"]["token_url"] == f"{idp.issuer}/token"

        driver = stack.enter_context(headless_chromium())
        driver.get(f"{base}/workbench")
        button = wait_until(driver, lambda d: (b := by_testid(d, "oidc-sign-in")) and b[0].is_displayed() and b[0],
                            "the identity provider's button")
        assert button.text == "通过统一身份认证登录"
        assert one(driver, "token-input").is_displayed(), "the pasted token stays"
        button.click()
        wait_until(driver, lambda d: one(d, "queue").get_attribute("data-state") == "ready"
                   and one(d, "live").get_attribute("data-state") == "on", "the queue after the provider's login")

        # One authorization, one exchange with the right verifier, and the code gone from the address.
        assert len(idp.exchanges) == 1 and idp.exchanges[0]["ok"] == "True"
        assert idp.exchanges[0]["redirect_uri"] == f"{base}/workbench"
        assert driver.current_url == f"{base}/workbench", "the code and state are taken off the address"
        token = driver.execute_script("return sessionStorage.getItem('fengqiao.workbench.token')")
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert driver.execute_script("return sessionStorage.getItem('fengqiao.workbench.oidc')") is None
        # The page shows what the API answers for the provider's token: the user's queue, high risk first.
        queue = httpx.get(f"{base}/v1/queue", headers={"Authorization": f"Bearer {token}"})
        assert queue.status_code == 200
        api_ids = [c["id"] for c in queue.json()["items"]]
        assert len(api_ids) == 2 and queue_ids(driver) == api_ids
        # The roles where the API reads them (realm_access.roles): a mediator's page, who may claim.
        assert one(driver, "who").text == f"sso-m1 · mediator, offline_access · {STATION}"
        assert one(driver, "claim-next").is_displayed()
        save_page(driver, tmp_path / "oidc-signed-in.png")

        # Coming back with a code the page did not ask for (no state of its own) exchanges nothing.
        one(driver, "sign-out").click()
        driver.get(f"{base}/workbench?code=forged&state=forged")
        error = wait_until(driver, lambda d: (e := one(d, "login-error")) and e.is_displayed() and e, "the refusal")
        assert error.text == "统一身份认证登录失败，请重试。" and len(idp.exchanges) == 1
        assert driver.current_url == f"{base}/workbench"
    print(f"OIDC sign-in in the browser: {time.monotonic() - started:.1f} s")
