"""With HERALD_PAYLOAD_KEYS set, Temporal holds only ciphertext; the codec endpoint opens it for an admin."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from core.codec import EncryptionCodec, new_key_spec, parse_keys
from tests.api.conftest import Api, eventually, uid
from tests.api.test_temporal_cli import temporal
from tests.conftest import free_port
from tests.processes import api_process
from worker import herald_worker

SECRET_CODE = "492817"
SECRET_NAME = "Ada Lovelace-Byron"


def payload_text(shown: str) -> str:
    """Everything the CLI's JSON history carries in payloads: their `data` fields are base64 in proto JSON."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown))
    return "\n".join(found)


async def test_history_holds_ciphertext_and_the_codec_endpoint_opens_it(api: Api) -> None:
    from core.temporal import with_settings_converter

    settings = api.stack.settings.model_copy(update={
        "payload_keys": new_key_spec("k2") + "," + new_key_spec("k1"), "task_queue": uid("sealed")})
    env = {"DATABASE_URL": str(settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": settings.task_queue,
           "HERALD_PAYLOAD_KEYS": settings.payload_keys}
    client = with_settings_converter(api.stack.temporal, settings)
    template, user = await api.template(body="Your code is {{ code }}, {{ name }}"), await api.user()
    async with herald_worker(client, api.stack.pool, settings), api_process(env, free_port()) as base:
        r = await api.http.post(f"{base}/v1/notifications", headers=api.h, json={
            "template": template, "user_id": user, "channels": ["in_app"],
            "data": {"name": SECRET_NAME, "code": SECRET_CODE}})
        assert r.status_code == 202, r.text
        sent = r.json()
        done = await api.until_status(sent["id"], "delivered")
        assert done["attempts"] == 1

        # The server's copy: no payload is readable, and the secrets appear nowhere in the raw history.
        history = await api.stack.temporal.get_workflow_handle(sent["workflow_id"]).fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert SECRET_CODE.encode() not in raw and SECRET_NAME.encode() not in raw
        shown = await temporal(api, "workflow", "show", "-w", sent["workflow_id"], "-o", "json")
        assert "YmluYXJ5L2VuY3J5cHRlZA==" in shown  # base64 of binary/encrypted
        assert payload_text(shown) and SECRET_CODE not in payload_text(shown)

        # A failure's message is sealed too (it may name an address), yet Herald's read model shows it.
        r = await api.http.post(f"{base}/v1/notifications", headers=api.h, json={
            "template": template, "to": {"sim": "reject"}, "channels": ["sim"], "data": {"name": "x", "code": "1"}})
        rejected = await api.until_status(r.json()["id"], "dead_lettered")
        assert "simulated permanent rejection" in (rejected["last_error"] or "")
        failed = await api.stack.temporal.get_workflow_handle(rejected["workflow_id"]).fetch_history()
        assert b"simulated permanent rejection" not in b"".join(e.SerializeToString() for e in failed.events)

        # Through the codec endpoint, with the admin key, the operator reads it.
        opened = await temporal(api, "workflow", "show", "-w", sent["workflow_id"], "-o", "json",
                                    "--codec-endpoint", f"{base}/codec",
                                    "--codec-auth", f"Bearer {api.stack.admin_key}")
        assert SECRET_CODE in payload_text(opened) and SECRET_NAME in payload_text(opened)

        # Without the admin scope the codec opens nothing.
        r = await api.http.post("/v1/keys", headers=api.h, json={"name": uid("k"), "scopes": ["read"]})
        reader = r.json()["key"]
        sealed = (await EncryptionCodec(parse_keys(settings.payload_keys)).encode(
            [Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')]))[0]
        body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                              "data": base64.b64encode(sealed.data).decode()}]}
        assert (await api.http.post(f"{base}/codec/decode", json=body,
                                    headers=api.stack.auth(reader))).status_code == 403
        r = await api.http.post(f"{base}/codec/decode", json=body, headers=api.h)
        assert r.status_code == 200 and base64.b64decode(r.json()["payloads"][0]["data"]) == b'"x"'
        # The Web UI sends no Bearer key: at /ui/codec the dashboard's admin login cookie opens it instead.
        async with httpx.AsyncClient(base_url=base) as browser:
            assert (await browser.post("/ui/codec/decode", json=body)).status_code in (302, 303, 307)
            login = await browser.post("/ui/login", data={"key": api.stack.admin_key})
            assert login.status_code in (302, 303) and browser.cookies.get("herald_session")
            r = await browser.post("/ui/codec/decode", json=body, headers={"Origin": settings.temporal_ui_url})
            assert r.status_code == 200 and base64.b64decode(r.json()["payloads"][0]["data"]) == b'"x"'
            assert r.headers["access-control-allow-credentials"] == "true"

        # The Temporal UI's origin may call it from a browser; another origin gets no CORS grant.
        ui = settings.temporal_ui_url
        pre = await api.http.options(f"{base}/codec/decode", headers={
            "Origin": ui, "Access-Control-Request-Method": "POST"})
        assert pre.headers["access-control-allow-origin"] == ui
        assert "x-namespace" in pre.headers["access-control-allow-headers"]
        pre = await api.http.options(f"{base}/codec/decode", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers

    async def listed() -> bool:  # search attributes stay plain, and hold only ids and enums
        out = await temporal(api, "workflow", "list", "--query", f'RecipientId="{user}"', "-o", "json")
        return sent["workflow_id"] in out and SECRET_NAME not in out
    await eventually(listed, what="the workflow listed by its plain search attribute")


def test_a_payload_only_opens_with_its_key() -> None:
    one, other = parse_keys(new_key_spec("k1")), parse_keys(new_key_spec("k1"))
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"to": "ada@example.com"}')
    sealed = asyncio.run(EncryptionCodec(one).encode([payload]))
    assert b"ada@example.com" not in sealed[0].SerializeToString()
    assert asyncio.run(EncryptionCodec(one).decode(sealed)) == [payload]
    with pytest.raises(ValueError, match="failed authentication"):
        asyncio.run(EncryptionCodec(other).decode(sealed))
    with pytest.raises(ValueError, match="does not hold"):
        asyncio.run(EncryptionCodec(parse_keys(new_key_spec("k9"))).decode(sealed))
    # Rotation: a new key first still opens what the old one sealed.
    rotated = EncryptionCodec({**parse_keys(new_key_spec("k2")), **one})
    assert asyncio.run(rotated.decode(sealed)) == [payload]


@pytest.mark.parametrize("value, reason", [
    ("k1", "<id>:<base64"), ("k1:not base64!", "not base64"), ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
])
def test_bad_key_settings_are_refused(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_keys(value)
