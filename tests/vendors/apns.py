"""Apple's APNs provider API, as documented, over real HTTP/2 with TLS (hypercorn, a trustme certificate).

`POST /3/device/{device token}` over HTTP/2 only, `authorization: bearer <JWT>` (ES256, header `kid`, claims
`iss` = team id and `iat`, checked with the key's public half), `apns-topic` = the app's bundle id, and the
optional `apns-push-type`, `apns-priority`, `apns-id` (a lowercase UUID), `apns-expiration` headers. APNs
answers 200 with an `apns-id` header, or an HTTP error with `{"reason"}` (410 adds `timestamp`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config as ServerConfig
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply

PUSH_TYPES = frozenset({"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
                        "liveactivity", "pushtotalk"})
DEVICE_TOKEN = re.compile(r"^[0-9a-f]{64}$")
APNS_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_PAYLOAD_BYTES = 4096


def refusal(status: int, reason: str, headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"reason": reason}
    if status == 410:
        body["timestamp"] = int(time.time() * 1000)
    return Reply(status, body, headers or {})


class Apns(Double):
    """One team's signing key and one app. `ca` signs the certificate it serves (for 127.0.0.1)."""

    def __init__(self, *, team_id: str, key_id: str, public_key_pem: bytes, bundle_id: str, ca: trustme.CA,
                 directory: Path):
        super().__init__([Route("/{path:path}", self._any, methods=["GET", "POST", "PUT", "DELETE"])])
        self.team_id = team_id
        self.key_id = key_id
        self.public_key_pem = public_key_pem
        self.bundle_id = bundle_id
        self.base = f"https://127.0.0.1:{self.port}"
        self.versions: list[str] = []  # the HTTP version of every request, as the server read it
        self.tokens: list[str] = []  # every distinct provider token presented, in order
        chain, key = directory / "apns-chain.pem", directory / "apns-key.pem"
        leaf = ca.issue_cert("127.0.0.1")
        leaf.cert_chain_pems[0].write_to_path(str(chain))
        for extra in leaf.cert_chain_pems[1:]:
            extra.write_to_path(str(chain), append=True)
        leaf.private_key_pem.write_to_path(str(key))
        self._config = ServerConfig()
        self._config.bind = [f"127.0.0.1:{self.port}"]
        self._config.certfile, self._config.keyfile = str(chain), str(key)
        self._config.loglevel = "ERROR"
        self._config.accesslog = None
        # APNs keeps a connection open across any number of notifications; hypercorn would close it after 1,000.
        self._config.keep_alive_max_requests = 10**9
        self._config.graceful_timeout = 0.5  # a stop waits no longer for a reply a test left delayed
        self._shutdown = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._serving = asyncio.create_task(serve(self.app, self._config,  # type: ignore[arg-type]
                                                  shutdown_trigger=self._shutdown.wait))
        while True:  # hypercorn offers no started flag: wait until it accepts connections
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return

    async def stop(self) -> None:
        self._shutdown.set()
        if self._serving is not None:
            await self._serving

    async def _any(self, request: Request) -> Response:
        raw = await request.body()
        version = str(request.scope.get("http_version"))
        self.versions.append(version)
        if version != "2":
            # APNs speaks HTTP/2 only; a request in any other version is never read.
            return Response("HTTP/2 required", status_code=505, media_type="text/plain")
        device = request.url.path.removeprefix("/3/device/")
        if device == request.url.path or "/" in device:
            return refusal(404, "BadPath").response()
        if request.method != "POST":
            return refusal(405, "MethodNotAllowed").response()
        refused = self._provider_token(request.headers.get("authorization", "")) or self._headers(request)
        if refused is not None:
            return refused.response()
        if not raw:
            return refusal(400, "PayloadEmpty").response()
        if len(raw) > MAX_PAYLOAD_BYTES:
            return refusal(413, "PayloadTooLarge").response()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            # APNs documents no reason of its own for a body that is not a JSON object with `aps`.
            return refusal(400, "PayloadEmpty").response()
        if not DEVICE_TOKEN.match(device):
            return refusal(400, "BadDeviceToken").response()
        self.record(request, raw, {**payload, "device": device})
        answer_id = request.headers.get("apns-id") or str(uuid.uuid4())
        reply = await self.scripted(device)
        if reply is not None:
            return Reply(reply.status, reply.body, {"apns-id": answer_id, **reply.headers}).response()
        return Response(status_code=200, headers={"apns-id": answer_id})

    def _provider_token(self, authorization: str) -> Reply | None:
        scheme, _, token = authorization.partition(" ")
        if not token:
            return refusal(403, "MissingProviderToken")
        if scheme != "bearer":
            return refusal(403, "InvalidProviderToken")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.public_key_pem, algorithms=["ES256"], options={"require": ["iat"]},
                                issuer=self.team_id)
        except jwt.PyJWTError:
            return refusal(403, "InvalidProviderToken")
        if header.get("kid") != self.key_id:
            return refusal(403, "InvalidProviderToken")
        if token not in self.tokens:
            self.tokens.append(token)
        if claims["iat"] < time.time() - 3600:
            return refusal(403, "ExpiredProviderToken")
        if claims["iat"] > time.time() + 60:
            return refusal(403, "InvalidProviderToken")
        return None

    def _headers(self, request: Request) -> Reply | None:
        topic = request.headers.get("apns-topic")
        if topic is None:
            return refusal(400, "MissingTopic")
        if topic != self.bundle_id:
            return refusal(400, "DeviceTokenNotForTopic")
        if request.headers.get("apns-push-type") not in PUSH_TYPES:
            return refusal(400, "InvalidPushType")
        if request.headers.get("apns-priority", "10") not in ("10", "5", "1"):
            return refusal(400, "BadPriority")
        if not APNS_ID.match(request.headers.get("apns-id", str(uuid.uuid4()))):
            return refusal(400, "BadMessageId")
        if not request.headers.get("apns-expiration", "0").isdigit():
            return refusal(400, "BadExpirationDate")
        return None
