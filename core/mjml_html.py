"""MJML: a template's html written as an `<mjml>` document, compiled to the table-based HTML with inlined styles
that mail clients render alike. The compiled HTML is still Jinja: the template's expressions are set aside
before compiling and put back after, so the MJML parser never escapes or reorders them."""

from __future__ import annotations

import re

from mjml import mjml_to_html  # type: ignore[import-untyped]

_ROOT = re.compile(r"\A\s*(?:<!--.*?-->\s*)*<mjml[\s>]", re.DOTALL | re.IGNORECASE)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
# mj-include reads a file from the worker's disk: a template must reach nothing outside itself.
_INCLUDE = re.compile(r"<mj-include\b", re.IGNORECASE)
_MARK = "hrldjinja{}x"
_MARKED = re.compile(r"hrldjinja(\d+)x")


class MjmlError(ValueError):
    """The MJML cannot be compiled; the message says why, for a 422."""


def is_mjml(html: str | None) -> bool:
    """Whether an html text is an MJML document: its first element is `<mjml>`."""
    return html is not None and _ROOT.match(html) is not None


def compile_mjml(source: str) -> str:
    """The HTML of an MJML document, with its Jinja expressions and statements as they were."""
    if _INCLUDE.search(source):
        raise MjmlError("mj-include is not supported; use {% include \"<template name>\" %} instead")
    pieces: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        pieces.append(match.group(0))
        return _MARK.format(len(pieces) - 1)

    marked = _JINJA.sub(set_aside, source)
    try:
        html = mjml_to_html(marked).html
    except KeyError as exc:  # the component registry's lookup of a tag it does not know
        raise MjmlError(f"unknown MJML element <{exc.args[0]}>") from exc
    except Exception as exc:  # the port raises what its parser meets: report it, never crash a save
        raise MjmlError(f"invalid MJML: {exc}") from exc
    return _MARKED.sub(lambda match: _restored(match, pieces), html)


def _restored(match: re.Match[str], pieces: list[str]) -> str:
    index = int(match.group(1))
    return pieces[index] if index < len(pieces) else match.group(0)
