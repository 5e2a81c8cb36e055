"""One error shape for every 4xx of every service: `{"detail": {"code", "message", ...}}`.

The message is Simplified Chinese, English with `Accept-Language: en` (docs/design.md, Conventions:
Language); the code and every other key are English, for programs. 422s keep their field paths
(`errors[].loc`). A service raises `ApiError(status, code, **extra)`; its messages come from the
catalogue (`shared/error_messages.py`), which services extend with their own codes.
"""
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.error_messages import MESSAGES, field_message


class ErrorDetail(BaseModel):
    """Every refusal: a code for programs, a message for people (Chinese; English with Accept-Language: en),
    and what the code adds (the roles allowed, the case's state and holder, the current version ...)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "code": "forbidden_role", "message": "当前角色无权执行此操作，需要以下角色之一：auditor",
        "allowed_roles": ["auditor"]}]})

    code: str
    message: str


class ErrorOut(BaseModel):
    """The one error shape of every 4xx (and of a 503: the database or the identity provider is away)."""

    detail: ErrorDetail


class FieldProblem(BaseModel):
    """One field refused: its path (`["body", 0, "station_code"]`, `["query", "cursor"]`), a type and a reason."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    type: str
    msg: str


class InvalidDetail(ErrorDetail):
    """A 422: the code (`invalid_request`, `bad_cursor`, ...) and each field refused."""

    errors: list[FieldProblem] = Field(description="every field refused, by its path; at most 100")


class InvalidOut(BaseModel):
    """The one error shape of a 422."""

    detail: InvalidDetail


class ApiError(Exception):
    """A refused request: its status, a catalogue code, values for the message, and extra keys for programs."""

    def __init__(self, status: int, code: str, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        if code not in MESSAGES:
            raise KeyError(f"error code {code!r} has no message in the catalogue")
        super().__init__(code)
        self.status, self.code, self.params, self.headers, self.extra = status, code, dict(params or {}), headers, extra


class FieldErrors(Exception):
    """A 422 a handler finds itself (beyond the request's schema): `loc`, `type`, `msg` and, for Chinese,
    `msg_zh` per field; other keys (such as `input`, where it names no person) are passed on."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def english(request: Request) -> bool:
    """Whether the caller asked for English; Chinese otherwise (the default)."""
    return request.headers.get("accept-language", "").strip().lower().startswith("en")


def message(request: Request, code: str, params: Mapping[str, Any] | None = None) -> str:
    """The catalogue's message for a code, in the caller's language."""
    zh, en = MESSAGES[code]
    return (en if english(request) else zh).format(**(params or {}))


def error_response(request: Request, status: int, code: str, *, params: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The one shape of a 4xx answer."""
    return JSONResponse({"detail": {"code": code, "message": message(request, code, params), **extra}},
                        status_code=status, headers=dict(headers or {}))


def invalid_fields(request: Request, errors: list[dict[str, Any]], **extra: Any) -> JSONResponse:
    """A 422 naming each field by its path, with a reason in the caller's language."""
    en = english(request)
    items = [{k: v for k, v in e.items() if k not in ("ctx", "msg_zh")}
             | {"loc": list(e["loc"]), "type": e.get("type", "value_error"),
                "msg": str(e.get("msg", "")) if en else e.get("msg_zh") or field_message(e)} for e in errors]
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in items[:5])
    return error_response(request, 422, "invalid_request", params={"fields": fields}, errors=items, **extra)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    if exc.status == 422:
        # A 422 names its fields, each with a reason: a field error given without one says the code's message.
        text = message(request, exc.code, exc.params)
        errors = [{"type": exc.code, "msg": text} | e for e in exc.extra.get("errors", [])]
        return error_response(request, 422, exc.code, params=exc.params, headers=exc.headers,
                              **(exc.extra | {"errors": errors}))
    return error_response(request, exc.status, exc.code, params=exc.params, headers=exc.headers, **exc.extra)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # The input that failed may be personal data (a phone, a name): not echoed back.
    return invalid_fields(request, [{k: v for k, v in e.items() if k in ("loc", "msg", "type", "ctx")}
                                    for e in exc.errors()])


async def _field_errors(request: Request, exc: FieldErrors) -> JSONResponse:
    return invalid_fields(request, exc.errors)


_HTTP_CODES = {401: "unauthorized", 403: "forbidden_role", 404: "no_route", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8): bad input, so a 422 naming the body.
        return invalid_fields(request, [{"loc": ["body"], "type": "body_unreadable", "msg": "the body is not UTF-8 JSON",
                                         "msg_zh": "请求体不是 UTF-8 编码的 JSON"}])
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    return error_response(request, exc.status_code, code, headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    """Answer every refused request of the app in the one shape."""
    # Starlette types a handler as taking any Exception; each of these takes the class it is registered for.
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(FieldErrors, _field_errors)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
