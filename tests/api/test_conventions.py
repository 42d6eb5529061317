"""Conventions of the contract: auth, the error body, validation, body size, health and metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from tests.api.conftest import Api
from tests.conftest import Stack


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, object] = body["error"]
    return error


async def test_health_and_ready(stack: Stack) -> None:
    assert (await stack.http.get("/health")).json() == {"status": "ok"}
    r = await stack.http.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"postgres": "ok", "temporal": "ok"}}


async def test_no_key_is_401_and_a_wrong_key_is_401(stack: Stack) -> None:
    assert_error(await stack.http.get("/v1/templates"), 401, "unauthorized")
    assert_error(await stack.http.get("/v1/templates", headers={"Authorization": "Bearer nope"}), 401,
                 "unauthorized")
    assert_error(await stack.http.get("/v1/templates", headers={"Authorization": "Basic abc"}), 401,
                 "unauthorized")


async def test_a_user_token_cannot_use_admin_endpoints(api: Api) -> None:
    user_id = await api.user()
    token = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    for method, path in [("GET", "/v1/templates"), ("GET", "/v1/notifications"), ("GET", "/v1/dlq"),
                         ("POST", "/v1/users")]:
        r = await api.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, json={})
        assert_error(r, 403, "forbidden")


async def test_malformed_json_is_a_clear_422(api: Api) -> None:
    r = await api.http.post("/v1/notifications", content=b'{"template": "x", ', headers={
        **api.h, "Content-Type": "application/json"})
    assert_error(r, 422, "malformed_json")


async def test_validation_errors_name_the_field(api: Api) -> None:
    r = await api.http.post("/v1/notifications", json={"to": {"sim": "ok"}, "channels": ["carrier_pigeon"],
                                                       "template": "t"}, headers=api.h)
    error = assert_error(r, 422, "validation_error")
    assert any(d["field"].startswith("channels") for d in error["details"])  # type: ignore[attr-defined]
    r = await api.http.post("/v1/notifications", json={"to": {"sim": "ok"}, "channels": ["sim"], "template": "t",
                                                       "chanels": ["sim"]}, headers=api.h)
    error = assert_error(r, 422, "validation_error")
    assert "chanels" in str(error["details"])
    r = await api.http.get("/v1/notifications?limit=501", headers=api.h)
    assert "limit" in str(assert_error(r, 422, "validation_error")["details"])


async def test_bodies_over_one_mib_are_413(api: Api) -> None:
    big = b'{"name": "x", "body": "' + b"a" * (1024 * 1024) + b'"}'
    r = await api.http.post("/v1/templates", content=big, headers={**api.h, "Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while streaming too
        yield b'{"name": "x", "body": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}'
    r = await api.http.post("/v1/templates", content=chunks(), headers={**api.h, "Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")
    # Just under the limit is accepted (and refused for its own reasons, not its size).
    ok = b'{"name": "big-ok-' + api.stack.admin_key[-6:].encode() + b'", "body": "' + b"a" * 190_000 + b'"}'
    r = await api.http.post("/v1/templates", content=ok, headers={**api.h, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


async def test_unknown_paths_and_ids_are_404_in_the_error_shape(api: Api) -> None:
    assert_error(await api.http.get("/v1/nothing", headers=api.h), 404, "not_found")
    assert_error(await api.http.get("/v1/notifications/nope", headers=api.h), 404, "not_found")
    assert_error(await api.http.get("/v1/users/nope", headers=api.h), 404, "not_found")


async def test_bad_cursor_is_422(api: Api) -> None:
    r = await api.http.get("/v1/notifications?cursor=%%%", headers=api.h)
    assert_error(r, 422, "validation_error")


async def test_openapi_is_served(stack: Stack) -> None:
    spec = (await stack.http.get("/openapi.json")).json()
    for path in ["/v1/notifications", "/v1/templates/{name}/preview", "/v1/dlq/retry", "/v1/users/{user_id}/inbox"]:
        assert path in spec["paths"]
    assert (await stack.http.get("/docs")).status_code == 200


async def test_metrics_report_outcomes_from_the_read_model(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "ok"}, channels=["sim"], priority="otp")
    await api.until_status(n["id"], "delivered")
    text = (await api.http.get("/metrics")).text
    assert 'herald_notifications_accepted_total{channel="sim",priority="otp"}' in text
    delivered = [line for line in text.splitlines()
                 if line.startswith('herald_notifications{channel="sim",priority="otp",status="delivered"}')]
    assert delivered and float(delivered[0].split()[-1]) >= 1
    assert "herald_dlq_size" in text and "herald_accept_latency_seconds_bucket" in text


async def test_input_limits_name_the_field(api: Api) -> None:
    template = await api.template()
    base = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"]}
    deep: dict[str, object] = {"name": "x"}
    for _ in range(10):
        deep = {"next": deep}
    cases = [
        ({**base, "data": {"name": "x", "blob": "y" * 70_000}}, "data", "bytes of JSON"),
        ({**base, "data": {"name": "x", **deep}}, "data", "nests deeper"),
        ({**base, "data": {"name": "x"}, "send_at": "2031-01-01T00:00:00Z"}, "send_at", "days ahead"),
        ({**base, "data": {"name": "x"}, "category": "c" * 65}, "category", "at most 64"),
        ({**base, "data": {"name": "x"}, "idempotency_key": "k" * 256}, "idempotency_key", "at most 255"),
    ]
    for body, field, words in cases:
        r = await api.http.post("/v1/notifications", json=body, headers=api.h)
        error = assert_error(r, 422, "validation_error")
        detail = error["details"][0]  # type: ignore[index]
        assert detail["field"] == field and words in detail["message"], (field, detail)


async def test_hostile_requests_get_4xx_and_start_nothing(api: Api) -> None:
    template = await api.template()
    count = "SELECT count(*) FROM notification WHERE template = $1"
    before = await api.stack.pool.fetchval(count, template)
    base = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "x"}}
    hostile: list[bytes | dict[str, object]] = [
        b'{"template": "t", "channels": ["sim"]',  # cut short
        b"\xff\xfe not even text",
        b"[1, 2, 3]",
        {**base, "channels": "sim"},
        {**base, "data": "not an object"},
        {**base, "template": "{{ ''.__class__.__mro__ }}"},
        {**base, "template": "../../etc/passwd"},
        {**base, "to": {"sim": "ok\u0000"}},
        {**base, "data": {"name": "\ud800"}},
        {**base, "priority": "🚀"},
        {**base, "send_at": "2026-13-45T99:00:00Z"},
        {**base, "data": {"x": "y" * (2 * 1024 * 1024)}},
        {**base, "data": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}},
        {**base, "extra": "field"},
    ]
    for body in hostile:
        if isinstance(body, bytes):
            r = await api.http.post("/v1/notifications", content=body,
                                    headers={**api.h, "Content-Type": "application/json"})
        else:
            r = await api.http.post("/v1/notifications", content=json.dumps(body),
                                    headers={**api.h, "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (body if isinstance(body, bytes) else str(body)[:200], r.text[:300])
        assert r.json()["error"]["code"]
    assert await api.stack.pool.fetchval(count, template) == before == 0
