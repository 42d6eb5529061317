"""Rendering pages: one autoescaping Jinja2 environment, the page response, and form bodies."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Autoescape everything: names, template sources and errors are user input shown to an operator.
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)

# Everything the pages load comes from this origin; htmx and Chart.js are vendored (make vendor).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

NAV = (("/ui", "Overview"), ("/ui/send", "Send"), ("/ui/templates", "Templates"),
       ("/ui/notifications", "Activity"), ("/ui/dlq", "Dead letters"), ("/ui/schedules", "Schedules"),
       ("/ui/users", "Users"), ("/ui/suppressions", "Suppressions"))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


env.filters["when"] = when


def page(request: Request, template_name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A whole page, or (for htmx requests to fragments) the fragment template named."""
    context.setdefault("notice", request.query_params.get("notice"))
    context.setdefault("error", None)
    context["path"] = request.url.path
    context["nav"] = getattr(request.app.state, "ui_nav", NAV)
    html = env.get_template(template_name).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def see_other(path: str, notice: str | None = None, **params: str) -> RedirectResponse:
    """Post/redirect/get: an action answers with the page to show next (and what happened, in `notice`)."""
    query = {**params, **({"notice": notice} if notice else {})}
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


class Form:
    """An `application/x-www-form-urlencoded` body (the dashboard's forms send nothing else)."""

    def __init__(self, values: dict[str, list[str]]):
        self._values = values

    def get(self, name: str, default: str = "") -> str:
        return self._values.get(name, [default])[0].strip()

    def raw(self, name: str) -> str:
        """The value exactly as typed (JSON a form gives back after a refusal must come back unchanged)."""
        return self._values.get(name, [""])[0]

    def optional(self, name: str) -> str | None:
        return self.get(name) or None

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self._values.get(name, []) if v.strip()]


def whole_number(value: str, maximum: int) -> int | None:
    """A form or query value as a number from 1 to `maximum`, else None. `str.isdigit` alone lets through
    characters such as "²" that `int` refuses, and digits beyond what a PostgreSQL column holds."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 1 <= number <= maximum else None


def parse_json(text: str) -> Any:
    """`json.loads` that answers a value nested too deeply for the parser as the JSON error it is."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


async def read_form(request: Request) -> Form:
    body = (await request.body()).decode("utf-8", errors="replace")
    return Form(parse_qs(body, keep_blank_values=True))
