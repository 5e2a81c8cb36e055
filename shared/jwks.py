"""The identity provider's signing keys, fetched from its JWKS URL and cached by `kid`.

Keys rotate: a token signed by a key not yet seen triggers one refetch, at most once per
`refetch_seconds`, so a flood of made-up kids cannot turn every request into a call to the provider.
A fetch replaces the whole set, so a key the provider removed stops verifying tokens.
"""
import threading
import time

import httpx
import jwt
import structlog

log = structlog.get_logger(__name__)
# The algorithms an identity provider's asymmetric keys sign with; the JWK decides which one a key takes.
ASYMMETRIC = ("RS256", "ES256")
_FETCH_TIMEOUT_S = 5.0


class KeysUnavailable(RuntimeError):
    """The JWKS could not be fetched and no key is cached: the provider's fault, not the token's."""


class JwksKeys:
    """Signing keys by kid; thread-safe (FastAPI runs the auth dependency in its thread pool)."""

    def __init__(self, url: str, *, cache_seconds: float, refetch_seconds: float) -> None:
        self.url, self.cache_seconds, self.refetch_seconds = url, cache_seconds, refetch_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # monotonic time of the last attempt, failed or not
        self._loaded_at = float("-inf")  # monotonic time of the last successful fetch
        self._lock = threading.Lock()

    @property
    def loaded_at(self) -> float:
        """When the keys in use were fetched (monotonic): a change means the key set may have changed."""
        return self._loaded_at

    def key(self, kid: str) -> jwt.PyJWK | None:
        """The key of this kid, or None when the provider does not publish it (after one allowed refetch)."""
        with self._lock:
            now = time.monotonic()
            # Both reasons to fetch wait out the interval: while the provider is away, stale keys are
            # kept and it is asked again once per interval, not on every request.
            may_fetch = now - self._fetched_at >= self.refetch_seconds
            if may_fetch and (kid not in self._keys or now - self._loaded_at > self.cache_seconds):
                self._fetch(now)
            return self._keys.get(kid)

    def _fetch(self, now: float) -> None:
        self._fetched_at = now
        try:
            answer = httpx.get(self.url, timeout=_FETCH_TIMEOUT_S)
            answer.raise_for_status()
            published = answer.json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("jwks.fetch_failed", url=self.url, error_type=type(exc).__name__)
            if not self._keys:
                raise KeysUnavailable(f"the JWKS at {self.url} could not be read") from exc
            return  # keep the keys we have: a provider's hiccup should not log everyone out
        keys = {}
        for jwk in published if isinstance(published, list) else []:
            try:
                key = jwt.PyJWK(jwk)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # a key of a kind we do not verify with (an encryption key, an HS key) is skipped
            if isinstance(jwk.get("kid"), str) and key.algorithm_name in ASYMMETRIC:
                keys[jwk["kid"]] = key
        self._keys, self._loaded_at = keys, now
        log.info("jwks.fetched", url=self.url, kids=sorted(keys))
