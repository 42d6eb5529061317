"""What a layout, an include and locale formatting add to a render: `python -m bench.render_cost [--quick]`.

Renders one notification's message, in the worker's render function (`core.templating.render`), two ways in
the same process:
  plain     a subject and a body with three plain values
  formatted the plain template's text with the three values formatted in the recipient's locale and time zone
            (a number, an amount of money, a date and time)
  composed  the formatted text with one include, in a layout: the case the target (at most 0.5 ms more than
            plain) is set for
  with_html the composed message plus an html part (the same values, the include's html, a <style> block to
            inline) in the layout's html: what an HTML email costs on top
Rounds alternate the two in a new random order each time; the fastest round of each is reported (on a shared
machine the other rounds measure the neighbours), with the median beside it. The pinned versions' read from
PostgreSQL (one query for the layout, one for the includes) is not in these numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from core import templating

DATA = {"name": "Ada", "amount": "1234.5", "count": 1234567, "at": "2026-11-30T23:30:00Z"}
PLAIN = ("Order for {{ name }}", "Hello {{ name }}, {{ count }} items, {{ amount }} EUR, at {{ at }}.", None)
COMPOSED = ("Order for {{ name }}",
            'Hello {{ name }}, {{ count|number }} items, {{ amount|currency("EUR") }}, at {{ at|datetime }}.\n'
            '{% include "footer" %}',
            '<style>p { margin: 0 0 12px; } .total { font-weight: bold; }</style><p>Hello {{ name }}</p>'
            '<p class="total">{{ amount|currency("EUR") }}</p>{% include "footer" %}')
FORMATTED = ("Order for {{ name }}", 'Hello {{ name }}, {{ count|number }} items, {{ amount|currency("EUR") }}, '
             "at {{ at|datetime }}.", None)
PARTS = templating.Parts(
    layout_html="<html><head><style>body { font-family: sans-serif; }</style></head><body>{{ content }}"
                "<div>Shop Inc.</div></body></html>",
    layout_text="{{ content }}\n-- \nShop Inc.",
    includes={"footer": templating.Texts(None, "Thanks, {{ name }}.", "<p>Thanks, {{ name }}.</p>")})


def _round(render: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        render()
    return (time.perf_counter() - started) / n * 1e6


def measure(n: int, rounds: int) -> dict[str, dict[str, float]]:
    cases: dict[str, Callable[[], object]] = {
        "plain": lambda: templating.render(*PLAIN[:2], DATA, PLAIN[2]),
        "formatted": lambda: templating.render(*FORMATTED[:2], DATA, FORMATTED[2], locale="fr-FR",
                                               timezone="Europe/Paris"),
        "composed": lambda: templating.render(*COMPOSED[:2], DATA, None, locale="fr-FR",
                                              timezone="Europe/Paris", parts=PARTS),
        "with_html": lambda: templating.render(*COMPOSED[:2], DATA, COMPOSED[2], locale="fr-FR",
                                               timezone="Europe/Paris", parts=PARTS),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for render in cases.values():
        render()  # compiled and cached, as in a worker that has rendered the template before
    for _ in range(rounds):
        for name in random.sample(list(cases), len(cases)):
            times[name].append(_round(cases[name], n))
    return {name: {"best_us": min(t), "median_us": statistics.median(t)} for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer renders: a few seconds")
    args = parser.parse_args()
    result = measure(200 if args.quick else 2000, 5 if args.quick else 15)
    result["added"] = {k: result["composed"][k] - result["plain"][k] for k in ("best_us", "median_us")}
    result["added_by_layout_and_include"] = {k: result["composed"][k] - result["formatted"][k]
                                             for k in ("best_us", "median_us")}
    print(json.dumps({k: {m: round(v, 1) for m, v in r.items()} for k, r in result.items()}, indent=2))


if __name__ == "__main__":
    main()
