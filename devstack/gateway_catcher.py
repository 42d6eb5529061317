"""A local SMS, push and chat gateway for `make up` when none is configured: it accepts what the worker's HTTP
gateway provider posts (Standard Webhooks signed JSON), checks the signature as a real gateway would, and keeps
each message as a JSON file under HERALD_DATA_DIR/<channel>/ (sms, push, chat), where `/ui/outbox` reads it.

Nothing leaves the machine. A retry of the same delivery (same `webhook-id`) is kept once and answered with the
same id, as gateways that deduplicate on that header do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("herald.up.catcher")

CHANNELS = ("sms", "push", "chat")
# The fields each channel's payload must carry as strings (providers.http_gateway's GATEWAY_PAYLOADS).
REQUIRED = {"sms": ("to", "text"), "push": ("token", "body"), "chat": ("to", "text")}
MAX_BODY_BYTES = 256 * 1024
# Standard Webhooks' recommended tolerance: an older or future timestamp is a replay or a skewed clock.
TOLERANCE_S = 5 * 60


class BadSetting(Exception):
    """A catcher setting `make up` cannot use; the message is the one line shown to the user."""


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> str:
    """Returns the webhook id of a correctly signed request, else raises Refused (401).
    Written from the Standard Webhooks specification, not with Herald's own signing code, so that a mistake
    there shows here."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not timestamp.isascii() or not timestamp.isdigit() or not signatures:
        raise Refused(401, "unsigned", "webhook-id, webhook-timestamp and webhook-signature are required")
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise Refused(401, "stale", "webhook-timestamp is more than 5 minutes away from now")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return webhook_id
    raise Refused(401, "bad_signature", "no webhook-signature matches the body")


def parse(channel: str, body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "invalid_payload", "the body is not a JSON object")
    for name in REQUIRED[channel]:
        if not isinstance(payload.get(name), str):
            raise Refused(400, "invalid_payload", f"`{name}` must be a string")
    return payload


def keep(directory: Path, channel: str, webhook_id: str, payload: dict[str, Any]) -> str:
    """Stores one caught message under a name derived from its webhook id and returns the message id.
    The file is written whole under a private name and then linked into place: the outbox page never reads
    half a message, and of two concurrent retries of one delivery the first one kept wins."""
    digest = hashlib.sha256(webhook_id.encode()).hexdigest()[:24]
    path = directory / f"{digest}.json"
    record = {"channel": channel, "caught_at": datetime.now(UTC).isoformat(), "webhook_id": webhook_id,
              "payload": payload}
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".caught-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record) + "\n")  # a line of its own, so `cat sms/*.json` reads one per line
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # the same delivery again: kept once
    finally:
        os.unlink(temporary)
    return f"caught-{digest}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        try:
            message_id = self._catch()
        except Refused as refused:
            self._answer(refused.status, {"error": {"code": refused.code, "message": refused.message}})
            return
        self._answer(200, {"id": message_id})

    def _catch(self) -> str:
        channel = self.path.strip("/")
        if channel not in self.server.channels:
            raise Refused(404, "not_found", f"this catcher takes POST /{' and POST /'.join(self.server.channels)}")
        length = self.headers.get("Content-Length", "")
        if not length.isascii() or not length.isdigit():
            raise Refused(411, "length_required", "Content-Length is required")
        if int(length) > MAX_BODY_BYTES:
            raise Refused(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        webhook_id = verify(self.server.secret, headers, body, time.time())
        payload = parse(channel, body)
        return keep(self.server.directory / channel, channel, webhook_id, payload)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes every request line to stderr; phone numbers and tokens stay out of logs anyway.
        log.debug("%s %s", self.command, self.path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], directory: Path, secret: str, channels: tuple[str, ...]):
        self.directory = directory
        self.secret = secret
        self.channels = channels
        super().__init__(address, _Handler)


class GatewayCatcher:
    """Serves `POST /sms`, `POST /push` and `POST /chat` (those of `channels`) on host:port, in a thread of its
    own."""

    def __init__(self, directory: Path, host: str, port: int, secret: str, channels: tuple[str, ...]):
        for channel in channels:
            (directory / channel).mkdir(parents=True, exist_ok=True)
        self.directory, self.host, self.port, self.channels = directory, host, port, channels
        self._server = _Server((host, port), directory, secret, channels)
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway-catcher", daemon=True)

    def url(self, channel: str) -> str:
        return f"http://{self.host}:{self.port}/{channel}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self._server.shutdown()
        self._server.server_close()


def wanted(environ: dict[str, str]) -> tuple[str, ...]:
    """The channels to catch: those for which the operator configured no gateway."""
    return tuple(channel for channel in CHANNELS if not environ.get(f"HERALD_{channel.upper()}_WEBHOOK_URL"))


def port(environ: dict[str, str]) -> int:
    value = environ.get("HERALD_GATEWAY_CATCHER_PORT", "1026")
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 65535:
        raise BadSetting(f"make up: HERALD_GATEWAY_CATCHER_PORT '{value[:20]}' is not a port number")
    return int(value)
