"""Verified tokens are kept until they expire, and no longer; the cache is bounded."""
import time
from datetime import timedelta

import pytest

from shared import auth
from shared.auth import AuthError, TokenVerifier, issue_token
from shared.settings import ServiceSettings

SETTINGS = ServiceSettings(environment="test")
SECRET = SETTINGS.jwt_secret.get_secret_value()


def _token(subject: str = "m1", ttl: timedelta = timedelta(hours=1)) -> str:
    return issue_token(SECRET, subject=subject, roles=["mediator"], stations=["990101001"], ttl=ttl)


def test_a_verified_token_is_answered_from_the_cache_without_checking_it_again(monkeypatch):
    verifier = TokenVerifier(SETTINGS)
    token = _token()
    first = verifier.verify(token)
    monkeypatch.setattr(verifier, "_verify", lambda _: pytest.fail("verified twice"))
    assert verifier.verify(token) is first and verifier.cached(token) is first


def test_a_cached_token_stops_working_when_it_expires(monkeypatch):
    verifier = TokenVerifier(SETTINGS)
    token = _token(ttl=timedelta(minutes=5))
    verifier.verify(token)
    later = time.time() + 301
    monkeypatch.setattr(auth.time, "time", lambda: later)
    assert verifier.cached(token) is None, "past its exp, a token is checked again (and refused by PyJWT then)"


def test_a_refused_token_is_not_cached():
    verifier = TokenVerifier(SETTINGS)
    forged = issue_token("another-secret-of-thirty-two-bytes!!", subject="m1", roles=["mediator"])
    for _ in range(2):
        with pytest.raises(AuthError):
            verifier.verify(forged)
    assert verifier.cached(forged) is None


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest():
    verifier = TokenVerifier(SETTINGS, cache_size=3)
    tokens = [_token(f"m{i}") for i in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert [verifier.cached(t) is not None for t in tokens] == [False, False, True, True, True]
