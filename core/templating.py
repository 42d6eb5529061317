"""Jinja2 rendering in a sandbox where an undefined variable is an error, shared by the API and the worker."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment

# Limits on one render, so a template cannot hang a worker or fill its memory.
RENDER_SECONDS = 1.0
MAX_OUTPUT_CHARS = 512 * 1024
_deadline: ContextVar[float] = ContextVar("herald_render_deadline", default=float("inf"))


class RenderLimitError(Exception):
    pass


def _check_deadline() -> None:
    if time.monotonic() > _deadline.get():
        raise RenderLimitError(f"rendering took longer than {RENDER_SECONDS:g} s")


def _bounded_range(*args: int) -> Iterator[int]:
    """`range` for templates: the sandbox's size cap, plus the render deadline checked as the loop runs."""
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise RenderLimitError(f"range of {len(values)} items is larger than {MAX_RANGE}")
    for i, value in enumerate(values):
        if i % 256 == 0:
            _check_deadline()
        yield value


class _Sandbox(SandboxedEnvironment):
    """The Jinja2 sandbox (no attribute walks to Python internals), with `*` and `**` bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise RenderLimitError("exponent too large")
        if operator == "*" and isinstance(left, str | list | tuple) and isinstance(right, int):
            if len(left) * right > MAX_OUTPUT_CHARS:
                raise RenderLimitError(f"a repeated value would exceed {MAX_OUTPUT_CHARS} characters")
        if operator == "*" and isinstance(right, str | list | tuple) and isinstance(left, int):
            return self.call_binop(context, operator, right, left)
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    return env


_env = _environment(autoescape=False)
# HTML bodies escape what the data brings: a user's name cannot inject markup into an email.
_html_env = _environment(autoescape=True)
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


def _render_bounded(template: Template, context: dict[str, Any]) -> str:
    """Renders in chunks, stopping at the output cap or the deadline (checked between chunks and in loops)."""
    token = _deadline.set(time.monotonic() + RENDER_SECONDS)
    try:
        size, parts = 0, []
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimitError(f"the output is larger than {MAX_OUTPUT_CHARS} characters")
            _check_deadline()
            parts.append(chunk)
        return "".join(parts)
    finally:
        _deadline.reset(token)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Template:
    """Compiling costs more than rendering; a template version never changes, so its source is a safe key."""
    return (_html_env if html else _env).from_string(source)


def _render_one(source: str, context: dict[str, Any], field: str) -> str:
    try:
        return _render_bounded(_compiled(source, field == "html"), context)
    except RenderLimitError as exc:
        raise TemplateError(f"template {field} exceeded a limit: {exc}", field=field) from exc
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
    rendered_subject = _render_one(subject, context, "subject") if subject else ""
    if "\r" in rendered_subject or "\n" in rendered_subject:
        # An email subject is a header: a line break in it would start headers of the data's choosing (Bcc: ...).
        raise TemplateError("template subject rendered to more than one line; a subject is one line, without "
                            "CR or LF characters (check the data it includes)", field="subject")
    return Rendered(
        subject=rendered_subject,
        body=_render_one(body, context, "body"),
        html=_render_one(html, context, "html") if html else None,
    )


def context_for(data: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """The variables a template sees: the notification's data, plus `user` when it has a recipient user."""
    context = dict(data)
    if user is not None and "user" not in context:
        context["user"] = {k: user.get(k) for k in ("id", "name", "email", "phone", "locale", "timezone")}
    return context
