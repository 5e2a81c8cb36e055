"""Tokens of a real identity provider (docs/security.md, Bearer tokens): RS256/ES256 against a JWKS this
test serves over HTTP, rotation by kid, iss and aud, the maximum lifetime, strict claim types, and
HS256 refused in production; every refusal a 401 in the one error shape on all three services."""
import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from services.assessment.api import create_app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.intake.api import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.mediation.api import create_app as mediation_app
from services.mediation.settings import MediationSettings
from shared.auth import AuthError, TokenVerifier, issue_token

ISSUER = "https://sso.example/realms/fengqiao"
RSA_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_C = ec.generate_private_key(ec.SECP256R1())


def _jwk(key, kid: str) -> dict:
    public = key.public_key()
    jwk = (RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm).to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


class _Jwks:
    """A JWKS endpoint on a free port, whose keys the test changes, counting its fetches."""

    def __init__(self) -> None:
        self.keys, self.fetches, self.down = [_jwk(RSA_A, "a"), _jwk(EC_C, "c")], 0, False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                outer.fetches += 1
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realms/fengqiao/protocol/openid-connect/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def jwks_server():
    served = _Jwks()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def jwks(jwks_server):
    # One server for the module; each test starts from the same keys and no fetches.
    jwks_server.keys, jwks_server.fetches, jwks_server.down = [_jwk(RSA_A, "a"), _jwk(EC_C, "c")], 0, False
    return jwks_server


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"sub": "m1", "iss": ISSUER, "aud": ["fengqiao-mediation", "account"], "iat": now, "exp": now + 600,
              "roles": ["mediator"], "stations": ["990101001"], "channels": ["station_officer"]}
    return {k: v for k, v in (claims | overrides).items() if v is not _ABSENT}


_ABSENT = object()


def _sign(key=RSA_A, kid="a", alg="RS256", **overrides) -> str:
    return jwt.encode(_claims(**overrides), key, algorithm=alg, headers={"kid": kid} if kid else None)


def _settings(cls=MediationSettings, audience="fengqiao-mediation", **kw):
    return cls(environment="test", jwt_jwks_url=kw.pop("url"), jwt_issuer=ISSUER, jwt_audience=audience,
               jwt_jwks_refetch_seconds=kw.pop("refetch", 0.0), **kw)


def test_rs256_and_es256_tokens_of_the_jwks_name_the_caller(jwks):
    verifier = TokenVerifier(_settings(url=jwks.url))
    principal = verifier.verify(_sign())
    assert (principal.subject, principal.roles, principal.stations, principal.channels) == (
        "m1", {"mediator"}, {"990101001"}, {"station_officer"})
    assert verifier.verify(_sign(EC_C, "c", "ES256")).roles == {"mediator"}
    assert jwks.fetches == 1, "the keys are cached, not fetched per token"


def test_rotation_a_new_kid_is_fetched_and_a_removed_one_refused(jwks):
    verifier = TokenVerifier(_settings(url=jwks.url))
    old = _sign(RSA_A, "a")
    assert verifier.verify(old).subject == "m1"
    jwks.keys = [_jwk(RSA_B, "b")]  # the provider rotates: b appears, a is gone
    assert verifier.verify(_sign(RSA_B, "b", sub="m2")).subject == "m2"
    assert jwks.fetches == 2
    with pytest.raises(AuthError, match="no key 'a'"):
        verifier.verify(old)


def test_unknown_kids_refetch_at_most_once_per_interval(jwks):
    verifier = TokenVerifier(_settings(url=jwks.url, refetch=60.0))
    verifier.verify(_sign())
    for n in range(20):
        with pytest.raises(AuthError):
            verifier.verify(_sign(RSA_B, f"made-up-{n}"))
    assert jwks.fetches == 1, "a flood of invented kids must not become a flood of requests to the provider"


def test_the_provider_away_keeps_the_cached_keys_and_is_asked_once_per_interval(jwks):
    verifier = TokenVerifier(_settings(url=jwks.url, refetch=60.0, jwt_jwks_cache_seconds=0.01))
    token = _sign()
    verifier.verify(token)
    jwks.down = True
    time.sleep(0.05)  # the cache is stale now
    for _ in range(10):  # stale, but within the interval the provider is not asked again
        verifier.verify(token)
    assert jwks.fetches == 1, "stale keys are refreshed at most once per interval"
    eager = TokenVerifier(_settings(url=jwks.url, refetch=0.0, jwt_jwks_cache_seconds=0.01))
    jwks.down = False
    eager.verify(token)
    jwks.down = True
    time.sleep(0.05)
    assert eager.verify(token).subject == "m1" and jwks.fetches == 3  # tried again, kept the keys


@pytest.mark.parametrize("token, why", [
    (lambda: _sign(iss="https://other.example/realms/x"), "Invalid issuer"),
    (lambda: _sign(iss=_ABSENT), "iss"),
    (lambda: _sign(aud=["fengqiao-intake"]), "(?i)audience"),
    (lambda: _sign(aud=_ABSENT), "aud"),
    (lambda: _sign(kid=None), "no key None"),
    (lambda: _sign(RSA_B, "a"), "Signature verification failed"),  # a's kid, another key's signature
    (lambda: _sign(EC_C, "a", "ES256"), "signs with RS256"),  # an RSA key asked to verify ES256
    (lambda: jwt.encode(_claims(), None, algorithm="none"), "'none'"),
    (lambda: jwt.encode(_claims(), "fengqiao-local-development-only-secret", algorithm="HS256",
                        headers={"kid": "a"}), "'HS256'"),
], ids=["iss-other", "iss-missing", "aud-other-service", "aud-missing", "no-kid", "wrong-key", "alg-swap",
        "alg-none", "hs256-with-jwks"])
def test_tokens_not_for_this_service_or_not_from_the_provider_are_refused(jwks, token, why):
    with pytest.raises(AuthError, match=why):
        TokenVerifier(_settings(url=jwks.url)).verify(token())


@pytest.mark.parametrize("iat, exp", [
    (0, 13 * 3600),  # from now on: longer than 12 h
    (-13 * 3600, 60),  # issued long ago, still unexpired
    (0, int(datetime(2300, 1, 1, tzinfo=UTC).timestamp() - time.time())),  # the issue's year 2300
], ids=["exp-far", "lifetime-long", "year-2300"])
def test_tokens_living_longer_than_the_maximum_are_refused(jwks, iat, exp):
    now = int(time.time())  # at the test, not at collection: the token must not have expired meanwhile
    with pytest.raises(AuthError, match="longer than 43200 s"):
        TokenVerifier(_settings(url=jwks.url)).verify(_sign(iat=now + iat, exp=now + exp))
    shorter = TokenVerifier(_settings(url=jwks.url, jwt_max_lifetime_seconds=400))
    with pytest.raises(AuthError, match="longer than 400 s"):
        shorter.verify(_sign())  # 600 s


def test_a_keycloak_realm_maps_by_settings_alone(jwks):
    settings = _settings(url=jwks.url, jwt_roles_claim="realm_access.roles", jwt_stations_claim="fengqiao.stations")
    token = _sign(roles=_ABSENT, stations=_ABSENT, realm_access={"roles": ["offline_access", "station_chief"]},
                  fengqiao={"stations": ["990101002"]})
    principal = TokenVerifier(settings).verify(token)
    assert principal.roles == {"offline_access", "station_chief"} and principal.stations == {"990101002"}
    assert TokenVerifier(settings).verify(_sign(realm_access={})).roles == frozenset(), "absent: no roles, so 403"
    for bad in (["station_chief"], None, 5):
        with pytest.raises(AuthError, match="realm_access.roles"):
            TokenVerifier(settings).verify(_sign(realm_access=bad))


def test_the_provider_away_with_no_key_cached_is_503_not_a_bad_token():
    with socket_closed() as url:
        app = _app(mediation_app, _settings(url=url))
        answer = _get(app, "/v1/queue", _sign())
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["detail"]["code"] == "identity_provider_unavailable"


class socket_closed:  # noqa: N801 (used as a context manager)
    """A URL on a port nothing listens on."""

    def __enter__(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        port = server.server_address[1]
        server.server_close()
        return f"http://127.0.0.1:{port}/certs"

    def __exit__(self, *exc) -> None:
        return None


# What each service's routes answer, before any database is asked: the token is checked first.
SERVICES = {
    "intake": (intake_app, IntakeSettings, "fengqiao-intake", "post", "/v1/dispatch-records", ["feed"], "auditor"),
    "mediation": (mediation_app, MediationSettings, "fengqiao-mediation", "get", "/v1/queue", ["mediator"], "feed"),
    "assessment": (assessment_app, AssessmentSettings, "fengqiao-assessment", "get", "/v1/rankings?month=2024-05",
                   ["auditor"], "feed"),
}


def _app(factory, settings):
    app = factory(settings)
    app.state.resources = SimpleNamespace(settings=settings)  # what the lifespan would open; no database needed
    return app


def _get(app, path, token, method="get", english=False):
    headers = {"Authorization": f"Bearer {token}"} | ({"Accept-Language": "en"} if english else {})

    async def ask():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.request(method.upper(), path, headers=headers, json={} if method == "post" else None)

    return asyncio.run(ask())


BAD_CLAIMS = {
    "roles-number": {"roles": 5}, "roles-null": {"roles": None}, "roles-string": {"roles": "mediator"},
    "roles-nested": {"roles": [["mediator"]]}, "roles-number-item": {"roles": [1]}, "roles-object": {"roles": {"a": 1}},
    "stations-number": {"stations": 990101001}, "stations-null": {"stations": None},
    "stations-nested": {"stations": [["990101001"]]}, "channels-null": {"channels": None},
    "channels-nested": {"channels": [[]]}, "sub-number": {"sub": 7}, "sub-empty": {"sub": ""},
    "exp-string": {"exp": str(2 ** 40)}, "iat-missing": {"iat": _ABSENT},
    "exp-infinite": {"exp": float("inf")},
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("bad", BAD_CLAIMS)
def test_each_bad_claim_type_is_a_401_in_the_one_shape_on_every_service(jwks, service, bad):
    factory, cls, audience, method, path, roles, refused = SERVICES[service]
    app = _app(factory, _settings(cls, audience, url=jwks.url))
    token = _sign(aud=audience, **({"roles": roles} | BAD_CLAIMS[bad]))
    answer = _get(app, path, token, method, english=True)
    assert answer.status_code == 401, answer.text
    assert answer.json() == {"detail": {"code": "invalid_token",
                                        "message": "the bearer token is invalid or has expired"}}
    assert answer.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("service", SERVICES)
def test_a_good_token_passes_the_check_on_every_service_and_another_services_does_not(jwks, service):
    factory, cls, audience, method, path, roles, refused = SERVICES[service]
    app = _app(factory, _settings(cls, audience, url=jwks.url))
    other = next(a for s, (_, _, a, *_) in SERVICES.items() if s != service)
    assert _get(app, path, _sign(aud=other, roles=roles), method).status_code == 401
    # A valid token of a role the route refuses: 403, so the token itself passed (no database is open here).
    answer = _get(app, path, _sign(aud=audience, roles=[refused]), method)
    assert answer.status_code == 403 and answer.json()["detail"]["code"] == "forbidden_role"


def _production(cls, url, audience):
    return cls(environment="production", database_url="postgresql://svc:s3cret@db:5432/svc",
               kafka_bootstrap_servers="kafka-1:9092", jwt_secret="a-production-signing-key-of-some-length",
               phone_hmac_secret="a-production-hmac-key", jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=audience)


@pytest.mark.parametrize("service", SERVICES)
def test_hs256_is_refused_in_production_even_signed_with_the_configured_secret(jwks, service):
    factory, cls, audience, method, path, roles, refused = SERVICES[service]
    settings = _production(cls, jwks.url, audience)
    app = _app(factory, settings)
    hs256 = issue_token(settings.jwt_secret.get_secret_value(), subject="m1", roles=roles)
    answer = _get(app, path, hs256, method)
    assert answer.status_code == 401 and answer.json()["detail"]["code"] == "invalid_token"
    assert _get(app, path, _sign(aud=audience, roles=[refused]), method).status_code == 403, \
        "the provider's token of the same caller passes the token check"


def test_production_without_a_jwks_refuses_hs256_in_the_verifier_too():
    settings = _production(MediationSettings, "http://unused.example/certs", "fengqiao-mediation")
    verifier = TokenVerifier(settings)
    verifier.keys = None  # as if the settings had let production start without a provider
    with pytest.raises(AuthError, match="HS256 tokens are refused in production"):
        verifier.verify(issue_token(settings.jwt_secret.get_secret_value(), subject="m", roles=["mediator"]))


def test_local_hs256_tokens_still_work_and_obey_the_same_claim_rules():
    settings = MediationSettings(environment="test")
    secret = settings.jwt_secret.get_secret_value()
    verifier = TokenVerifier(settings)
    assert verifier.verify(issue_token(secret, subject="m", roles=["mediator"])).roles == {"mediator"}
    now = datetime.now(UTC)
    with pytest.raises(AuthError, match="list of strings"):
        verifier.verify(jwt.encode({"sub": "m", "roles": None, "iat": now, "exp": now + timedelta(hours=1)}, secret))
    with pytest.raises(AuthError, match="longer than"):
        verifier.verify(issue_token(secret, subject="m", roles=["mediator"], ttl=timedelta(hours=13)))
