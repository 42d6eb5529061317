"""The template editor's locale switcher, in Chromium against the real stack: a template's translations listed,
the locales other templates have shown as missing, one written next to a side-by-side preview and saved."""

from __future__ import annotations

from playwright.async_api import expect

from tests.api.conftest import Api
from tests.web.conftest import Ui

_BODY = "Hello {{ name }}, {{ n | number }} points"


async def test_a_missing_locale_is_shown_written_beside_the_default_and_saved(ui: Ui, api: Api) -> None:
    page = ui.page
    name = await api.template(body=_BODY, subject="Hi {{ name }}")
    r = await api.http.put(f"/v1/templates/{name}/locales/fr", headers=api.h,
                           json={"subject": "Salut {{ name }}", "body": "Bonjour {{ name }}, {{ n | number }} points"})
    assert r.status_code == 200, r.text
    other = await api.template()
    r = await api.http.put(f"/v1/templates/{other}/locales/de-CH", headers=api.h, json={"body": "Grüezi"})
    assert r.status_code == 200, r.text

    await ui.login(ui.stack.admin_key)
    await page.goto(f"/ui/templates/{name}")
    switcher = page.get_by_role("navigation", name="Locales")
    await expect(switcher.get_by_role("link", name="fr", exact=True)).to_be_visible()
    await expect(switcher.get_by_role("link", name="de-CH (missing)")).to_be_visible()
    await expect(switcher.get_by_role("link", name="Default text")).to_have_attribute("aria-current", "page")

    await switcher.get_by_role("link", name="de-CH (missing)").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Template {name} in de-CH")
    await expect(page.get_by_role("note")).to_contain_text("de-CH has no translation yet")
    await page.get_by_label("Subject in de-CH").fill("Hoi {{ name }}")
    await page.get_by_label("Body in de-CH (Jinja2)").fill("Hallo {{ name }}, {{ n | number }} Punkte")
    await page.get_by_label("Sample data for the preview (JSON)").fill('{"name": "Ada", "n": 12345.5}')
    # Side by side: the default text formatted in en, the translation in de-CH.
    default_side = page.get_by_role("region", name="Preview in en")
    translated = page.get_by_role("region", name="Preview in de-CH")
    await expect(default_side.locator(".preview-body")).to_have_text("Hello Ada, 12,345.5 points")
    await expect(translated.locator(".preview-body")).to_have_text("Hallo Ada, 12'345.5 Punkte")
    await expect(translated.locator(".preview-subject")).to_have_text("Hoi Ada")
    await page.get_by_role("button", name="Save de-CH").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved de-CH as version 3")
    await expect(switcher.get_by_role("link", name="de-CH", exact=True)).to_have_attribute("aria-current", "page")
    await expect(switcher.get_by_role("link", name="de-CH (missing)")).to_have_count(0)
    await expect(page.get_by_label("Body in de-CH (Jinja2)")).to_have_value("Hallo {{ name }}, {{ n | number }} Punkte")
    r = await api.http.get(f"/v1/templates/{name}/locales", headers=api.h)
    assert [(i["locale"], i["subject"]) for i in r.json()["items"]] == [("de-CH", "Hoi {{ name }}"),
                                                                       ("fr", "Salut {{ name }}")]

    # A broken translation is flagged in the preview and refused at save; the saved one stays.
    await page.get_by_label("Body in de-CH (Jinja2)").fill("Hallo {{ name }")
    await expect(translated.get_by_role("alert")).to_contain_text("body")
    await page.get_by_role("button", name="Save de-CH").click()
    await expect(page.locator("#template-errors")).to_contain_text("body, line 1")
    r = await api.http.get(f"/v1/templates/{name}", headers=api.h)
    assert r.json()["version"] == 3
