"""The OpenAPI document: FastAPI's, plus the error answers every operation can give, in the contract's shape.

FastAPI documents only its own 422 body ({"detail": [...]}); Herald answers every error as
{"error": {"code", "message", "details"}}, so clients (and schemathesis) must see that shape for each status.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

PUBLIC_PATHS = {"/health", "/ready", "/metrics"}
ERRORS = {
    "401": "no key, or a key that is not valid",
    "403": "the key lacks the scope this operation needs",
    "404": "the addressed resource does not exist (or is another user's inbox)",
    "409": "conflicts with the current state (an idempotency key reused with another body, a final status)",
    "413": "the request body is larger than HERALD_MAX_BODY_BYTES",
    "422": "the request is not valid; `details` names each field",
    "429": "this key's request rate is used up; `Retry-After` says when to retry",
    "503": "PostgreSQL or Temporal is not answering; retry after `Retry-After` seconds",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorDetail"] = ErrorDetail.model_json_schema()
        components["ErrorBody"] = {
            "type": "object", "required": ["error"], "title": "ErrorBody",
            "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
        }
        schema["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key (scopes admin, send, read) or, for its own inbox, a user token"}}
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                codes = ("503",) if path in PUBLIC_PATHS else tuple(ERRORS)
                if path not in PUBLIC_PATHS:
                    operation["security"] = [{"bearer": []}]
                for code in codes:
                    responses[code] = {"description": ERRORS[code], "content": ref}
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
