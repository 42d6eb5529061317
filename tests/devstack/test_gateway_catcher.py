"""`make up`'s SMS, push and chat catcher, reached by the worker's own HTTP gateway provider over loopback: it keeps
what a correctly signed request carries, once per delivery, and refuses anything else as a gateway would."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.secrets import new_webhook_secret
from devstack.gateway_catcher import GatewayCatcher, wanted
from providers import signing
from providers.base import OutgoingMessage, PermanentDeliveryError
from providers.http_gateway import HttpGatewayProvider, chat_payload, push_payload, sms_payload
from tests.conftest import free_port
from tests.devstack.test_make_up import refused_for_a_taken_port, taken_port

SECRET = new_webhook_secret()


@pytest.fixture
def catcher() -> Iterator[GatewayCatcher]:
    catcher = GatewayCatcher(Path(tempfile.mkdtemp(prefix="hcatch-")), "127.0.0.1", free_port(), SECRET,
                             ("sms", "push", "chat"))
    catcher.start()
    yield catcher
    catcher.stop()


def kept(catcher: GatewayCatcher, channel: str) -> list[dict[str, object]]:
    return [json.loads(path.read_text()) for path in sorted((catcher.directory / channel).glob("*.json"))]


def message(channel: str, address: str, notification_id: str = "n-1") -> OutgoingMessage:
    return OutgoingMessage(notification_id=notification_id, channel=channel, address=address, subject="Your code",
                           body="Hi Ada, your code is 31.", user_id="ada", attempt=1)


async def test_a_signed_sms_and_push_are_kept_once_per_delivery(catcher: GatewayCatcher) -> None:
    async with httpx.AsyncClient() as client:
        sms = HttpGatewayProvider("sms-gateway", client, SECRET, sms_payload, catcher.url("sms"))
        push = HttpGatewayProvider("push-gateway", client, SECRET, push_payload, catcher.url("push"))
        first = await sms.send(message("sms", "+33612345678"))
        again = await sms.send(message("sms", "+33612345678"))  # a retry of the same delivery
        pushed = await push.send(message("push", "ada-phone-1"))
    assert first.provider_message_id == again.provider_message_id and first.provider_message_id.startswith("caught-")
    (one_sms,) = kept(catcher, "sms")
    assert one_sms["webhook_id"] == "n-1:sms"
    assert one_sms["payload"] == {"to": "+33612345678", "text": "Hi Ada, your code is 31.", "notification_id": "n-1"}
    (one_push,) = kept(catcher, "push")
    assert pushed.provider_message_id != first.provider_message_id
    assert one_push["payload"] == {"token": "ada-phone-1", "title": "Your code", "body": "Hi Ada, your code is 31.",
                                   "notification_id": "n-1"}


async def test_a_signed_chat_message_is_kept_once_per_delivery(catcher: GatewayCatcher) -> None:
    async with httpx.AsyncClient() as client:
        chat = HttpGatewayProvider("chat-gateway", client, SECRET, chat_payload, catcher.url("chat"))
        first = await chat.send(message("chat", "#ops"))
        again = await chat.send(message("chat", "#ops"))  # a retry of the same delivery
        other = await chat.send(message("chat", "#ops", notification_id="n-2"))
    assert first.provider_message_id == again.provider_message_id != other.provider_message_id
    kept_chat = [c for c in kept(catcher, "chat") if c["webhook_id"] == "n-1:chat"]
    assert len(kept(catcher, "chat")) == 2 and len(kept_chat) == 1
    assert kept_chat[0]["channel"] == "chat"
    assert kept_chat[0]["payload"] == {"to": "#ops", "title": "Your code", "text": "Hi Ada, your code is 31.",
                                       "notification_id": "n-1"}
    assert kept(catcher, "sms") == [] and kept(catcher, "push") == []


async def test_a_request_signed_with_another_secret_is_refused_and_not_kept(catcher: GatewayCatcher) -> None:
    async with httpx.AsyncClient() as client:
        forged = HttpGatewayProvider("sms-gateway", client, new_webhook_secret(), sms_payload, catcher.url("sms"))
        with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
            await forged.send(message("sms", "+33612345678"))
        forged = HttpGatewayProvider("chat-gateway", client, new_webhook_secret(), chat_payload, catcher.url("chat"))
        with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
            await forged.send(message("chat", "#ops"))
    assert kept(catcher, "sms") == [] and kept(catcher, "chat") == []


def post(catcher: GatewayCatcher, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{catcher.port}{path}", content=body, headers=headers)


@pytest.mark.parametrize("channel", ["sms", "chat"])
@pytest.mark.parametrize(("case", "status", "code"), [
    ("unsigned", 401, "unsigned"),
    ("tampered body", 401, "bad_signature"),
    ("stale timestamp", 401, "stale"),
    ("not json", 400, "invalid_json"),
    ("without text", 400, "invalid_payload"),
    ("unknown path", 404, "not_found"),
])
def test_what_a_gateway_would_refuse_is_refused_and_not_kept(catcher: GatewayCatcher, channel: str, case: str,
                                                             status: int, code: str) -> None:
    to = "+33612345678" if channel == "sms" else "#ops"
    body = json.dumps({"to": to, "text": "hi"}).encode()
    path, sent, when = f"/{channel}", body, int(time.time())
    if case == "tampered body":
        sent = body.replace(b"hi", b"ho")
    elif case == "stale timestamp":
        when -= 3600
    elif case == "not json":
        body = sent = b"{not json"
    elif case == "without text":
        body = sent = json.dumps({"to": to}).encode()
    elif case == "unknown path":
        path = "/fax"
    headers = {} if case == "unsigned" else signing.headers(SECRET, f"n-2:{channel}", when, body)
    answer = post(catcher, path, sent, headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert kept(catcher, "sms") == [] and kept(catcher, "push") == [] and kept(catcher, "chat") == []


@pytest.mark.timeout(150)
async def test_a_taken_gateway_catcher_port_ends_make_up_with_one_line() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hup-", dir="/tmp"))
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "metrics": free_port()}
    with taken_port() as holder:
        port = holder.getsockname()[1]
        lines = await refused_for_a_taken_port(data_dir, ports, HERALD_MAIL_CATCHER_PORT=str(free_port()),
                                               HERALD_GATEWAY_CATCHER_PORT=str(port))
    assert lines == [f"make up: port {port} on 127.0.0.1 (SMS, push and chat catcher) is taken by another program; "
                     "set HERALD_GATEWAY_CATCHER_PORT to move it"]


@pytest.mark.timeout(150)
async def test_configured_gateways_leave_nothing_to_catch_and_a_bad_catcher_port_is_one_line() -> None:
    assert wanted({"HERALD_SMS_WEBHOOK_URL": "https://sms.example.com", "HERALD_PUSH_WEBHOOK_URL": "https://p",
                   "HERALD_CHAT_WEBHOOK_URL": "https://chat.example.com"}) == ()
    assert wanted({"HERALD_PUSH_WEBHOOK_URL": "https://push.example.com"}) == ("sms", "chat")
    assert wanted({"HERALD_CHAT_WEBHOOK_URL": "https://chat.example.com"}) == ("sms", "push")
    assert wanted({}) == ("sms", "push", "chat")
    data_dir = Path(tempfile.mkdtemp(prefix="hup-", dir="/tmp"))
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "metrics": free_port()}
    lines = await refused_for_a_taken_port(data_dir, ports, HERALD_MAIL_CATCHER_PORT=str(free_port()),
                                           HERALD_GATEWAY_CATCHER_PORT="70000")
    assert lines == ["make up: HERALD_GATEWAY_CATCHER_PORT '70000' is not a port number"]
