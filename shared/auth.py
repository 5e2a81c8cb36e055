"""Bearer JWTs (HS256, a key from settings): who is asking, in which roles, for which stations."""
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from shared.errors import ApiError

ROLES = ("feed", "mediator", "lawyer", "court_liaison", "station_chief", "auditor")
_ALGORITHM = "HS256"
_bearer = HTTPBearer(auto_error=False)


class Principal(BaseModel):
    """The verified caller."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: frozenset[str]
    stations: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()  # the mediation channels the holder serves, when narrower than its role


class AuthError(ValueError):
    """A token that is missing, malformed, expired or signed with another key."""


def issue_token(secret: str, *, subject: str, roles: list[str], stations: list[str] = (),
                channels: list[str] = (), ttl: timedelta = timedelta(hours=12)) -> str:
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


def verify_token(secret: str, token: str) -> Principal:
    """The principal of a valid token; AuthError otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError as exc:
        raise AuthError(str(exc)) from exc
    return Principal(subject=claims["sub"], roles=frozenset(claims.get("roles", ())),
                     stations=frozenset(claims.get("stations", ())), channels=frozenset(claims.get("channels", ())))


def require_role(*allowed: str) -> Callable[..., Principal]:
    """A FastAPI dependency: 401 without a valid token, 403 without one of the roles."""

    def dependency(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
        if credentials is None:
            raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        secret = request.app.state.resources.settings.jwt_secret.get_secret_value()
        try:
            principal = verify_token(secret, credentials.credentials)
        except AuthError as exc:
            # Why a token failed (expired, wrong key) is the issuer's business, not the caller's.
            raise ApiError(401, "invalid_token", headers={"WWW-Authenticate": "Bearer"}) from exc
        if not principal.roles & set(allowed):
            raise ApiError(403, "forbidden_role", params={"roles": ", ".join(allowed)}, allowed_roles=list(allowed))
        return principal

    return dependency
