"""Why mediation refuses a command: raised by the handlers, answered by the API's exception handlers
(services/mediation/api_errors.py) as 403, 404, 409 or 412 in the one error shape."""
from collections.abc import Iterable, Mapping
from typing import Any

from services.mediation.domain.lifecycle import Action, State, allowed_actions


class NotFound(Exception):
    """Something the caller named does not exist, or is not one it may see (404): `code` says what."""

    code = "not_found"


class CaseNotFound(NotFound):
    """No such case, or not one the caller may see (both answer 404)."""


class HandoffNotFound(NotFound):
    """No such handoff, or one of another station (404)."""

    code = "no_handoff"


class PartyNotFound(NotFound):
    """No party at that position of the case (404)."""

    code = "no_party"


class NotAllowed(PermissionError):
    """The caller may not do this (403): `code` names the rule, `roles` the roles that would be allowed."""

    def __init__(self, code: str, *, roles: Iterable[str] = (), holder: str | None = None) -> None:
        super().__init__(code)
        self.code, self.roles, self.holder = code, tuple(sorted(roles)), holder


class CaseConflict(Exception):
    """The case is not in a state that allows the action (409): `code` says why, `case` is the row as it is,
    `action` the refused one (None for a handoff that waits or is settled)."""

    def __init__(self, code: str, case: Mapping[str, Any], action: Action | None = None) -> None:
        super().__init__(f"{code}: case is {case['state']}")
        self.code, self.case, self.action = code, case, action
        self.state, self.holder = case["state"], case["claimed_by"]
        self.allowed = allowed_actions(State(case["state"]), had_agreement=case["had_agreement"])


class VersionMismatch(Exception):
    """If-Match named another version than the case has (412)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the case is at version {current}")
        self.current = current
