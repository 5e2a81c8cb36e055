"""How mediation's API answers the refusals its handlers raise (domain/errors.py): app-level exception
handlers, so no route catches them itself. 403 names the roles that would be allowed; 404 what was not
found; 409 the state, the holder, what the caller may do now and where the refused action would be
allowed; 412 the case's current version. Messages come from the catalogue (api.py registers mediation's)."""
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.mediation.domain.endpoints import ENDPOINT_OF, available, labels_zh, states_allowing
from services.mediation.domain.errors import CaseConflict, NotAllowed, NotFound, VersionMismatch
from services.mediation.domain.lifecycle import STATE_LABELS_ZH, State, next_state
from services.mediation.search import BadPhone
from shared.auth import Principal
from shared.errors import error_response, message

_LABELLED = frozenset(ENDPOINT_OF.values())


async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """403: the rule that refused, the roles that would be allowed, the holder where one matters."""
    assert isinstance(exc, NotAllowed)
    return error_response(request, 403, exc.code, params={"roles": ", ".join(exc.roles), "holder": exc.holder},
                          allowed_roles=list(exc.roles), holder=exc.holder)


async def not_found(request: Request, exc: Exception) -> JSONResponse:
    """404: no such case, handoff or party, or not one the caller may see."""
    assert isinstance(exc, NotFound)
    return error_response(request, 404, exc.code)


async def stale(request: Request, exc: Exception) -> JSONResponse:
    """412: If-Match named another version; the current one."""
    assert isinstance(exc, VersionMismatch)
    return error_response(request, 412, "stale", version=exc.current)


async def bad_phone(request: Request, exc: Exception) -> JSONResponse:
    """422: the phone filter is not a phone."""
    return error_response(request, 422, "bad_phone", errors=[
        {"loc": ["query", "phone"], "type": "bad_phone", "msg": message(request, "bad_phone")}])


async def conflict(request: Request, exc: Exception) -> JSONResponse:
    """409: why, the state and holder, what the caller may do now, and where the refused action would be allowed."""
    assert isinstance(exc, CaseConflict)
    caller: Principal = request.state.principal
    state = State(exc.state)
    now = available(exc.case, subject=caller.subject, roles=caller.roles)
    action = exc.action
    states = states_allowing(action) if action else []
    refused = ENDPOINT_OF.get(action, action.value) if action else ""
    params = {"state": state.value, "state_zh": STATE_LABELS_ZH[state], "case_id": str(exc.case["id"]),
              "holder_zh": f"，由 {exc.holder} 认领" if exc.holder else "",
              "holder_en": f", held by {exc.holder}" if exc.holder else "",
              "action": refused, "action_zh": labels_zh([refused]) if refused in _LABELLED else refused,
              "states": " or ".join(states) or "none", "states_zh": "、".join(STATE_LABELS_ZH[State(s)] for s in states)
              or "无", "allowed": ", ".join(now) or "nothing", "allowed_zh": labels_zh(now)}
    return error_response(request, 409, exc.code, params=params, state=state.value, holder=exc.holder,
                          allowed_actions=now, allowed_in_states=states,
                          allowed_next_states=sorted({next_state(state, a, had_agreement=True).value
                                                      for a in exc.allowed}))


def install(app: FastAPI) -> None:
    """Answer mediation's refusals in the one error shape."""
    app.add_exception_handler(NotAllowed, not_allowed)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(CaseConflict, conflict)
    app.add_exception_handler(VersionMismatch, stale)
    app.add_exception_handler(BadPhone, bad_phone)
