"""HTML email that renders everywhere: CSS written into style attributes, and a plain-text part made from the
HTML when a template gives none."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import css_inline

# Remote stylesheets are not fetched (a template must not make the worker call out); <style> blocks are kept
# too, for the clients that honour media queries.
_inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True)


def inline_css(html: str) -> str:
    """The HTML with the rules of its <style> blocks written into each element's style attribute. HTML without
    a <style> block is returned as it is (the inliner would wrap a fragment in <html><body>)."""
    if "<style" not in html.lower():
        return html
    return _inliner.inline(html)


_SKIPPED = frozenset({"head", "style", "script", "title", "template"})
_BLOCKS = frozenset({"p", "div", "table", "tr", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                     "pre", "section", "article", "header", "footer", "hr", "center", "dl", "dd", "dt"})
_SPACES = re.compile(r"[ \t\r\n\f]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    """Paragraphs and line breaks kept, list items bulleted, links followed by their address, the rest dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.links: list[str | None] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(alt)
        if tag in _BLOCKS:
            self.out.append("\n\n")
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.out.append(f" ({href})")
        if tag in _BLOCKS:
            self.out.append("\n\n")
        if tag == "pre":
            self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data if self.pre else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML message, for the text/plain part."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
