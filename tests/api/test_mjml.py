"""MJML templates: compiled to table-based HTML with inlined styles, their Jinja kept, errors a 422 at save."""

from __future__ import annotations

import re

from core import mjml_html
from tests.api.conftest import Api, uid

_MJML = """<mjml>
  <mj-head><mj-style inline="inline">.note { color: #555555; }</mj-style></mj-head>
  <mj-body>
    <mj-section><mj-column>
      <mj-text css-class="note">Hello {{ name }}, {% if items > 1 %}{{ items }} items{% else %}one item{% endif %}
        have shipped.</mj-text>
      <mj-button href="https://shop.example/track/{{ order }}">Track it</mj-button>
    </mj-column></mj-section>
  </mj-body>
</mjml>"""


async def test_an_mjml_template_arrives_as_inlined_table_html_with_a_text_part(api: Api) -> None:
    name = uid("tpl")
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": name, "subject": "Shipped", "html": _MJML})
    assert r.status_code == 201, r.text
    assert r.json()["html_format"] == "mjml"
    assert r.json()["html"] == _MJML  # the source is what is kept and pulled
    address = f"{uid('ada')}@example.com"
    n = await api.send(name, user_id=await api.user(email=address), channels=["email"],
                       data={"name": "Ada <3", "items": 3, "order": "1042"})
    await api.until_status(n["id"], "delivered")
    [mail] = api.stack.smtp.to(address)
    assert mail.message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in mail.message.iter_parts()}
    sent, plain = parts["text/html"], parts["text/plain"]
    assert "<mj-" not in sent and "{{" not in sent and "{%" not in sent
    assert '<table border="0" cellpadding="0" cellspacing="0" role="presentation"' in sent
    assert re.search(r'<td class="note" style="[^"]*color: #555555;', sent)  # mj-style inline="inline"
    assert "Hello Ada &lt;3, 3 items" in sent  # the data escaped once, the Jinja if taken
    assert 'href="https://shop.example/track/1042"' in sent
    text = " ".join(plain.split())
    assert "Hello Ada <3, 3 items have shipped." in text
    assert "Track it (https://shop.example/track/1042)" in text


async def test_invalid_mjml_is_a_422_naming_the_field(api: Api) -> None:
    bad = "<mjml><mj-body><mj-sektion><mj-text>x</mj-text></mj-sektion></mj-body></mjml>"
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": uid("tpl"), "html": bad})
    assert r.status_code == 422, r.text
    [detail] = r.json()["error"]["details"]
    assert detail["field"] == "html" and "mj-sektion" in detail["message"]
    name = uid("tpl")
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": name, "body": "Hi"})
    assert r.status_code == 201, r.text
    no_body, reads_a_file = "<mjml><mj-head></mj-head></mjml>", \
        '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>'
    for html in (no_body, reads_a_file):
        r = await api.http.put(f"/v1/templates/{name}/locales/fr", headers=api.h, json={"body": "Salut", "html": html})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "html"
    r = await api.http.get(f"/v1/templates/{name}/locales", headers=api.h)
    assert r.json()["items"] == []


def test_jinja_survives_compilation_as_written() -> None:
    source = '<mjml><mj-body><mj-section><mj-column><mj-text>{% if a > b and c < d %}"{{ x|e }}" &amp; {# note #}' \
             '{% endif %}</mj-text><mj-image src="{{ logo }}" /></mj-column></mj-section></mj-body></mjml>'
    html = mjml_html.compile_mjml(source)
    assert '{% if a > b and c < d %}"{{ x|e }}" &amp; {# note #}{% endif %}' in html
    assert 'src="{{ logo }}"' in html
    assert mjml_html.is_mjml("<!-- brand -->\n <mjml>") and not mjml_html.is_mjml("<p><mjml></p>")
