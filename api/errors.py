"""The one place that turns problems into HTTP answers of the contract's shape:
`{"error": {"code": "<snake_case>", "message": "<human sentence>", "details": ...}}`."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Problem, invalid, not_found

__all__ = ["ApiError", "Problem", "error_body", "install", "invalid", "not_found"]

log = logging.getLogger("herald.api")


# Services refuse with core.errors.Problem; routes raise the same type under the name they have always used.
ApiError = Problem


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status,
                        headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        detail = e.get("ctx", {}).get("error", "")
        return JSONResponse(error_body("malformed_json", f"the request body is not valid JSON: {detail}",
                                       [{"field": "body", "message": str(detail)}]), status_code=422)
    details = [{"field": _field_path(e["loc"]), "message": e["msg"]} for e in errors]
    first = details[0]
    message = f"{first['field']}: {first['message']}" + (f" (and {len(details) - 1} more)" if len(details) > 1 else "")
    return JSONResponse(error_body("validation_error", message, details), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             413: "payload_too_large"}
    code = codes.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 400 and message == "There was an error parsing the body":
        # A body that is not even text (invalid UTF-8): the same answer as any other malformed JSON.
        return JSONResponse(error_body("malformed_json", "the request body is not valid UTF-8 JSON",
                                       [{"field": "body", "message": "not valid UTF-8 JSON"}]), status_code=422)
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint"
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return JSONResponse(error_body("database_unavailable", "the database is not answering; try again shortly"),
                        status_code=503, headers={"Retry-After": "5"})


async def _bad_text(_: Request, exc: Exception) -> JSONResponse:
    # Reaches here only for values that validation lets through by design, such as path parameters.
    message = "a value holds a character the database cannot store (NUL, \\u0000, or a lone surrogate)"
    return JSONResponse(error_body("validation_error", message, [{"field": "path", "message": message}]),
                        status_code=422)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "an unexpected error occurred; it has been logged"),
                        status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for outage in (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                   asyncpg.CannotConnectNowError, asyncpg.exceptions.AdminShutdownError):
        app.add_exception_handler(outage, _database_unavailable)
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, _bad_text)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, _bad_text)
    app.add_exception_handler(UnicodeEncodeError, _bad_text)
    app.add_exception_handler(Exception, _unexpected)
