"""Bearer JWTs: who is asking, in which roles, for which stations.

Production tokens come from the identity provider (RS256/ES256, keys from its JWKS, iss and aud
checked); HS256 with the shared secret of settings is for local use and tests (docs/security.md).
"""
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from shared.errors import ApiError
from shared.jwks import ASYMMETRIC, JwksKeys, KeysUnavailable
from shared.settings import ServiceSettings

ROLES = ("feed", "mediator", "lawyer", "court_liaison", "station_chief", "auditor")
_ALGORITHM = "HS256"
# Verified tokens kept, each until it expires: a mediator's client sends the same token with every call,
# and checking its signature and claims again each time cost more than the claim itself. Bounded: past
# this many, the oldest entries go first.
VERIFIED_CACHE_SIZE = 10_000


class Principal(BaseModel):
    """The verified caller."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: frozenset[str]
    stations: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()  # the mediation channels the holder serves, when narrower than its role


class AuthError(ValueError):
    """A token that is missing, malformed, expired or signed with another key."""


def issue_token(secret: str, *, subject: str, roles: list[str], stations: Sequence[str] = (),
                channels: Sequence[str] = (), ttl: timedelta = timedelta(hours=12)) -> str:
    """A signed token for local use and tests (production tokens come from the identity provider)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {', '.join(ROLES)}")
    if ttl <= timedelta(0):
        raise ValueError(f"the token's lifetime must be positive, not {ttl}")  # it would be born expired
    now = datetime.now(UTC)
    claims = {"sub": subject, "roles": list(roles), "stations": list(stations), "channels": list(channels),
              "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


class TokenVerifier:
    """Verifies bearer tokens as the settings say: against the identity provider's JWKS (RS256/ES256)
    when `jwt_jwks_url` is set, else with the local HS256 secret, which production refuses."""

    def __init__(self, settings: ServiceSettings, *, cache_size: int = VERIFIED_CACHE_SIZE) -> None:
        self.settings = settings
        self.production = settings.environment == "production"
        self.keys = JwksKeys(settings.jwt_jwks_url, cache_seconds=settings.jwt_jwks_cache_seconds,
                             refetch_seconds=settings.jwt_jwks_refetch_seconds) if settings.jwt_jwks_url else None
        self.cache_size = cache_size
        # token -> (valid until, epoch seconds; the key set it was checked against; its principal)
        self._verified: dict[str, tuple[float, float, Principal]] = {}

    def _key_set(self) -> float:
        return self.keys.loaded_at if self.keys is not None else 0.0

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not expired since; None otherwise."""
        found = self._verified.get(token)
        if found is None:
            return None
        until, key_set, principal = found
        if time.time() >= until or key_set != self._key_set():  # expired, or the provider's keys were fetched again
            self._verified.pop(token, None)
            return None
        return principal

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; AuthError otherwise, KeysUnavailable when the provider is away.
        A token verified before is answered from the cache until its `exp`, or with the identity provider's
        keys until they are fetched again (a key the provider withdrew then stops working as before)."""
        principal = self.cached(token)
        if principal is not None:
            return principal
        key_set = self._key_set()
        principal, expires = self._verify(token)
        if len(self._verified) >= self.cache_size:
            try:  # dicts keep insertion order: the oldest goes (a verification in another thread may race)
                del self._verified[next(iter(self._verified))]
            except (KeyError, RuntimeError, StopIteration):
                pass
        self._verified[token] = (expires, key_set if key_set == self._key_set() else float("nan"), principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The principal of a valid token and its `exp`."""
        s = self.settings
        try:
            algorithm, key = self._key(jwt.get_unverified_header(token))
            claims = jwt.decode(token, key, algorithms=[algorithm], audience=s.jwt_audience or None,
                                issuer=s.jwt_issuer or None,
                                options={"require": ["sub", "exp", "iat"], "verify_aud": bool(s.jwt_audience)})
        except (jwt.PyJWTError, ValueError, TypeError, ArithmeticError) as exc:  # exp: Infinity overflows int()
            raise AuthError(str(exc)) from exc
        if not all(type(claims[name]) in (int, float) for name in ("exp", "iat")):
            raise AuthError("exp and iat must be numbers")  # PyJWT takes "123" too; the sums below would not
        now = datetime.now(UTC).timestamp()
        if claims["exp"] - claims["iat"] > s.jwt_max_lifetime_seconds or claims["exp"] - now > s.jwt_max_lifetime_seconds:
            raise AuthError(f"the token lives longer than {s.jwt_max_lifetime_seconds} s")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise AuthError("sub must be a non-empty string")
        return Principal(subject=claims["sub"], roles=_strings(claims, s.jwt_roles_claim),
                         stations=_strings(claims, s.jwt_stations_claim),
                         channels=_strings(claims, s.jwt_channels_claim)), float(claims["exp"])

    def _key(self, header: dict[str, Any]) -> tuple[str, Any]:
        algorithm = header.get("alg")
        if self.keys is None:
            if self.production:
                raise AuthError("HS256 tokens are refused in production")
            if algorithm != _ALGORITHM:
                raise AuthError(f"algorithm {algorithm!r} is not {_ALGORITHM}")
            return _ALGORITHM, self.settings.jwt_secret.get_secret_value()
        if algorithm not in ASYMMETRIC:  # none, HS256 (signed with a public key as secret) and the like
            raise AuthError(f"algorithm {algorithm!r} is not one of {ASYMMETRIC}")
        kid = header.get("kid")
        key = self.keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthError(f"no key {kid!r} in the JWKS")
        if key.algorithm_name != algorithm:  # an RSA key must not be asked to verify an ES256 signature
            raise AuthError(f"key {kid!r} signs with {key.algorithm_name}, not {algorithm}")
        return algorithm, key.key


def _strings(claims: dict[str, Any], path: str) -> frozenset[str]:
    """A list of strings at a dotted claim path (Keycloak's `realm_access.roles`); absent: empty.
    Anything else (a number, null, a string, nested lists) makes the token invalid rather than guessed at."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            raise AuthError(f"claim {path} is not reachable: {part} is inside a {type(value).__name__}")
        if part not in value:
            return frozenset()
        value = value[part]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthError(f"claim {path} must be a list of strings")
    return frozenset(value)


def _verifier(request: Request) -> TokenVerifier:
    # One verifier per app, so its JWKS cache lives as long as the app; made on first use.
    verifier = getattr(request.app.state, "token_verifier", None)
    settings = request.app.state.resources.settings
    if verifier is None or verifier.settings is not settings:
        verifier = request.app.state.token_verifier = TokenVerifier(settings)
    return verifier


class RoleBearer(HTTPBearer):
    """A FastAPI dependency: 401 without a valid bearer token, 403 without one of the roles; the caller's
    principal, which it also keeps on the request (`request.state.principal`: the error handlers and
    mediation's refusal audit read it there).

    One node of FastAPI's dependency graph where the bearer scheme, the role check and the caller were
    three: FastAPI solves every node on every request (about 100 µs a request on claim-next's path,
    bench.claims). Being an HTTPBearer, it is documented as the bearer scheme it was, and `roles` is
    what shared/openapi.py documents as the route's 401 and 403."""

    def __init__(self, *allowed: str) -> None:
        super().__init__(scheme_name="HTTPBearer", auto_error=False)
        self.roles: Sequence[str] = allowed
        self._allowed = frozenset(allowed)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]  # a principal, not credentials
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        if scheme.lower() != "bearer" or not token:  # as HTTPBearer reads it
            raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        principal = await self.principal(request, token)
        request.state.principal = principal
        return principal

    async def principal(self, request: Request, token: str) -> Principal:
        """The principal of a bearer token with one of the roles; ApiError (401, 403, 503) otherwise."""
        verifier = _verifier(request)
        try:
            # A token seen before is answered from memory, on the event loop; a new one is checked in a
            # thread when the identity provider's keys may have to be fetched (a blocking request).
            principal = verifier.cached(token)
            if principal is None:
                principal = (verifier.verify(token) if verifier.keys is None
                             else await run_in_threadpool(verifier.verify, token))
        except KeysUnavailable as exc:
            raise ApiError(503, "identity_provider_unavailable", headers={"Retry-After": "5"}) from exc
        except AuthError as exc:
            # Why a token failed (expired, wrong key) is the issuer's business, not the caller's.
            raise ApiError(401, "invalid_token", headers={"WWW-Authenticate": "Bearer"}) from exc
        if not principal.roles & self._allowed:
            raise ApiError(403, "forbidden_role", params={"roles": ", ".join(self.roles)},
                           allowed_roles=list(self.roles))
        return principal


def require_role(*allowed: str) -> RoleBearer:
    """The dependency that admits callers with one of these roles (RoleBearer)."""
    return RoleBearer(*allowed)
