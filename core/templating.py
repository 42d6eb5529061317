"""Jinja2 rendering in a sandbox where an undefined variable is an error, shared by the API and the worker."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2 import (
    Environment,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment, SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum, pass_context, pass_environment, pass_eval_context
from markupsafe import Markup

from core import email_html, formatting, mjml_html
from core.recipients import Recipient

# Limits on one render, so a template cannot hang a worker or fill its memory. The sandbox bounds the work itself:
# a render runs in a thread (core.templating.render_async) and a thread cannot be stopped from outside, so every
# operation that can make a value much larger than its inputs is checked before it runs, and every loop
# iteration and call counts against the render's budget and deadline.
RENDER_SECONDS = 1.0
MAX_OUTPUT_CHARS = 512 * 1024
MAX_VALUE_CHARS = MAX_OUTPUT_CHARS  # any single value a template builds (a string, or a list's items together)
MAX_INT_BITS = 16_384  # about 4,900 decimal digits: more than any message needs
MAX_STEPS = 250_000  # loop iterations plus calls in one render
# All the values the checked operations build in one render, together: each is bounded, but a filter applied to
# every item of a long sequence (`map`) would otherwise build many.
MAX_BUILT_CHARS = 64 * 1024 * 1024
MAX_STRIPTAGS_CHARS = 100_000  # striptags rescans its input per tag: bounded input keeps it fast
MAX_LIPSUM_PARAGRAPHS = 20
# Includes loaded in one render: nesting is bounded by this too, so a cycle (which saving refuses) still ends.
MAX_INCLUDES = 50
_STEP_CHECK = 256
# A render whose texts are this small runs on the caller's event loop first, with INLINE_SECONDS to finish: handing
# it to a render thread costs a worker more than the render itself (about 1 ms of CPU per notification, make bench
# A/B, 2026-12-02). One that takes longer, or makes larger html than INLINE_MAX_HTML_CHARS to inline CSS into, is
# dropped and rendered again in a render thread, with the whole deadline: the loop waits INLINE_SECONDS at most.
INLINE_MAX_CHARS = 4096
INLINE_MAX_HTML_CHARS = 64 * 1024
INLINE_SECONDS = 0.005
T = TypeVar("T")


class RenderLimitError(Exception):
    pass


class _TooSlowInline(Exception):
    """The render on the event loop ran out of its INLINE_SECONDS: it goes to a render thread instead."""


@dataclass
class _Budget:
    deadline: float = float("inf")
    steps: int = 0
    built: int = 0
    includes: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("herald_render_budget", default=None)
# When the render running on the event loop must have ended (infinite in a render thread).
_inline_deadline: ContextVar[float] = ContextVar("herald_render_inline_deadline", default=float("inf"))
# The sources `{% include "name" %}` finds in the text being rendered, by template name: the included templates'
# pinned versions, in the same part (subject, body or html) and locale.
_included: ContextVar[Mapping[str, str] | None] = ContextVar("herald_render_includes", default=None)


def _check_deadline() -> None:
    now = time.monotonic()
    budget = _budget.get()
    if budget is not None and now > budget.deadline:
        raise RenderLimitError(f"rendering took longer than {RENDER_SECONDS:g} s")
    if now > _inline_deadline.get():
        raise _TooSlowInline()


def _step() -> None:
    """One loop iteration or call: counted, and the deadline checked every few hundred."""
    budget = _budget.get()
    if budget is None:
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        raise RenderLimitError(f"the template ran more than {MAX_STEPS} loop iterations and calls")
    if budget.steps % _STEP_CHECK == 0:
        _check_deadline()


def _counted(iterable: Any) -> Iterator[Any]:
    for value in iterable:
        _step()
        yield value


def _size(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """About how many characters `value` takes as text, counted up to just past `limit` (a list holding one long
    string many times counts it each time, as printing or joining it would)."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 24
    return total


def _refuse_larger(size: int, what: str) -> None:
    """Refuses an operation whose result would be larger than a value may be, and charges the render for it."""
    if size > MAX_VALUE_CHARS:
        raise RenderLimitError(f"{what} would exceed {MAX_VALUE_CHARS} characters")
    budget = _budget.get()
    if budget is not None:
        budget.built += size
        if budget.built > MAX_BUILT_CHARS:
            raise RenderLimitError(f"the template built more than {MAX_BUILT_CHARS} characters of values")


def _bounded_range(*args: int) -> Iterator[int]:
    """`range` for templates: the sandbox's size cap, plus the render deadline checked as the loop runs."""
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise RenderLimitError(f"range of {len(values)} items is larger than {MAX_RANGE}")
    for i, value in enumerate(values):
        if i % 256 == 0:
            _check_deadline()
        yield value


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_WIDTH = re.compile(r"(\d+)")


def _percent_format_size(template: str, args: Any) -> int:
    """About how long `template % args` is: its text, each spec's width or precision, and the arguments."""
    size = len(template) + _size(args)
    for match in _PERCENT_SPEC.finditer(template):
        for number in match.groups():
            if number == "*":
                raise RenderLimitError("a '*' width in a format takes its size from the data: not allowed")
            if number:
                size += int(number) if len(number) < 8 else MAX_VALUE_CHARS + 1
    return size


def _brace_format_size(template: str, args: Any, kwargs: Any) -> int:
    """About how long `template.format(*args, **kwargs)` is; a field repeated counts the largest argument each time."""
    largest = max((_size(v) for v in (*args, *kwargs.values())), default=0)
    size = 0
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return len(template)  # str.format refuses it the same way
    for literal, field, spec, _ in fields:
        size += len(literal)
        if field is None:
            continue
        if spec and "{" in spec:
            raise RenderLimitError("a format spec taken from the data is not allowed")
        size += largest + sum(int(n) if len(n) < 8 else MAX_VALUE_CHARS + 1
                              for n in _FORMAT_WIDTH.findall(spec or ""))
    return size


# Methods of str (and bytes) whose result can be much longer than the string: checked before they run.
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def _check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    name = getattr(obj, "__name__", "")
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, str | bytes):
        if name in _WIDTH_METHODS:
            width = args[0] if args else kwargs.get("width", 0)
            if isinstance(width, int):
                _refuse_larger(width, f"'{name}'")
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(tabsize, int):
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                _refuse_larger(len(owner) + tabs * tabsize, "'expandtabs'")
        elif name == "replace" and len(args) >= 2:
            _refuse_larger(_replace_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1), "'replace'")
        elif name == "join" and args:
            parts = list(args[0]) if not isinstance(args[0], list | tuple) else args[0]
            _refuse_larger(_size(parts) + len(owner) * len(parts), "'join'")
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((_size(v) for v in args[0].values()), default=1)
            _refuse_larger(len(owner) * max(longest, 1), "'translate'")
    elif isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int):
            _refuse_larger(length, "'to_bytes'")
    elif name == "fromkeys" and args:
        keys = list(args[0]) if not isinstance(args[0], list | tuple) else args[0]
        fill = args[1] if len(args) > 1 else None
        _refuse_larger(len(keys) * (_size(fill) + 4) + _size(keys), "'fromkeys'")


def _replace_size(text: Any, old: Any, new: Any, count: Any) -> int:
    if not isinstance(text, str | bytes) or not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return 0
    found = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


# Filters whose output can be much longer than their input, replaced by checked versions.
def _center(value: Any, width: int = 80) -> str:
    _refuse_larger(width, "'center'")
    return str(value).center(width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    prefix = width if isinstance(width, str) else " " * min(width, MAX_VALUE_CHARS + 1)
    _refuse_larger(len(text) + (text.count("\n") + 1) * len(prefix), "'indent'")
    return _default_filters["indent"](text, width, first, blank)  # type: ignore[no-any-return]


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    _refuse_larger(_percent_format_size(str(value), kwargs or args), "'format'")
    return _default_filters["format"](value, *args, **kwargs)  # type: ignore[no-any-return]


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: str, new: str, count: int | None = None) -> str:
    _refuse_larger(_replace_size(str(s), str(old), str(new), count if count is not None else -1), "'replace'")
    return _default_filters["replace"](eval_ctx, s, old, new, count)  # type: ignore[no-any-return]


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    _refuse_larger(_size(items) + len(str(d)) * len(items), "'join'")
    return _default_filters["join"](eval_ctx, items, d, attribute)  # type: ignore[no-any-return]


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    if fill_with is not None:
        _refuse_larger(linecount * (_size(fill_with) + 2), "'batch'")
    return _default_filters["batch"](value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    if slices > MAX_RANGE:
        raise RenderLimitError(f"'slice' into more than {MAX_RANGE} parts")
    return _default_filters["slice"](value, slices, fill_with)


@pass_environment
def _wordwrap(environment: Environment, s: Any, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    text = str(s)
    wrap = wrapstring if wrapstring is not None else environment.newline_sequence
    _refuse_larger(len(text) + (len(text) // max(width, 1) + 1) * len(wrap), "'wordwrap'")
    return _default_filters["wordwrap"](environment, s, width, break_long_words, wrapstring,  # type: ignore[no-any-return]
                                        break_on_hyphens)


@pass_eval_context
def _tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Any:
    if indent is not None:
        _refuse_larger(_size(value) * (indent + 1), "'tojson'")
    return _default_filters["tojson"](eval_ctx, value, indent)


def _striptags(value: Any) -> str:
    if len(str(value)) > MAX_STRIPTAGS_CHARS:
        raise RenderLimitError(f"'striptags' on more than {MAX_STRIPTAGS_CHARS} characters")
    return _default_filters["striptags"](value)  # type: ignore[no-any-return]


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n > MAX_LIPSUM_PARAGRAPHS or max > 1000:
        raise RenderLimitError(f"'lipsum' of more than {MAX_LIPSUM_PARAGRAPHS} paragraphs or 1000 words each")
    return str(generate_lorem_ipsum(n, html, min, max))


_default_filters: dict[str, Any] = dict(DEFAULT_FILTERS)
_BOUNDED_FILTERS: dict[str, Any] = {
    "center": _center, "indent": _indent, "format": _format, "replace": _replace, "join": _join,
    "batch": _batch, "slice": _slice, "wordwrap": _wordwrap, "tojson": _tojson, "striptags": _striptags,
}
_LOOP_GUARD = "herald_counted"


def _localized(function: Callable[..., str]) -> Callable[..., str]:
    """A formatting filter that counts as a step and whose output is charged to the render, like every call: a
    `map` of it over a long list spends the budget too."""

    # pass_context keeps Jinja from running the filter once at compile time on a constant (`{{ 5|number }}`)
    # and caching that text: the locale is the render's, known only when it runs.
    @pass_context
    @functools.wraps(function)
    def bounded(_context: Context, *args: Any, **kwargs: Any) -> str:
        _step()
        result = function(*args, **kwargs)
        _refuse_larger(len(result), f"'{function.__name__}'")
        return result

    return bounded


_LOCALE_FILTERS: dict[str, Any] = {name: _localized(f) for name, f in formatting.FILTERS.items()}


def _finalize(value: Any) -> Any:
    """Every `{{ ... }}` value before it becomes text: a huge list or dict is refused before it is printed."""
    _refuse_larger(_size(value), "a printed value")
    return value


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `~` joins without a hook of its own: route it through one that checks the size first.
        self.write("environment.herald_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), context.eval_ctx.autoescape)")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The Jinja2 sandbox (no attribute walks to Python internals, no changing lists and dicts in place), with
    every operation that can blow up a value checked before it runs, and loops and calls counted."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Every loop iterates through a counting filter, so loops that print nothing still spend the budget.
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None, lineno=loop.iter.lineno)
        tree.set_environment(self)
        return tree

    def _load_template(self, name: str, globals: MutableMapping[str, Any] | None) -> Template:
        # Includes come from the render's own pinned sources, never from a file system or the database.
        sources = _included.get()
        if sources is None or name not in sources:
            raise TemplateNotFound(name)
        budget = _budget.get()
        if budget is not None:
            budget.includes += 1
            if budget.includes > MAX_INCLUDES:
                raise RenderLimitError(f"the template included more than {MAX_INCLUDES} templates")
        return _cache.get(sources[name], bool(self.autoescape))

    def herald_concat(self, parts: tuple[Any, ...], autoescape: bool) -> str:
        _refuse_larger(sum(_size(p) for p in parts), "a '~' concatenation")
        return markup_join(parts) if autoescape else str_join(parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _step()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's `loop(children)`: counted too
            args = (_counted(args[0]), *args[1:])
        _check_method(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if value.__name__ == "format_map" and args else kwargs
            positional = () if value.__name__ == "format_map" else args
            _refuse_larger(_brace_format_size(template, positional, mapping), "'format'")
            return wrapped(*args, **kwargs)

        return checked


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1 \
                and (abs(left).bit_length() - 1) * right > MAX_INT_BITS:
            raise RenderLimitError(f"exponent too large: the result would exceed {MAX_INT_BITS} bits")
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise RenderLimitError(f"a product would exceed {MAX_INT_BITS} bits")
        elif isinstance(left, str | bytes | list | tuple) and _is_int(right):
            _refuse_larger(_size(left) * right, "a repeated value")
        elif isinstance(right, str | bytes | list | tuple) and _is_int(left):
            _refuse_larger(_size(right) * left, "a repeated value")
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            _refuse_larger(_size(left) + _size(right), "a concatenation")
    elif operator == "%" and isinstance(left, str | bytes):
        _refuse_larger(_percent_format_size(str(left), right), "a '%' format")


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True,
                   finalize=_finalize)
    env.globals["range"] = _bounded_range
    env.globals["lipsum"] = _lipsum
    env.filters.update(_BOUNDED_FILTERS)
    env.filters.update(_LOCALE_FILTERS)
    env.globals["plural"] = _LOCALE_FILTERS["plural"]
    env.filters[_LOOP_GUARD] = _counted
    return env


_env = _environment(autoescape=False)
# HTML bodies escape what the data brings: a user's name cannot inject markup into an email.
_html_env = _environment(autoescape=True)
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


class TemplateError(Exception):
    """A template that cannot render with the data given: permanent, retrying cannot help."""

    def __init__(self, message: str, *, field: str, line: int | None = None, variable: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line
        self.variable = variable


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str | None = None


@dataclass(frozen=True)
class Texts:
    """A template's texts in one locale."""

    subject: str | None
    body: str
    html: str | None


@dataclass(frozen=True)
class Parts:
    """What a render brings in besides the template's own texts: the layout its html and text go into (each
    holding `{{ content }}`), and the texts of the templates it includes, by name."""

    layout_html: str | None = None
    layout_text: str | None = None
    includes: Mapping[str, Texts] = dataclasses.field(default_factory=dict)

    def sources(self, part: str) -> dict[str, str]:
        """What an include finds in `part`: the included template's same part, else its body."""
        return {name: getattr(texts, part) or texts.body for name, texts in self.includes.items()}


NO_PARTS = Parts()


def check_syntax(source: str, field: str) -> None:
    try:
        # Compiled, not only parsed: a filter name nobody defines (`{{ x|currencyy }}`) is found when compiling.
        _env.compile(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"template {field} has a syntax error on line {exc.lineno}: {exc.message}",
            field=field, line=exc.lineno,
        ) from exc


def check_mjml(source: str, field: str) -> None:
    """TemplateError when the source is MJML that cannot be compiled. Compiling it fills the cache, so the first
    render after a save costs no more than the next."""
    if not mjml_html.is_mjml(source):
        return
    try:
        _cache.get(source, html=True)
    except mjml_html.MjmlError as exc:
        raise TemplateError(f"template {field} is MJML that cannot be compiled: {exc}", field=field) from exc


def included_names(source: str, field: str) -> list[str]:
    """The templates a source includes (`{% include "name" %}`); TemplateError when a name is not a literal, since
    only literal names can be checked at save and pinned at accept."""
    try:
        names = list(meta.find_referenced_templates(_env.parse(source)))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template {field} has a syntax error on line {exc.lineno}: {exc.message}",
                            field=field, line=exc.lineno) from exc
    if None in names:
        raise TemplateError(f"template {field} includes a template named by an expression: name it in quotes, "
                            'as in {% include "footer" %}', field=field)
    return sorted({name for name in names if name is not None})


def uses_variable(source: str, name: str) -> bool:
    return name in meta.find_undeclared_variables(_env.parse(source))


def variables(*sources: str | None) -> list[str]:
    """The top-level variables the template sources use, for the dashboard and API clients."""
    names: set[str] = set()
    for source in sources:
        if source:
            names |= meta.find_undeclared_variables(_env.parse(source))
    return sorted(names)


def _render_bounded(template: Template, context: dict[str, Any]) -> str:
    """Renders in chunks, stopping at the output cap, the step budget or the deadline (checked between chunks,
    in loops and in calls)."""
    token = _budget.set(_Budget(deadline=time.monotonic() + RENDER_SECONDS))
    try:
        size, parts = 0, []
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimitError(f"the output is larger than {MAX_OUTPUT_CHARS} characters")
            _check_deadline()
            parts.append(chunk)
        return "".join(parts)
    finally:
        _budget.reset(token)


# Compiled templates, kept by the size of their sources (a compiled template is a few times its source): a
# count alone would let a thousand 200 KB templates hold gigabytes.
MAX_CACHE_CHARS = 8 * 1024 * 1024


class _TemplateCache:
    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self._entries: OrderedDict[tuple[str, bool], Template] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()  # renders run in several threads

    def get(self, source: str, html: bool) -> Template:
        key = (source, html)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        # Compiling costs more than rendering; a template version never changes, so its source is a safe key.
        # MJML is compiled here too, so a worker compiles a version's MJML once, not once per message.
        compiled = (_html_env if html else _env).from_string(_html_of(source) if html else source)
        if len(source) > self.max_chars:
            return compiled
        with self._lock:
            if key not in self._entries:
                self._entries[key] = compiled
                self._chars += len(source)
            while self._chars > self.max_chars:
                (old_source, _), _ = self._entries.popitem(last=False)
                self._chars -= len(old_source)
        return compiled

    def usage(self) -> tuple[int, int]:
        """(templates, source characters) held."""
        with self._lock:
            return len(self._entries), self._chars


_cache = _TemplateCache(MAX_CACHE_CHARS)


def _html_of(source: str) -> str:
    return mjml_html.compile_mjml(source) if mjml_html.is_mjml(source) else source


def _render_one(source: str, context: dict[str, Any], field: str, includes: Mapping[str, str] | None = None) -> str:
    token = _included.set(includes)
    try:
        return _render_bounded(_cache.get(source, field.endswith("html")), context)
    except _TooSlowInline:
        raise
    except TemplateNotFound as exc:
        raise TemplateError(f"template {field} includes template '{exc.name}', which is not there",
                            field=field) from exc
    except RenderLimitError as exc:
        raise TemplateError(f"template {field} exceeded a limit: {exc}", field=field) from exc
    except mjml_html.MjmlError as exc:
        raise TemplateError(f"template {field} is MJML that cannot be compiled: {exc}", field=field) from exc
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template {field} has a syntax error on line {exc.lineno}: {exc.message}",
                            field=field, line=exc.lineno) from exc
    except UndefinedError as exc:
        match = _UNDEFINED_NAME.search(str(exc))
        variable = match.group(1) if match else None
        message = f"template {field} uses variable '{variable}', which the data does not provide" \
            if variable else f"template {field} failed: {exc}"
        raise TemplateError(message, field=field, variable=variable) from exc
    except SecurityError as exc:
        raise TemplateError(f"template {field} did something the sandbox forbids: {exc}", field=field) from exc
    except formatting.FilterInputError as exc:
        raise TemplateError(f"template {field} failed: {exc}", field=field) from exc
    except Exception as exc:  # a filter raising on odd data is the template's problem, not a crash
        raise TemplateError(f"template {field} failed to render: {type(exc).__name__}: {exc}",
                            field=field) from exc
    finally:
        _included.reset(token)


def render(subject: str | None, body: str, context: dict[str, Any], html: str | None = None, *,
           locale: str | None = None, timezone: str | None = None, parts: Parts = NO_PARTS) -> Rendered:
    """The message, in its layout when `parts` has one, its html with CSS inlined, and its text made from the
    html when the template gives none (an empty body); the formatting filters write for `locale` (English when
    None) in `timezone` (UTC when None)."""
    with formatting.formatting_in(locale, timezone):
        rendered = _render_all(subject, body, context, html, parts)
        _check_inline_html(rendered.html)  # turning it into text takes a while
        if not body and rendered.html is not None:
            rendered = Rendered(rendered.subject, email_html.html_to_text(rendered.html), rendered.html)
        laid_out = _in_layout(rendered, context, parts)
        _check_inline_html(laid_out.html)  # so does inlining its CSS
        return _finished(laid_out)


def _check_inline_html(html: str | None) -> None:
    if html is not None and len(html) > INLINE_MAX_HTML_CHARS and _inline_deadline.get() != float("inf"):
        raise _TooSlowInline()


def _finished(rendered: Rendered) -> Rendered:
    if rendered.html is None:
        return rendered
    try:
        html = email_html.inline_css(rendered.html)
    except ValueError as exc:  # css_inline's InlineError: a style block it cannot parse
        raise TemplateError(f"template html has CSS that cannot be inlined: {exc}", field="html") from exc
    return Rendered(rendered.subject, rendered.body, html)


def _in_layout(rendered: Rendered, context: dict[str, Any], parts: Parts) -> Rendered:
    body, html = rendered.body, rendered.html
    if parts.layout_text is not None:
        body = _render_one(parts.layout_text, {**context, "content": body}, "layout.text", parts.sources("body"))
    if parts.layout_html is not None and html is not None:
        # The template's html is already escaped where it took data: the layout places it as it is.
        html = _render_one(parts.layout_html, {**context, "content": Markup(html)}, "layout.html",
                           parts.sources("html"))
    return Rendered(subject=rendered.subject, body=body, html=html)


def _render_all(subject: str | None, body: str, context: dict[str, Any], html: str | None,
                parts: Parts) -> Rendered:
    rendered_subject = _render_one(subject, context, "subject", parts.sources("subject")) if subject else ""
    if "\r" in rendered_subject or "\n" in rendered_subject:
        # An email subject is a header: a line break in it would start headers of the data's choosing (Bcc: ...).
        raise TemplateError("template subject rendered to more than one line; a subject is one line, without "
                            "CR or LF characters (check the data it includes)", field="subject")
    return Rendered(
        subject=rendered_subject,
        body=_render_one(body, context, "body", parts.sources("body")) if body else "",
        html=_render_one(html, context, "html", parts.sources("html")) if html else None,
    )


# Renders run here, off the event loop: a slow render (up to its deadline) delays no other request.
_render_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="herald-render")


async def in_render_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a render thread: parsing a large template takes a while too."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_render_threads, functools.partial(function, *args))


async def render_async(subject: str | None, body: str, context: dict[str, Any], html: str | None = None, *,
                       locale: str | None = None, timezone: str | None = None, parts: Parts = NO_PARTS) -> Rendered:
    """`render` for code running on an event loop (the API, the worker's activities): a small one on the loop
    itself while it takes under INLINE_SECONDS, any other in a render thread."""
    render_it = functools.partial(render, locale=locale, timezone=timezone, parts=parts)
    if _inline_size(subject, body, html, parts):
        token = _inline_deadline.set(time.monotonic() + INLINE_SECONDS)
        try:
            return render_it(subject, body, context, html)
        except _TooSlowInline:
            pass
        finally:
            _inline_deadline.reset(token)
    return await in_render_thread(render_it, subject, body, context, html)


def _inline_size(subject: str | None, body: str, html: str | None, parts: Parts) -> bool:
    """Texts small enough to compile and render on the event loop: MJML, whose compiling takes a while, is not."""
    texts = [subject, body, html, parts.layout_html, parts.layout_text]
    texts += [text for included in parts.includes.values() for text in (included.subject, included.body,
                                                                        included.html)]
    if any(text and mjml_html.is_mjml(text) for text in (html, parts.layout_html)):
        return False
    return sum(len(text) for text in texts if text) <= INLINE_MAX_CHARS


def context_for(data: dict[str, Any], user: Recipient | None) -> dict[str, Any]:
    """The variables a template sees: the notification's data, plus `user` when it has a recipient user."""
    context = dict(data)
    if user is not None and "user" not in context:
        context["user"] = {k: getattr(user, k) for k in ("id", "name", "email", "phone", "locale", "timezone")}
    return context
