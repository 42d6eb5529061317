"""Templates (versioned Jinja2) and users (recipients, tokens)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, uid
from tests.api.test_conventions import assert_error


async def test_template_lifecycle_keeps_old_versions_readable(api: Api) -> None:
    name = uid("tpl")
    r = await api.http.post("/v1/templates", json={"name": name, "subject": "S {{ a }}", "body": "B {{ b }}",
                                                   "description": "first"}, headers=api.h)
    assert r.status_code == 201
    created = r.json()
    assert (created["version"], created["variables"]) == (1, ["a", "b"])
    assert_error(await api.http.post("/v1/templates", json={"name": name, "body": "x"}, headers=api.h), 409,
                 "template_exists")
    r = await api.http.put(f"/v1/templates/{name}", json={"body": "B2 {{ c }}"}, headers=api.h)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["body"] == "B2 {{ c }}"
    assert (await api.http.get(f"/v1/templates/{name}", headers=api.h)).json()["version"] == 2
    v1 = (await api.http.get(f"/v1/templates/{name}?version=1", headers=api.h)).json()
    assert (v1["version"], v1["body"], v1["latest_version"]) == (1, "B {{ b }}", 2)
    assert_error(await api.http.get(f"/v1/templates/{name}?version=9", headers=api.h), 404, "not_found")
    assert (await api.http.delete(f"/v1/templates/{name}", headers=api.h)).status_code == 204
    assert_error(await api.http.get(f"/v1/templates/{name}", headers=api.h), 404, "not_found")
    assert_error(await api.http.delete(f"/v1/templates/{name}", headers=api.h), 404, "not_found")
    assert_error(await api.http.put(f"/v1/templates/{name}", json={"body": "x"}, headers=api.h), 404, "not_found")


async def test_a_syntax_error_is_422_with_its_line(api: Api) -> None:
    body = "line one\nline two\nthe {{ broken tag }}"
    r = await api.http.post("/v1/templates", json={"name": uid("tpl"), "body": body}, headers=api.h)
    error = assert_error(r, 422, "template_syntax_error")
    assert error["details"][0]["field"] == "body"  # type: ignore[index]
    assert error["details"][0]["line"] == 3  # type: ignore[index]
    assert "line 3" in str(error["message"])
    r = await api.http.post("/v1/templates", json={"name": uid("tpl"), "subject": "{{ oops", "body": "ok"},
                            headers=api.h)
    assert assert_error(r, 422, "template_syntax_error")["details"][0]["field"] == "subject"  # type: ignore[index]


async def test_preview_renders_and_names_a_missing_variable(api: Api) -> None:
    name = await api.template(body="Code {{ code }} for {{ name }}")
    r = await api.http.post(f"/v1/templates/{name}/preview", json={"data": {"code": "42", "name": "Ada"}},
                            headers=api.h)
    assert r.json() == {"subject": "Hi Ada", "body": "Code 42 for Ada", "html": None}
    r = await api.http.post(f"/v1/templates/{name}/preview", json={"data": {"name": "Ada"}}, headers=api.h)
    error = assert_error(r, 422, "missing_variable")
    assert "'code'" in str(error["message"]) and error["details"][0]["variable"] == "code"  # type: ignore[index]


async def test_templates_list_pages_with_a_cursor(api: Api) -> None:
    names = sorted([await api.template() for _ in range(3)])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/templates", params=params, headers=api.h)).json()
        assert len(page["items"]) <= 2
        seen += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(names) <= set(seen) and len(seen) == len(set(seen))


async def test_user_lifecycle(api: Api) -> None:
    r = await api.http.post("/v1/users", json={"name": "Grace", "email": "grace@example.com",
                                               "timezone": "Europe/Paris", "topics": ["news"],
                                               "preferences": {"channels": {"email": False},
                                                               "quiet_hours": {"start": "22:00", "end": "07:00"}}},
                            headers=api.h)
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["id"].startswith("usr_") and user["preferences"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert_error(await api.http.post("/v1/users", json={"id": user["id"], "name": "X"}, headers=api.h), 409,
                 "user_exists")
    r = await api.http.patch(f"/v1/users/{user['id']}", json={"phone": "+33 1 23 45 67 89", "email": None},
                             headers=api.h)
    assert r.status_code == 200
    patched = r.json()
    assert (patched["phone"], patched["email"], patched["name"], patched["topics"]) == (
        "+33 1 23 45 67 89", None, "Grace", ["news"])
    assert (await api.http.get(f"/v1/users/{user['id']}", headers=api.h)).json()["phone"] == "+33 1 23 45 67 89"
    listed: list[str] = []  # the suite's other tests store users too: walk every page
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/users", params=params, headers=api.h)).json()
        listed += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert user["id"] in listed
    assert_error(await api.http.patch("/v1/users/nobody", json={"name": "x"}, headers=api.h), 404, "not_found")


async def test_user_fields_are_validated(api: Api) -> None:
    bad_fields: list[dict[str, Any]] = [{"timezone": "Mars/Olympus"}, {"email": "not-an-email"}, {"webhook_url": "ftp://x"},
                {"preferences": {"quiet_hours": {"start": "25:00", "end": "07:00"}}}]
    for bad in bad_fields:
        r = await api.http.post("/v1/users", json={"name": "X", **bad}, headers=api.h)
        error = assert_error(r, 422, "validation_error")
        assert next(iter(bad)) in str(error["details"])


async def test_tokens_are_shown_once_and_stored_hashed(api: Api) -> None:
    user_id = await api.user()
    r = await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)
    assert r.status_code == 201
    token = r.json()["token"]
    stored = await api.stack.pool.fetch("SELECT token_hash FROM user_token WHERE user_id = $1", user_id)
    assert len(stored) == 1 and stored[0]["token_hash"] != token and token not in stored[0]["token_hash"]
    assert_error(await api.http.post("/v1/users/nobody/tokens", headers=api.h), 404, "not_found")


async def test_an_html_body_is_rendered_with_escaping(api: Api) -> None:
    name = uid("tpl")
    r = await api.http.post("/v1/templates", headers=api.h, json={
        "name": name, "subject": "Hi", "body": "Hi {{ who }}", "html": "<p>Hi <b>{{ who }}</b></p>"})
    assert r.status_code == 201 and r.json()["html"] == "<p>Hi <b>{{ who }}</b></p>"
    r = await api.http.post(f"/v1/templates/{name}/preview", json={"data": {"who": "<script>x</script>"}},
                            headers=api.h)
    assert r.json()["body"] == "Hi <script>x</script>"  # plain text is not HTML: left as written
    assert r.json()["html"] == "<p>Hi <b>&lt;script&gt;x&lt;/script&gt;</b></p>"
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": uid("tpl"), "body": "ok", "html": "{% if %}"})
    assert assert_error(r, 422, "template_syntax_error")["details"][0]["field"] == "html"  # type: ignore[index]


async def test_template_attacks_answer_422_not_500(api: Api) -> None:
    for body in ["{{ ''.__class__.__mro__ }}", "{{ 'x' * 100000000 }}",
                 "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"]:
        name = await api.template(body=body, subject=None)
        r = await api.http.post(f"/v1/templates/{name}/preview", json={"data": {}}, headers=api.h)
        assert_error(r, 422, "template_error")
