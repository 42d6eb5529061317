"""CORS for the embedded inbox: the origins in HERALD_INBOX_ORIGINS may call `/v1/me/...` and load
`/ui/embed/...` from their own pages; every other path, and every other origin, gets no CORS answer at all."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIXES = ("/v1/me/", "/ui/embed/")


def origins(setting: str) -> list[str]:
    return [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]


class InboxCors:
    def __init__(self, app: ASGIApp, allowed: str):
        self.app = app
        # Credentials stay off: the element sends its token in the Authorization header, never a cookie.
        self.cors = CORSMiddleware(app, allow_origins=origins(allowed), allow_methods=["GET", "POST", "PATCH"],
                                   allow_headers=["authorization", "content-type", "last-event-id"],
                                   max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(PREFIXES):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
