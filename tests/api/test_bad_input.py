"""Bad input answers 4xx, never 500: forged cursors, odd numbers in query strings and forms, odd JSON numbers,
a bulk item that fails unexpectedly, and many requests racing on one idempotency key."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services import accept as accept_service
from tests.api.conftest import Api, uid
from tests.api.test_conventions import assert_error
from tests.conftest import free_port
from tests.processes import api_process


def forge(values: Any) -> str:
    """A cursor of the shape the API issues (base64 JSON), holding what a client chose to put in it."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


# The right width for each list, with the wrong types (or values no column holds).
FORGED_PAIRS = [[1, 2], [None, None], ["yesterday", "x"], ["2026-11-30T10:00:00", "x"], [[1], {"a": 1}],
                ["2026-11-30T10:00:00+00:00", 7]]
FORGED_IDS = [["x"], [None], [2**70], [-1], [1.5], [True], [{"a": 1}]]
FORGED_NAMES = [[1], [None], [["x"]], ["a\u0000"]]


async def test_forged_cursors_are_422_on_every_list(api: Api) -> None:
    user_id = await api.user()
    lists = {"/v1/notifications": FORGED_PAIRS, "/v1/dlq": FORGED_IDS, f"/v1/users/{user_id}/inbox": FORGED_PAIRS,
             "/v1/users": FORGED_NAMES, "/v1/templates": FORGED_NAMES, "/v1/keys": FORGED_NAMES}
    for path, forged in lists.items():
        for values in [*forged, ["x", "y", "z"]]:
            r = await api.http.get(path, params={"cursor": forge(values)}, headers=api.h)
            details = assert_error(r, 422, "validation_error")["details"]
            assert isinstance(details, list) and details[0]["field"] == "cursor", (path, values)


async def test_a_user_token_with_a_forged_inbox_cursor_is_422(api: Api) -> None:
    user_id = await api.user()
    token = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    for values in FORGED_PAIRS:
        r = await api.http.get(f"/v1/users/{user_id}/inbox", params={"cursor": forge(values)},
                               headers={"Authorization": f"Bearer {token}"})
        assert_error(r, 422, "validation_error")


async def test_issued_cursors_still_page(api: Api) -> None:
    user_id = await api.user()
    template = await api.template()
    for _ in range(3):
        await api.send(template, user_id=user_id, channels=["in_app"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"user_id": user_id, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/notifications", params=params, headers=api.h)).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


async def test_dashboard_pages_with_forged_cursors_show_the_first_page(api: Api) -> None:
    user_id = await api.user()
    token = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    for values in FORGED_PAIRS:
        r = await api.http.get("/ui/notifications", params={"cursor": forge(values)}, headers=api.h)
        assert r.status_code == 200, (values, r.text[-500:])
        r = await api.http.get("/ui/inbox", params={"cursor": forge(values)},
                               headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, (values, r.text[-500:])
    for after in ("²", "٣", "9" * 30, "-1"):
        r = await api.http.get("/ui/dlq", params={"after": after}, headers=api.h)
        assert r.status_code == 200, (after, r.text[-500:])


async def test_template_versions_that_are_not_whole_numbers(api: Api) -> None:
    template = await api.template()
    for version in ("²", "٣", "", "1e3", "-1", "0", "9" * 30):
        assert_error(await api.http.get(f"/v1/templates/{template}", params={"version": version}, headers=api.h),
                     422, "validation_error")
        r = await api.http.get(f"/ui/templates/{template}", params={"version": version}, headers=api.h)
        assert r.status_code == 200 and template in r.text, (version, r.status_code)


async def test_the_send_form_names_a_bad_send_time(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    form = {"template": template, "data": '{"name": "Ada"}', "audience": "users", "user_ids": user_id,
            "channels": "in_app", "key": uuid.uuid4().hex}
    for send_at in ("tomorrow", "2026-13-45T99:99", "²"):
        r = await api.http.post("/ui/send", data={**form, "send_at": send_at}, headers=api.h)
        assert r.status_code == 200 and "Not sent" in r.text and "send_at" in r.text, (send_at, r.text[-1000:])
    listed = (await api.http.get(f"/v1/notifications?user_id={user_id}", headers=api.h)).json()["items"]
    assert listed == []


@pytest.mark.parametrize("path", ["/ui/send", "/ui/send/preview", "/ui/templates/check"])
async def test_dashboard_json_nested_too_deeply_is_named(api: Api, path: str) -> None:
    template = await api.template()
    user_id = await api.user()
    deep = "[" * 100_000 + "]" * 100_000
    form = {"template": template, "data": deep, "audience": "users", "user_ids": user_id, "channels": "in_app",
            "key": uuid.uuid4().hex, "body": "Hello {{ name }}"}
    r = await api.http.post(path, data=form, headers=api.h)
    assert r.status_code == 200 and "nested too deeply" in r.text, r.text[-1000:]


async def test_nan_and_infinity_in_data_are_422(api: Api) -> None:
    template = await api.template()
    for number in ("NaN", "Infinity", "-Infinity"):
        body = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "__N__"}}
        raw = json.dumps(body).replace('"__N__"', number)
        r = await api.http.post("/v1/notifications", content=raw,
                                headers={**api.h, "Content-Type": "application/json"})
        assert "NaN or Infinity" in str(assert_error(r, 422, "validation_error")["details"])


async def test_a_bulk_item_the_database_refuses_refuses_only_itself(api: Api) -> None:
    template = await api.template()
    good = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "A"}}
    raw = json.dumps({"notifications": [good, {**good, "data": {"name": "__INF__"}}, good]})
    raw = raw.replace('"__INF__"', "Infinity")
    r = await api.http.post("/v1/notifications/bulk", content=raw,
                            headers={**api.h, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "invalid", "accepted"]


async def test_a_bulk_item_failing_unexpectedly_answers_for_itself_alone(api: Api,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected into one item's checks (the API runs in this process): the other items are accepted and
    answered; the failed one says so; the request is not a 500 that hides what was started."""
    template = await api.template()
    real_checks = accept_service._validated_row

    async def failing_for_one(*args: Any, **kwargs: Any) -> Any:
        if args[1].body.data.get("name") == "boom":
            raise RuntimeError("injected fault")
        return await real_checks(*args, **kwargs)

    monkeypatch.setattr(accept_service, "_validated_row", failing_for_one)
    good = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "A"}}
    items = [good, {**good, "data": {"name": "boom"}}, {**good, "data": {"name": "B"}}]
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "error", "accepted"]
    assert results[1]["error"]["code"] == "internal_error" and "injected" not in r.text
    for accepted in (results[0], results[2]):
        await api.until_status(accepted["notification"]["id"], "delivered")


async def test_many_concurrent_requests_with_one_key_answer_by_the_idempotency_rules(api: Api) -> None:
    template = await api.template()
    body = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "Ada"}}
    for _ in range(5):
        key = uid("race")
        same = [api.http.post("/v1/notifications", json=body, headers={**api.h, "Idempotency-Key": key})
                for _ in range(12)]
        other = [api.http.post("/v1/notifications", json={**body, "data": {"name": f"Z{i}"}},
                               headers={**api.h, "Idempotency-Key": key}) for i in range(4)]
        answers = await asyncio.gather(*same, *other)
        same_answers, other_answers = answers[:12], answers[12:]
        assert all(r.status_code in (200, 202, 409) for r in answers), [r.text for r in answers
                                                                         if r.status_code >= 500]
        ids = {r.json()["id"] for r in answers if r.status_code in (200, 202)}
        assert len(ids) == 1
        assert sum(1 for r in answers if r.status_code == 202) == 1
        winner_is_same = any(r.status_code == 202 for r in same_answers)
        if winner_is_same:
            assert all(r.status_code in (200, 202) for r in same_answers)
            assert all(r.status_code == 409 for r in other_answers)
        else:
            assert all(r.status_code == 409 for r in same_answers)


NOT_ONE_ADDRESS = ["a@example.com, b@example.org", "a@example.com,b@example.org", "Ada <a@example.com>",
                   "a@example.com\r\nBcc: b@example.org", "a,b@example.com", '"a b"@example.com', "a@[127.0.0.1]",
                   "a@example.com\n", "no-at-sign"]


async def test_an_email_address_is_exactly_one_mailbox(api: Api) -> None:
    template = await api.template()
    for address in NOT_ONE_ADDRESS:
        r = await api.http.post("/v1/notifications", json={"template": template, "to": {"email": address},
                                                           "channels": ["email"], "data": {"name": "A"}},
                                headers=api.h)
        details = assert_error(r, 422, "validation_error")["details"]
        assert isinstance(details, list) and details[0]["field"] == "to" and "to.email" in details[0]["message"]
        r = await api.http.post("/v1/users", json={"id": uid("usr"), "name": "Ada", "email": address},
                                headers=api.h)
        assert "email" in str(assert_error(r, 422, "validation_error")["details"]), address
    user_id = await api.user(email="ada@example.com")
    for address in NOT_ONE_ADDRESS:
        r = await api.http.patch(f"/v1/users/{user_id}", json={"email": address}, headers=api.h)
        assert_error(r, 422, "validation_error")
    await api.send(template, to={"email": f"{uid('ok')}@example.com"}, channels=["email"])
    await api.send(template, to={"email": f"{uid('ok')}@staging.test"}, channels=["email"])  # RFC 2606 test names


async def test_a_subject_that_renders_to_two_lines_is_refused_at_accept_and_preview(api: Api) -> None:
    template = await api.template()
    for name in ("x\r\nBcc: evil@example.com", "x\nBcc: evil@example.com", "x\r"):
        r = await api.http.post("/v1/notifications", json={"template": template, "to": {"sim": "ok"},
                                                           "channels": ["sim"], "data": {"name": name}},
                                headers=api.h)
        details = assert_error(r, 422, "template_error")["details"]
        assert isinstance(details, list) and details[0]["field"] == "subject"
        r = await api.http.post(f"/v1/templates/{template}/preview", json={"data": {"name": name}}, headers=api.h)
        assert_error(r, 422, "template_error")


async def test_a_subject_injection_at_render_is_permanent_and_sends_nothing(api: Api) -> None:
    """The recipient's name changes after accept (the subject passed then); the workflow's render refuses the
    multi-line subject at once, as a content error: no SMTP attempt, no retry, straight to the dead letters."""
    r = await api.http.post("/v1/templates", json={"name": uid("tpl"), "subject": "Hi {{ user.name }}",
                                                   "body": "Hello"}, headers=api.h)
    template = r.json()["name"]
    address = f"{uid('inj')}@example.com"
    user_id = await api.user(email=address)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    n = await api.send(template, user_id=user_id, channels=["email"], data={}, send_at=later)
    await api.until_status(n["id"], "scheduled")
    r = await api.http.patch(f"/v1/users/{user_id}", json={"name": "Ada\r\nBcc: evil@example.com"}, headers=api.h)
    assert r.status_code == 200, r.text
    r = await api.http.post(f"/v1/notifications/{n['id']}/send-now", headers=api.h)
    assert r.status_code == 200, r.text
    done = await api.until_status(n["id"], "dead_lettered")
    assert "subject" in (done["last_error"] or "") and done["attempts"] == 0, done
    assert api.stack.smtp.to(address) == [] and api.stack.smtp.to("evil@example.com") == []


# Busy until the render deadline: each iteration sorts the data again, well within every size limit.
SLOW_BODY = "{% for i in range(100000) %}{{ data.xs|sort|length }}{% endfor %}"


async def test_a_hostile_preview_is_422_and_the_api_keeps_answering_meanwhile(api: Api) -> None:
    """The render runs in a render thread under its deadline; the event loop answers /health while it runs. The
    API runs in a process of its own here, so that the test's own requests do not share its event loop."""
    template = await api.template(body=SLOW_BODY, subject=None)
    xs = list(range(5000, 0, -1))
    env = {"DATABASE_URL": api.stack.settings.database_url or "", "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": uid("render")}
    async with api_process(env, free_port()) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        preview = asyncio.create_task(http.post(f"/v1/templates/{template}/preview",
                                                json={"data": {"data": {"xs": xs}}}, headers=api.h))
        answered_meanwhile = 0
        while not preview.done():
            r = await http.get("/health")
            assert r.status_code == 200
            answered_meanwhile += not preview.done()
            await asyncio.sleep(0.05)
        assert "longer than" in str(assert_error(await preview, 422, "template_error")["message"])
    # A render of about a second, /health every 50 ms: a blocked event loop would answer one at most.
    assert answered_meanwhile >= 3


async def test_hostile_templates_are_422_at_preview_and_accept(api: Api) -> None:
    for body in ('{{ "x".ljust(2**31) }}', '{{ "%2147483647d" % 1 }}', "{{ 9**9**9**9**9**9**9**9 }}",
                 "{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}"):
        template = await api.template(body=body, subject=None)
        data = {"xs": list(range(10_000))}  # within the 64 KiB data limit
        r = await api.http.post(f"/v1/templates/{template}/preview", json={"data": data}, headers=api.h)
        assert "exceeded a limit" in str(assert_error(r, 422, "template_error")["message"]), body
        r = await api.http.post("/v1/notifications", json={"template": template, "to": {"sim": "ok"},
                                                           "channels": ["sim"], "data": data}, headers=api.h)
        assert_error(r, 422, "template_error")
