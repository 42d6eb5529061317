"""Jinja2 rendering in a sandbox where an undefined variable is an error, shared by the API and the worker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
# HTML bodies escape what the data brings: a user's name cannot inject markup into an email.
_html_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


class TemplateError(Exception):
    """A template that cannot render with the data given: permanent, retrying cannot help."""

    def __init__(self, message: str, *, field: str, line: int | None = None, variable: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line
        self.variable = variable


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str | None = None


def check_syntax(source: str, field: str) -> None:
    try:
        _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"template {field} has a syntax error on line {exc.lineno}: {exc.message}",
            field=field, line=exc.lineno,
        ) from exc


def variables(*sources: str | None) -> list[str]:
    """The top-level variables the template sources use, for the dashboard and API clients."""
    names: set[str] = set()
    for source in sources:
        if source:
            names |= meta.find_undeclared_variables(_env.parse(source))
    return sorted(names)


def _render_one(source: str, context: dict[str, Any], field: str) -> str:
    try:
        return (_html_env if field == "html" else _env).from_string(source).render(context)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template {field} has a syntax error on line {exc.lineno}: {exc.message}",
                            field=field, line=exc.lineno) from exc
    except UndefinedError as exc:
        match = _UNDEFINED_NAME.search(str(exc))
        variable = match.group(1) if match else None
        message = f"template {field} uses variable '{variable}', which the data does not provide" \
            if variable else f"template {field} failed: {exc}"
        raise TemplateError(message, field=field, variable=variable) from exc
    except SecurityError as exc:
        raise TemplateError(f"template {field} did something the sandbox forbids: {exc}", field=field) from exc
    except Exception as exc:  # a filter raising on odd data is the template's problem, not a crash
        raise TemplateError(f"template {field} failed to render: {type(exc).__name__}: {exc}",
                            field=field) from exc


def render(subject: str | None, body: str, context: dict[str, Any], html: str | None = None) -> Rendered:
    return Rendered(
        subject=_render_one(subject, context, "subject") if subject else "",
        body=_render_one(body, context, "body"),
        html=_render_one(html, context, "html") if html else None,
    )


def context_for(data: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """The variables a template sees: the notification's data, plus `user` when it has a recipient user."""
    context = dict(data)
    if user is not None and "user" not in context:
        context["user"] = {k: user.get(k) for k in ("id", "name", "email", "phone", "locale", "timezone")}
    return context
