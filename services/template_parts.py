"""What a template brings in besides its own texts: its layout and the templates it includes. Saving checks that
they exist and that includes form no cycle; accepting a notification pins their versions; rendering loads the
pinned versions, so a later edit does not change an accepted notification."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core import templating
from core.errors import invalid
from store import layouts, templates
from store.layouts import LayoutRecord
from store.templates import RenderPins, TemplateRecord

if TYPE_CHECKING:
    from store.db import Executor


def included_names(sources: Mapping[str, str | None]) -> dict[str, list[str]]:
    """The templates each text (by field) includes; 422 naming the field of an include by expression. Runs in a
    render thread (parsing a large text takes a while)."""
    found: dict[str, list[str]] = {}
    for name, source in sources.items():
        if source:
            try:
                found[name] = templating.included_names(source, name)
            except templating.TemplateError as exc:
                raise invalid(exc.field, exc.message, code="template_syntax_error") from exc
    return found


async def check_includes(db: Executor, name: str | None, includes: Mapping[str, list[str]]) -> tuple[str, ...]:
    """Every template the texts include, sorted; 422 naming the field that includes a template that does not
    exist, or one that leads back to `name` (the template being saved; None for a layout)."""
    wanted = sorted({n for names in includes.values() for n in names})
    field_of = {n: f for f, names in includes.items() for n in names}
    if name is not None and name in field_of:
        raise invalid(field_of[name], f"template '{name}' includes itself", code="include_cycle")
    found = {row.name: row for row in await templates.latest_of(db, wanted)}
    for missing in (n for n in wanted if n not in found):
        raise invalid(field_of[missing], f"included template '{missing}' does not exist", code="unknown_include")
    if name is not None:
        # Does anything the texts include lead back here? Walk the latest versions' includes.
        origin = {n: n for n in wanted}
        frontier = list(found.values())
        seen = set(wanted)
        while frontier:
            nxt = sorted({i for row in frontier for i in row.includes if i not in seen})
            for row in frontier:
                if name in row.includes:
                    raise invalid(field_of[origin[row.name]], f"including '{origin[row.name]}' makes a cycle: it "
                                  f"leads back to '{name}'", code="include_cycle")
                for i in row.includes:
                    origin.setdefault(i, origin[row.name])
            seen.update(nxt)
            frontier = await templates.latest_of(db, nxt) if nxt else []
    return tuple(wanted)


async def check_layout(db: Executor, layout: str | None) -> None:
    if layout is not None and await layouts.get(db, layout) is None:
        raise invalid("layout", f"layout '{layout}' does not exist", code="unknown_layout")


@dataclass(frozen=True)
class Composition:
    """A template version's layout and includes, at the versions a notification renders with."""

    layout: LayoutRecord | None
    includes: dict[str, TemplateRecord] = field(default_factory=dict)

    def pins(self) -> RenderPins:
        """What the notification stores to render with these versions later."""
        return RenderPins(layout=(self.layout.name, self.layout.version) if self.layout else None,
                          includes={name: row.version for name, row in self.includes.items()})

    def parts(self, locale: str) -> templating.Parts:
        """For a render in `locale` (the tag of the translation chosen): each include's translation into it, else
        its own text."""
        texts = {}
        for name, row in self.includes.items():
            own = (row.locales or {}).get(locale)
            texts[name] = templating.Texts(own.get("subject"), own["body"], own.get("html")) if own \
                else templating.Texts(row.subject, row.body, row.html)
        return templating.Parts(layout_html=self.layout.html if self.layout else None,
                                layout_text=self.layout.text if self.layout else None, includes=texts)


def parts_for(composition: Composition | None, locale: str) -> templating.Parts:
    return composition.parts(locale) if composition is not None else templating.NO_PARTS


async def latest(db: Executor, template: TemplateRecord) -> Composition | None:
    """The latest versions of the template's layout and of everything it includes, directly or not (what
    accepting pins); None for a template with neither. 422 on `template` when one of them is gone."""
    return await latest_for(db, template.name, template.layout, template.includes)


async def latest_for(db: Executor, name: str, layout_name: str | None,
                     includes: list[str]) -> Composition | None:
    """`latest` for texts not stored yet (the dashboard editor's)."""
    if layout_name is None and not includes:
        return None
    layout = await layouts.get(db, layout_name, include_deleted=True) if layout_name is not None else None
    found: dict[str, TemplateRecord] = {}
    asked: set[str] = set()
    wanted = set(includes) | set(layout.includes if layout else ())
    while wanted:
        asked |= wanted
        rows = await templates.latest_of(db, sorted(wanted))
        found.update((row.name, row) for row in rows)
        wanted = {i for row in rows for i in row.includes} - asked
    return compose(name, layout_name, includes, {layout.name: layout} if layout else {}, found)


def compose(name: str, layout_name: str | None, includes: list[str], layouts_found: Mapping[str, LayoutRecord],
            parts: Mapping[str, TemplateRecord]) -> Composition | None:
    """The composition of a template `name` from the layouts and the latest templates read for it; None for a
    template with neither a layout nor includes. 422 on `template` when one of them is gone."""
    if layout_name is None and not includes:
        return None
    layout = None
    if layout_name is not None:
        layout = layouts_found.get(layout_name)
        if layout is None:
            raise invalid("template", f"template '{name}' uses layout '{layout_name}', which does not exist",
                          code="unknown_layout")
    included: dict[str, TemplateRecord] = {}
    wanted = set(includes) | set(layout.includes if layout else ())
    while wanted:
        for gone in sorted(wanted - parts.keys()):
            raise invalid("template", f"template '{name}' includes template '{gone}', which does not exist",
                          code="unknown_include")
        rows = [parts[n] for n in sorted(wanted)]
        included.update((row.name, row) for row in rows)
        wanted = {i for row in rows for i in row.includes} - set(included)
    return Composition(layout=layout, includes=included)


async def pinned(db: Executor, template: TemplateRecord, pins: RenderPins | None) -> Composition | None:
    """The versions a notification pinned at accept; the latest ones for a notification that pinned none (one
    accepted before its template used a layout or includes, or made by a broadcast)."""
    if pins is None:
        return await latest(db, template)
    layout = await layouts.get(db, *pins.layout, include_deleted=True) if pins.layout else None
    included = {row.name: row for row in await templates.pinned(db, pins.includes)} if pins.includes else {}
    return Composition(layout=layout, includes=included)
