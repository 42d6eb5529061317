"""Why a use case refused, in the contract's terms: services raise these, and `api/errors.py` answers each with
its `status` and the body `{"error": {"code", "message", "details"}}`; the CLI prints the message."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def not_found(what: str, ident: str) -> Problem:
    return Problem(404, "not_found", f"{what} '{ident}' does not exist")


def invalid(field: str, message: str, code: str = "validation_error", **extra: Any) -> Problem:
    return Problem(422, code, message, [{"field": field, "message": message, **extra}])
