"""HTML email that renders everywhere: CSS inlined, and a text part made from the HTML when none is given."""

from __future__ import annotations

from core import email_html
from tests.api.conftest import Api, uid

_STYLED = """<style>.cta { color: #ffffff; background: #0a66c2; } p { margin: 0 0 12px; }</style>
<p>Hello {{ name }},</p><p>Your order <b>#{{ order }}</b> has shipped.</p>
<ul><li>Socks</li><li>Hat</li></ul>
<a class="cta" href="https://shop.example/track/{{ order }}">Track it</a>"""


async def test_html_email_arrives_with_css_inlined_and_a_text_part(api: Api) -> None:
    layout, name = uid("layout"), uid("tpl")
    r = await api.http.post("/v1/layouts", headers=api.h, json={
        "name": layout, "html": "<html><head><style>.footer { font-size: 11px; }</style></head><body>"
                                "{{ content }}<div class=\"footer\">Shop Inc.</div></body></html>"})
    assert r.status_code == 201, r.text
    # No body: the text part is made from the html.
    r = await api.http.post("/v1/templates", headers=api.h,
                            json={"name": name, "subject": "Shipped", "html": _STYLED, "layout": layout})
    assert r.status_code == 201, r.text
    assert r.json()["body"] == ""
    address = f"{uid('ada')}@example.com"
    n = await api.send(name, user_id=await api.user(email=address), channels=["email"],
                       data={"name": "Ada", "order": "1042"})
    await api.until_status(n["id"], "delivered")
    [mail] = api.stack.smtp.to(address)
    assert mail.message.get_content_type() == "multipart/alternative"
    html = mail.message.get_body(preferencelist=("html",))
    plain = mail.message.get_body(preferencelist=("plain",))
    assert html is not None and plain is not None
    sent = html.get_content()
    assert 'class="cta" href="https://shop.example/track/1042" style="color: #ffffff;background: #0a66c2;"' in sent
    assert '<p style="margin: 0 0 12px;">Hello Ada,</p>' in sent
    assert '<div class="footer" style="font-size: 11px;">Shop Inc.</div>' in sent
    assert plain.get_content().replace("\r\n", "\n").strip() == (
        "Hello Ada,\n\nYour order #1042 has shipped.\n\n- Socks\n- Hat\n\n"
        "Track it (https://shop.example/track/1042)")


async def test_a_template_needs_a_body_or_an_html(api: Api) -> None:
    r = await api.http.post("/v1/templates", headers=api.h, json={"name": uid("tpl"), "subject": "x"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "body"


def test_the_text_part_keeps_paragraphs_lists_and_links() -> None:
    text = email_html.html_to_text(
        "<head><title>T</title><style>p{}</style></head><h1>Hi &amp; welcome</h1><p>Line one<br>line   two</p>"
        "<table><tr><td>a</td><td>b</td></tr></table><ol><li>x</li></ol><img alt=\"logo\">"
        "<a href=\"#top\">top</a><script>alert(1)</script>")
    assert text == "Hi & welcome\n\nLine one\nline two\n\na b\n\n- x\n\nlogotop"
    assert email_html.inline_css("<p>plain</p>") == "<p>plain</p>"
