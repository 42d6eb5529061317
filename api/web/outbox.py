"""The outbox page of `make up`: what its local catchers caught (email, SMS, push, chat), newest first.

The catchers live in devstack/ and keep each message as a file under HERALD_CATCHER_DIR (`mail/*.eml`,
`sms/*.json`, `push/*.json`, `chat/*.json`). `make up` sets that variable for the API it starts; anywhere else it
is unset, the page is not registered, and /ui/outbox answers 404.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.errors import ApiError
from api.web.auth import AdminPage
from api.web.render import page

CATCHER_DIR = "HERALD_CATCHER_DIR"
SHOWN = 50
# The names the catchers give their files; anything else in those folders is not a caught message.
_MAIL_NAME = re.compile(r"[0-9A-Za-z-]{1,64}\.eml")
_GATEWAY_NAME = re.compile(r"[0-9a-f]{1,64}\.json")
# A caught email's HTML is shown in a sandboxed frame of its own: no script runs, nothing is fetched from
# elsewhere, and it cannot reach the dashboard (an opaque origin).
MAIL_FRAME_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'self'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/ui/outbox")


def catcher_dir() -> Path | None:
    value = os.environ.get(CATCHER_DIR)
    return Path(value) if value else None


@dataclass(frozen=True)
class Caught:
    """One caught message, whatever its channel; the fields a channel does not have stay empty."""

    channel: str
    caught_at: datetime
    name: str
    to: str
    sender: str = ""
    subject: str = ""
    text: str = ""
    has_html: bool = False


def _mail(path: Path) -> Caught:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    return Caught(channel="email", name=path.name,
                  caught_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                  to=str(message.get("To", "")), sender=str(message.get("From", "")),
                  subject=str(message.get("Subject", "")),
                  text=text_part.get_content() if isinstance(text_part, EmailMessage) else "",
                  has_html=message.get_body(preferencelist=("html",)) is not None)


def _gateway(path: Path) -> Caught:
    record = json.loads(path.read_text())
    payload = record["payload"]
    caught_at = datetime.fromisoformat(record["caught_at"])
    if record["channel"] == "sms":
        return Caught(channel="sms", name=path.name, caught_at=caught_at, to=payload["to"], text=payload["text"])
    if record["channel"] == "chat":
        return Caught(channel="chat", name=path.name, caught_at=caught_at, to=payload["to"],
                      subject=payload.get("title") or "", text=payload["text"])
    return Caught(channel="push", name=path.name, caught_at=caught_at, to=payload["token"],
                  subject=payload.get("title") or "", text=payload["body"])


def read_outbox(directory: Path, limit: int = SHOWN) -> list[Caught]:
    """The newest `limit` caught messages, newest first (by when each file was kept)."""
    files: list[tuple[float, str, Path]] = []
    for folder, pattern in (("mail", _MAIL_NAME), ("sms", _GATEWAY_NAME), ("push", _GATEWAY_NAME),
                            ("chat", _GATEWAY_NAME)):
        if (directory / folder).is_dir():
            for path in (directory / folder).iterdir():
                if pattern.fullmatch(path.name):
                    files.append((path.stat().st_mtime, path.name, path))
    files.sort(reverse=True)
    return [_mail(path) if path.suffix == ".eml" else _gateway(path) for _, _, path in files[:limit]]


def _mail_html(directory: Path, name: str) -> str | None:
    if not _MAIL_NAME.fullmatch(name) or not (directory / "mail" / name).is_file():
        return None
    message = email.message_from_bytes((directory / "mail" / name).read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    return part.get_content() if isinstance(part, EmailMessage) else None


def _directory() -> Path:
    directory = catcher_dir()
    if directory is None:  # not registered without it; kept for type narrowing
        raise ApiError(404, "not_found", "no catchers run here")
    return directory


@router.get("", response_class=HTMLResponse)
async def outbox(request: Request, principal: AdminPage) -> HTMLResponse:
    items = await asyncio.to_thread(read_outbox, _directory())
    return page(request, "outbox.html", title="Outbox", principal=principal, items=items, shown=SHOWN)


@router.get("/mail/{name}", response_class=HTMLResponse)
async def mail_html(name: str, _: AdminPage) -> HTMLResponse:
    html = await asyncio.to_thread(_mail_html, _directory(), name)
    if html is None:
        raise ApiError(404, "not_found", "no caught email with HTML by that name")
    return HTMLResponse(html, headers=MAIL_FRAME_HEADERS)
