"""Translations per template version, the locale each recipient gets, and CLDR formatting in it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import TEMPLATE_ERROR
from activities.render import RenderActivities
from core.models import RenderInput
from tests.api.conftest import Api, eventually, uid
from tests.api.test_conventions import assert_error

NNBSP, NBSP = "\u202f", "\xa0"  # CLDR's narrow no-break space (fr groups) and no-break space (before €)


async def _template(api: Api, body: str = "Hello {{ name }}", subject: str | None = "Hi") -> str:
    name = uid("tpl")
    r = await api.http.post("/v1/templates", json={"name": name, "subject": subject, "body": body}, headers=api.h)
    assert r.status_code == 201, r.text
    return name


async def _put(api: Api, name: str, locale: str, body: str, subject: str | None = None) -> dict[str, Any]:
    r = await api.http.put(f"/v1/templates/{name}/locales/{locale}", json={"subject": subject, "body": body},
                           headers=api.h)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _delivered_text(api: Api, notification_id: str) -> tuple[dict[str, Any], str]:
    """The notification once delivered, and the in-app message's body as the recipient got it."""
    done = await api.until_status(notification_id, "delivered")
    body: str = await api.stack.pool.fetchval("SELECT body FROM inbox_item WHERE notification_id = $1",
                                              notification_id)
    return done, body


async def _preview(api: Api, name: str, data: dict[str, Any], **extra: Any) -> Any:
    return await api.http.post(f"/v1/templates/{name}/preview", json={"data": data, **extra}, headers=api.h)


async def test_each_recipient_gets_the_translation_for_their_locale(api: Api) -> None:
    name = await _template(api)
    for tag, text in (("en", "Hello {{ name }} (en)"), ("fr", "Bonjour {{ name }}"), ("de", "Hallo {{ name }}")):
        await _put(api, name, tag, text, subject=f"[{tag}]")
    template = (await api.http.get(f"/v1/templates/{name}", headers=api.h)).json()
    assert (template["version"], template["locales"]) == (4, ["de", "en", "fr"])

    expected = {"fr-CA": ("fr", "Bonjour Ada"), "de-AT": ("de", "Hallo Ada"), "pt-BR": ("en", "Hello Ada (en)"),
                None: ("en", "Hello Ada (en)")}
    sent: dict[str | None, str] = {}
    for user_locale in expected:
        user_id = await api.user(**({"locale": user_locale} if user_locale else {}))
        n = await api.send(name, user_id=user_id, channels=["in_app"])
        assert n["locale"] is None  # not rendered yet
        sent[user_locale] = n["id"]
    for user_locale, (locale, text) in expected.items():
        done, body = await _delivered_text(api, sent[user_locale])
        assert (done["locale"], body) == (locale, text), user_locale
        subject = await api.stack.pool.fetchval("SELECT subject FROM inbox_item WHERE notification_id = $1",
                                                sent[user_locale])
        assert subject == f"[{locale}]"

    # The notification's own locale beats the user's, and is tried by language too.
    french = await api.user(locale="fr-CA")
    n = await api.send(name, user_id=french, channels=["in_app"], locale="de-CH")
    assert n["requested_locale"] == "de-CH"
    done, body = await _delivered_text(api, n["id"])
    assert (done["locale"], body) == ("de", "Hallo Ada")


async def test_without_a_matching_translation_the_templates_own_text_is_used(api: Api) -> None:
    name = await _template(api, body="Own text {{ name }}")
    await _put(api, name, "fr", "Texte {{ name }}")
    user_id = await api.user(locale="ja")
    n = await api.send(name, user_id=user_id, channels=["in_app"])
    done, body = await _delivered_text(api, n["id"])
    assert (done["locale"], body) == ("en", "Own text Ada")  # the own text counts as the default locale's


async def test_amounts_and_dates_follow_the_recipients_locale_and_time_zone(api: Api) -> None:
    body = "{{ amount|currency('EUR') }} | {{ amount|number }} | {{ at|datetime('long') }} | {{ at|date('full') }}" \
           " | {{ at|time }} | {{ at|datetime('EEEE HH:mm') }} | {{ 259200|timedelta }}"
    name = await _template(api, body=body)
    await _put(api, name, "fr", body)
    await _put(api, name, "de", body)
    data = {"name": "Ada", "amount": 1234.5, "at": "2026-11-30T23:30:00Z"}

    # 23:30 UTC is already 1 December in Paris (UTC+1 in winter), 18:30 in New York: computed independently.
    paris = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.day, paris.hour) == (1, 0)
    paris_user = await api.user(locale="fr-FR", timezone="Europe/Paris")
    r = await _preview(api, name, data, user_id=paris_user)
    assert r.status_code == 200, r.text
    assert r.json()["body"] == (f"1{NNBSP}234,50{NBSP}€ | 1{NNBSP}234,5 | 1 décembre 2026, 00:30:00 +0100 | "
                                f"mardi 1 décembre 2026 | 00:30 | mardi 00:30 | 3{NBSP}jours")

    berlin_user = await api.user(locale="de-DE", timezone="Europe/Berlin")
    r = await _preview(api, name, data, user_id=berlin_user)
    assert r.json()["body"] == (f"1.234,50{NBSP}€ | 1.234,5 | 1. Dezember 2026, 00:30:00 MEZ | "
                                "Dienstag, 1. Dezember 2026 | 00:30 | Dienstag 00:30 | 3 Tage")

    new_york_user = await api.user(locale="en-US", timezone="America/New_York")
    r = await _preview(api, name, data, user_id=new_york_user)
    assert r.json()["body"] == (f"€1,234.50 | 1,234.5 | November 30, 2026, 6:30:00{NNBSP}PM EST | "
                                f"Monday, November 30, 2026 | 6:30{NNBSP}PM | Monday 18:30 | 3 days")

    # Delivered the same way: the worker formats in the user's locale and zone as the preview does.
    n = await api.send(name, user_id=paris_user, channels=["in_app"], data=data)
    done, delivered = await _delivered_text(api, n["id"])
    assert done["locale"] == "fr" and delivered.startswith(f"1{NNBSP}234,50{NBSP}€ | ")
    assert "mardi 1 décembre 2026" in delivered


async def test_plural_forms_follow_the_locales_rules(api: Api) -> None:
    forms = "zero='zero', one='one', two='two', few='few', many='many', other='other'"
    body = "{% for n in counts %}{{ n }}:{{ n|plural(" + forms + ") }} {% endfor %}"
    name = await _template(api, body=body)
    for tag in ("ru", "ar", "pl"):
        await _put(api, name, tag, body)
    cases = {
        "ru": ([1, 3, 5, 21, 11, 1.5], "1:one 3:few 5:many 21:one 11:many 1.5:other "),
        "ar": ([0, 1, 2, 3, 11, 100], "0:zero 1:one 2:two 3:few 11:many 100:other "),
        "en": ([0, 1, 2], "0:other 1:one 2:other "),
        "pl": ([1, 2, 5, 22], "1:one 2:few 5:many 22:few "),
    }
    for locale, (counts, expected) in cases.items():
        r = await _preview(api, name, {"counts": counts}, locale=locale)
        assert r.status_code == 200, r.text
        assert r.json()["body"] == expected, locale
    # A form the locale needs but the template left out falls back to `other`; without `other` it is a 422.
    name = await _template(api, body="-")
    await _put(api, name, "ru", "{{ n|plural(one='файл', few='файла', other='файлов') }}")
    assert (await _preview(api, name, {"n": 5}, locale="ru")).json()["body"] == "файлов"
    await _put(api, name, "ru", "{{ n|plural(one='файл') }}")
    assert_error(await _preview(api, name, {"n": 5}, locale="ru"), 422, "template_error")


async def test_a_new_translation_is_a_new_version_and_old_versions_keep_theirs(api: Api) -> None:
    name = await _template(api)
    first = await _put(api, name, "fr", "Bonjour A {{ name }}")
    second = await _put(api, name, "fr", "Bonjour B {{ name }}")
    assert (first["version"], second["version"]) == (2, 3)
    listed = (await api.http.get(f"/v1/templates/{name}/locales", headers=api.h)).json()
    assert listed == {"name": name, "version": 3,
                      "items": [{"locale": "fr", "subject": None, "body": "Bonjour B {{ name }}", "html": None,
                                 "html_format": "html"}]}

    user_id = await api.user(locale="fr")
    pinned = await api.send(name, user_id=user_id, channels=["in_app"], template_version=2)
    latest = await api.send(name, user_id=user_id, channels=["in_app"])
    assert (await _delivered_text(api, pinned["id"]))[1] == "Bonjour A Ada"
    assert (await _delivered_text(api, latest["id"]))[1] == "Bonjour B Ada"

    # A new text of the template keeps its translations; deleting one is a version of its own.
    r = await api.http.put(f"/v1/templates/{name}", json={"subject": "Hi", "body": "Hey {{ name }}"}, headers=api.h)
    assert (r.json()["version"], r.json()["locales"]) == (4, ["fr"])
    assert (await api.http.delete(f"/v1/templates/{name}/locales/fr", headers=api.h)).status_code == 204
    after = (await api.http.get(f"/v1/templates/{name}", headers=api.h)).json()
    assert (after["version"], after["locales"], after["body"]) == (5, [], "Hey {{ name }}")
    assert (await api.http.get(f"/v1/templates/{name}?version=4", headers=api.h)).json()["locales"] == ["fr"]
    assert_error(await api.http.delete(f"/v1/templates/{name}/locales/fr", headers=api.h), 404, "not_found")
    assert_error(await api.http.put(f"/v1/templates/{uid('none')}/locales/fr", json={"body": "x"}, headers=api.h),
                 404, "not_found")


async def test_locale_tags_are_checked_and_spelled_the_usual_way(api: Api) -> None:
    name = await _template(api)
    for tag, spelled in (("fr-ca", "fr-CA"), ("pt-BR", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW")):
        await _put(api, name, tag, "x")
        assert spelled in (await api.http.get(f"/v1/templates/{name}", headers=api.h)).json()["locales"]
    for bad in ("english", "f", "fr_CA!", "fr-", "xx", "fr-CA-toolongvariantname", "12"):
        r = await api.http.put(f"/v1/templates/{name}/locales/{bad}", json={"body": "x"}, headers=api.h)
        error = assert_error(r, 422, "invalid_locale")
        assert error["details"][0]["field"] == "locale"  # type: ignore[index]
    user_id = await api.user()
    r = await api.http.post("/v1/notifications", json={"template": name, "user_id": user_id, "channels": ["in_app"],
                                                       "locale": "not a locale"}, headers=api.h)
    error = assert_error(r, 422, "validation_error")
    assert "locale" in str(error["details"])


async def test_a_translation_is_checked_like_the_templates_own_text(api: Api) -> None:
    name = await _template(api)
    r = await api.http.put(f"/v1/templates/{name}/locales/fr", json={"body": "ligne un\n{{ cassé }"},
                           headers=api.h)
    error = assert_error(r, 422, "template_syntax_error")
    assert error["details"][0]["line"] == 2  # type: ignore[index]
    assert (await api.http.get(f"/v1/templates/{name}", headers=api.h)).json()["version"] == 1
    # A misspelt filter is refused with its line too, in a translation and in a template's own text.
    r = await api.http.put(f"/v1/templates/{name}/locales/fr", json={"body": "a\nb\n{{ 5|currencyy('EUR') }}"},
                           headers=api.h)
    error = assert_error(r, 422, "template_syntax_error")
    assert error["details"][0]["line"] == 3 and "currencyy" in str(error["message"])  # type: ignore[index]
    r = await api.http.post("/v1/templates", json={"name": uid("tpl"), "body": "{{ 5|nombre }}"}, headers=api.h)
    assert "nombre" in str(assert_error(r, 422, "template_syntax_error")["message"])


async def test_bad_input_to_a_formatting_filter_is_a_422_not_a_500(api: Api) -> None:
    name = await _template(api, body="{{ amount|currency(code) }} {{ at|datetime }}")
    good = {"name": "Ada", "amount": 5, "code": "EUR", "at": "2026-11-30T10:00:00Z"}
    assert (await _preview(api, name, good)).status_code == 200
    for bad, what in (({"amount": "five"}, "expects a number"), ({"code": "XYZ"}, "ISO 4217"),
                      ({"at": "yesterday"}, "ISO 8601"), ({"amount": "1e999999999"}, "digits"),
                      ({"amount": [1, 2]}, "expects a number")):
        data = {**good, **bad}
        error = assert_error(await _preview(api, name, data), 422, "template_error")
        assert what in str(error["message"]), error
        user_id = await api.user()
        r = await api.http.post("/v1/notifications", json={"template": name, "user_id": user_id,
                                                           "channels": ["in_app"], "data": data}, headers=api.h)
        assert what in str(assert_error(r, 422, "template_error")["message"])


async def _broadcast_to(api: Api, name: str, user_ids: list[str], **extra: Any) -> dict[str, str]:
    """Sends a broadcast and waits for it; returns each recipient's delivered in-app body."""
    r = await api.http.post("/v1/broadcasts", json={"template": name, "data": {"name": "Ada"},
                                                    "channels": ["in_app"], "audience": {"user_ids": user_ids},
                                                    **extra}, headers=api.h)
    assert r.status_code == 202, r.text
    broadcast_id = r.json()["id"]

    async def finished() -> bool:
        b = (await api.http.get(f"/v1/broadcasts/{broadcast_id}", headers=api.h)).json()
        return bool(b["status"] == "sent" and b["counts"].get("delivered") == len(user_ids))
    await eventually(finished, timeout_s=60, what="the broadcast to be delivered")
    rows = await api.stack.pool.fetch(
        """SELECT n.user_id, n.locale, i.body FROM notification n JOIN inbox_item i ON i.notification_id = n.id
           WHERE n.broadcast_id = $1""", broadcast_id)
    return {r["user_id"]: f"{r['locale']}:{r['body']}" for r in rows}


async def test_a_broadcast_renders_each_recipient_in_their_own_locale(api: Api) -> None:
    name = await _template(api, body="Hello {{ user.name }} {{ 1234.5|number }}")
    await _put(api, name, "fr", "Bonjour {{ user.name }} {{ 1234.5|number }}")
    await _put(api, name, "de", "Hallo {{ user.name }} {{ 1234.5|number }}")
    french, german, other = await api.user(locale="fr-CA"), await api.user(locale="de-AT"), await api.user()
    got = await _broadcast_to(api, name, [french, german, other])
    assert got == {french: f"fr:Bonjour Ada 1{NBSP}234,5", german: "de:Hallo Ada 1.234,5",
                   other: "en:Hello Ada 1,234.5"}
    # The broadcast's own locale comes first, for everyone it reaches.
    got = await _broadcast_to(api, name, [french, other], locale="de")
    assert got == {french: "de:Hallo Ada 1.234,5", other: "de:Hallo Ada 1.234,5"}
    r = await api.http.post("/v1/broadcasts", json={"template": name, "channels": ["in_app"], "locale": "nope!",
                                                    "audience": {"user_ids": [other]}}, headers=api.h)
    assert_error(r, 422, "validation_error")


async def test_bulk_items_carry_their_own_locale(api: Api) -> None:
    name = await _template(api)
    await _put(api, name, "fr", "Bonjour {{ name }}")
    user_id = await api.user()
    items = [{"template": name, "user_id": user_id, "channels": ["in_app"], "data": {"name": "Ada"}, "locale": tag}
             for tag in ("fr-BE", "es")]
    items.append({**items[0], "locale": "not a tag"})
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
    assert r.status_code in (200, 207), r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "accepted", "invalid"]
    french = await _delivered_text(api, results[0]["notification"]["id"])
    spanish = await _delivered_text(api, results[1]["notification"]["id"])
    assert (french[0]["locale"], french[1]) == ("fr", "Bonjour Ada")
    assert (spanish[0]["locale"], spanish[1]) == ("en", "Hello Ada")


async def test_the_step_by_step_render_activity_uses_and_records_the_notifications_locale(api: Api) -> None:
    name = uid("tpl")
    r = await api.http.post("/v1/templates", json={"name": name, "body": "{{ n|currency('EUR') }}"}, headers=api.h)
    assert r.status_code == 201, r.text
    r = await api.http.put(f"/v1/templates/{name}/locales/de", json={"body": "Betrag {{ n|currency('EUR') }}"},
                           headers=api.h)
    assert r.json()["version"] == 2
    user_id = await api.user(locale="fr", timezone="Europe/Paris")
    # The render activity runs when a user's preferences hold something back; called here directly.
    # Scheduled far ahead, so that only this test's direct call renders it.
    n = await api.send(name, user_id=user_id, channels=["in_app"], locale="de-AT", data={"n": 5},
                       send_at="2027-06-01T00:00:00Z")
    activities = RenderActivities(api.stack.pool, "en")
    inp = RenderInput(notification_id=n["id"], template=name, template_version=2, data={"n": 5},
                      channels=["in_app"], user_id=user_id)
    rendered = await activities.render(inp)
    assert rendered.body == "Betrag €\xa05,00"  # the German text, in Austria's way of writing money
    assert await api.stack.pool.fetchval("SELECT locale FROM notification WHERE id = $1", n["id"]) == "de"
    # Version 1 has no translations: the template's own text, in the default locale.
    rendered = await activities.render(RenderInput(**{**inp.__dict__, "template_version": 1}))
    assert rendered.body == "€5.00"
    with pytest.raises(ApplicationError) as caught:
        await activities.render(RenderInput(**{**inp.__dict__, "data": {"n": "five"}}))
    assert caught.value.type == TEMPLATE_ERROR and caught.value.non_retryable
    assert "expects a number" in str(caught.value)
    await api.http.post(f"/v1/notifications/{n['id']}/cancel", headers=api.h)
