"""Layouts and includes: a template's output in its layout, included templates, the checks at save, and the
versions pinned when a notification is accepted."""

from __future__ import annotations

from typing import Any

from activities.render import RenderActivities
from core.models import RenderInput
from tests.api.conftest import Api, uid
from tests.api.test_conventions import assert_error


async def _post(api: Api, path: str, expect: int = 201, **body: Any) -> dict[str, Any]:
    r = await api.http.post(path, json=body, headers=api.h)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def _put(api: Api, path: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    r = await api.http.put(path, json=body, headers=api.h)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def _field(r: Any, status: int, code: str) -> str:
    error = assert_error(r, status, code)
    details: list[dict[str, str]] = error["details"]  # type: ignore[assignment]
    return details[0]["field"]


async def test_a_layout_wraps_the_text_and_an_include_renders(api: Api) -> None:
    footer, layout, name = uid("footer"), uid("layout"), uid("tpl")
    await _post(api, "/v1/templates", name=footer, body="Thanks, {{ name }}.")
    created = await _post(api, "/v1/layouts", name=layout, text="{{ content }}\n--\nHerald Inc.",
                          html="<div class='frame'>{{ content }}</div>")
    assert (created["version"], created["includes"]) == (1, [])
    template = await _post(api, "/v1/templates", name=name, subject="Hi", layout=layout,
                           body=f'Hello {{{{ name }}}}. {{% include "{footer}" %}}')
    assert (template["layout"], template["includes"]) == (layout, [footer])

    n = await api.send(name, channels=["in_app"], user_id=await api.user(), data={"name": "Ada <b>"})
    await api.until_status(n["id"], "delivered")
    body = await api.stack.pool.fetchval("SELECT body FROM inbox_item WHERE notification_id = $1", n["id"])
    assert body == "Hello Ada <b>. Thanks, Ada <b>.\n--\nHerald Inc."

    preview = await _post(api, f"/v1/templates/{name}/preview", 200, data={"name": "Bo"})
    assert preview["body"] == "Hello Bo. Thanks, Bo.\n--\nHerald Inc."


async def test_html_goes_into_the_layouts_html_escaped_once(api: Api) -> None:
    layout, name = uid("layout"), uid("tpl")
    await _post(api, "/v1/layouts", name=layout, html="<table><tr><td>{{ content }}</td></tr></table>")
    await _post(api, "/v1/templates", name=name, body="Hi {{ name }}", html="<p>Hi {{ name }}</p>", layout=layout)
    preview = await _post(api, f"/v1/templates/{name}/preview", 200, data={"name": "<Ada>"})
    assert preview["html"] == "<table><tr><td><p>Hi &lt;Ada&gt;</p></td></tr></table>"
    assert preview["body"] == "Hi <Ada>"  # no text in the layout: the text goes out as it is


async def test_versions_of_the_layout_and_includes_are_pinned_at_accept(api: Api) -> None:
    footer, layout, name = uid("footer"), uid("layout"), uid("tpl")
    await _post(api, "/v1/templates", name=footer, body="footer v1")
    await _post(api, "/v1/layouts", name=layout, text="[v1] {{ content }}")
    await _post(api, "/v1/templates", name=name, layout=layout, body=f'body {{% include "{footer}" %}}')
    user_id = await api.user()
    # Scheduled far ahead, so that only this test's direct call renders it.
    first = await api.send(name, user_id=user_id, channels=["in_app"], send_at="2027-06-01T00:00:00Z")
    await _put(api, f"/v1/layouts/{layout}", text="[v2] {{ content }}")
    await _put(api, f"/v1/templates/{footer}", body="footer v2")
    second = await api.send(name, user_id=user_id, channels=["in_app"], send_at="2027-06-01T00:00:00Z")

    activities = RenderActivities(api.stack.pool, "en")
    for n, expected in ((first, "[v1] body footer v1"), (second, "[v2] body footer v2")):
        inp = RenderInput(notification_id=n["id"], template=name, template_version=1, data={},
                          channels=["in_app"], user_id=user_id)
        assert (await activities.render(inp)).body == expected
        await api.http.post(f"/v1/notifications/{n['id']}/cancel", headers=api.h)
    pins = await api.stack.pool.fetchval("SELECT render_pins FROM notification WHERE id = $1", first["id"])
    assert pins == {"layout": [layout, 1], "includes": {footer: 1}}


async def test_a_missing_include_or_layout_is_a_422_naming_the_field(api: Api) -> None:
    name = uid("tpl")
    r = await api.http.post("/v1/templates", headers=api.h,
                            json={"name": name, "body": "x", "html": '<p>{% include "nope-nothing" %}</p>'})
    assert await _field(r, 422, "unknown_include") == "html"
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": name, "body": "x", "layout": "no-such"})
    assert await _field(r, 422, "unknown_layout") == "layout"
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": name, "body": "{% include who %}"})
    assert await _field(r, 422, "template_syntax_error") == "body"
    r = await api.http.post("/v1/layouts", headers=api.h, json={"name": uid("layout"), "html": "<p>no slot</p>"})
    assert await _field(r, 422, "layout_without_content") == "html"
    r = await api.http.post("/v1/layouts", headers=api.h,
                            json={"name": uid("layout"), "text": '{{ content }} {% include "nope-nothing" %}'})
    assert await _field(r, 422, "unknown_include") == "text"
    assert (await api.http.get(f"/v1/templates/{name}", headers=api.h)).status_code == 404


async def test_an_include_cycle_is_a_422_at_save(api: Api) -> None:
    a, b, c = uid("a"), uid("b"), uid("c")
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": a, "body": f'{{% include "{a}" %}}'})
    assert await _field(r, 422, "include_cycle") == "body"
    await _post(api, "/v1/templates", name=a, body="A")
    await _post(api, "/v1/templates", name=b, body=f'B {{% include "{a}" %}}')
    await _post(api, "/v1/templates", name=c, subject="C", body="C", html=f'<p>{{% include "{b}" %}}</p>')
    # a -> c -> b -> a
    r = await api.http.put(f"/v1/templates/{a}", headers=api.h, json={"body": f'A {{% include "{c}" %}}'})
    assert await _field(r, 422, "include_cycle") == "body"
    r = await api.http.put(f"/v1/templates/{a}/locales/fr", headers=api.h, json={"body": f'{{% include "{b}" %}}'})
    assert await _field(r, 422, "include_cycle") == "body"
    assert (await api.http.get(f"/v1/templates/{a}", headers=api.h)).json()["version"] == 1


async def test_a_layout_is_versioned_and_cannot_be_deleted_while_used(api: Api) -> None:
    layout, name = uid("layout"), uid("tpl")
    await _post(api, "/v1/layouts", name=layout, text="1 {{ content }}")
    r = await api.http.post("/v1/layouts", headers=api.h, json={"name": layout, "text": "{{ content }}"})
    assert_error(r, 409, "layout_exists")
    assert (await _put(api, f"/v1/layouts/{layout}", text="2 {{ content }}"))["version"] == 2
    old = (await api.http.get(f"/v1/layouts/{layout}?version=1", headers=api.h)).json()
    assert (old["version"], old["text"], old["latest_version"]) == (1, "1 {{ content }}", 2)
    await _post(api, "/v1/templates", name=name, body="x", layout=layout)
    r = await api.http.delete(f"/v1/layouts/{layout}", headers=api.h)
    assert assert_error(r, 409, "layout_in_use")["details"] == {"templates": [name]}
    await _put(api, f"/v1/templates/{name}", body="x")  # a version without the layout
    assert (await api.http.delete(f"/v1/layouts/{layout}", headers=api.h)).status_code == 204
    assert (await api.http.get(f"/v1/layouts/{layout}", headers=api.h)).status_code == 404
    listed = (await api.http.get("/v1/layouts?limit=200", headers=api.h)).json()["items"]
    assert layout not in [item["name"] for item in listed]


async def test_an_include_takes_the_translation_of_the_chosen_locale(api: Api) -> None:
    footer, name = uid("footer"), uid("tpl")
    await _post(api, "/v1/templates", name=footer, body="Thanks")
    await _put(api, f"/v1/templates/{footer}/locales/fr", body="Merci")
    await _post(api, "/v1/templates", name=name, body=f'Hello {{% include "{footer}" %}}')
    await _put(api, f"/v1/templates/{name}/locales/fr", body=f'Bonjour {{% include "{footer}" %}}')
    french = await _post(api, f"/v1/templates/{name}/preview", 200, data={}, locale="fr-CA")
    english = await _post(api, f"/v1/templates/{name}/preview", 200, data={})
    assert (french["body"], english["body"]) == ("Bonjour Merci", "Hello Thanks")


async def test_new_data_for_a_waiting_notification_is_checked_with_its_include(api: Api) -> None:
    footer, name = uid("footer"), uid("tpl")
    await _post(api, "/v1/templates", name=footer, body="Bye {{ name }}")
    await _post(api, "/v1/templates", name=name, body=f'Hi {{% include "{footer}" %}}')
    n = await api.send(name, channels=["in_app"], user_id=await api.user(), send_at="2027-06-01T00:00:00Z")
    r = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {"name": "Bo"}}, headers=api.h)
    assert r.status_code == 200, r.text
    r = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {}}, headers=api.h)
    assert assert_error(r, 422, "missing_variable")["details"][0]["field"] == "data.name"  # type: ignore[index]
    await api.http.post(f"/v1/notifications/{n['id']}/cancel", headers=api.h)
