"""`herald templates pull DIR` and `push DIR [--dry-run | --check]`: templates, their translations and layouts
as plain files in a git repository, moved between environments through the REST API.

    DIR/<template>/template.yaml           description and layout (absent keys: none)
    DIR/<template>/subject.txt             each text only when the template has it
    DIR/<template>/body.txt
    DIR/<template>/body.html
    DIR/<template>/locales/<tag>.subject.txt, <tag>.body.txt, <tag>.body.html
    DIR/_layouts/<layout>.html, <layout>.txt

Files hold the texts byte for byte, so pulling, pushing to another server and pulling again writes the same
files. Push changes only what differs (each change is a new version on the server) and deletes nothing that
exists only on the server.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from cli.remote import _answer, client, items
from core import templating

LAYOUTS = "_layouts"
_OWN_FILES = {"subject.txt": "subject", "body.txt": "body", "body.html": "html"}
Tree = dict[str, str]  # a file's path under DIR (with "/") -> its text


def _text_files(prefix: str, texts: dict[str, Any]) -> Tree:
    files = {f"{prefix}{file}": texts[part] for file, part in _OWN_FILES.items() if texts.get(part) is not None}
    if files.get(f"{prefix}body.txt") == "":
        del files[f"{prefix}body.txt"]  # an empty body: the text is made from the html
    return files


def server_tree(http: httpx.Client) -> Tree:
    tree: Tree = {}
    for template in items(http, "/v1/templates", {}):
        name = template["name"]
        meta = {k: template[k] for k in ("description", "layout") if template.get(k) is not None}
        tree[f"{name}/template.yaml"] = yaml.safe_dump(meta, sort_keys=True, allow_unicode=True)
        tree.update(_text_files(f"{name}/", template))
        for item in _answer(http.get(f"/v1/templates/{name}/locales"))["items"]:
            tree.update(_text_files(f"{name}/locales/{item['locale']}.", item))
    for layout in items(http, "/v1/layouts", {}):
        for ext, part in (("html", "html"), ("txt", "text")):
            if layout[part] is not None:
                tree[f"{LAYOUTS}/{layout['name']}.{ext}"] = layout[part]
    return tree


def local_tree(root: Path) -> Tree:
    """The files of DIR that describe templates and layouts; anything else there (a README, .git) is ignored."""
    found: list[Path] = []
    if (root / LAYOUTS).is_dir():
        found += [p for p in (root / LAYOUTS).iterdir() if p.suffix in (".html", ".txt") and p.is_file()]
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not (folder / "template.yaml").is_file():
            continue
        found += [folder / "template.yaml"] + [folder / f for f in _OWN_FILES if (folder / f).is_file()]
        if (folder / "locales").is_dir():
            found += [p for p in (folder / "locales").iterdir()
                      if p.is_file() and p.name.partition(".")[2] in _OWN_FILES]
    # Bytes, not text mode: line endings stay as they are.
    return {p.relative_to(root).as_posix(): p.read_bytes().decode("utf-8") for p in found}


def _owner(path: str) -> str:
    """What a file belongs to: `_layouts/<name>` or the template's name."""
    first, _, rest = path.partition("/")
    return f"{LAYOUTS}/{rest.rsplit('.', 1)[0]}" if first == LAYOUTS else first


def changes(local: Tree, server: Tree) -> list[str]:
    """The files that differ, of the templates and layouts DIR has (those only on the server are left alone)."""
    owners = {_owner(p) for p in local}
    paths = set(local) | {p for p in server if _owner(p) in owners}
    return sorted(p for p in paths if local.get(p) != server.get(p))


def diff(local: Tree, server: Tree, paths: list[str]) -> str:
    out: list[str] = []
    for path in paths:
        lines = difflib.unified_diff(server[path].splitlines(keepends=True) if path in server else [],
                                     local[path].splitlines(keepends=True) if path in local else [],
                                     f"server/{path}" if path in server else "/dev/null",
                                     f"local/{path}" if path in local else "/dev/null")
        # As diff(1) and git write it, so that `patch` and reviewers read a missing final newline right.
        out += (line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return "".join(out)


def _texts(tree: Tree, prefix: str) -> dict[str, str | None]:
    return {"subject": tree.get(f"{prefix}subject.txt"), "body": tree.get(f"{prefix}body.txt", ""),
            "html": tree.get(f"{prefix}body.html")}


def _locales(tree: Tree, name: str) -> set[str]:
    prefix = f"{name}/locales/"
    return {p[len(prefix):].partition(".")[0] for p in tree if p.startswith(prefix)}


def _included(text: str, path: str) -> list[str]:
    try:
        return templating.included_names(text, path)
    except templating.TemplateError:
        return []  # the server refuses it, naming the field and line


def _push_order(local: Tree, names: set[str]) -> list[str]:
    """Templates before those that include them: a template can only be saved once what it includes exists."""
    needs = {name: {n for path, text in local.items() if _owner(path) == name and not path.endswith(".yaml")
                    for n in _included(text, path)} & names for name in names}
    order: list[str] = []
    while needs:
        ready = sorted(n for n, wanted in needs.items() if not wanted - set(order))
        if not ready:
            raise SystemExit(f"templates include each other in a cycle: {', '.join(sorted(needs))}")
        order += ready
        for n in ready:
            del needs[n]
    return order


def _apply(http: httpx.Client, local: Tree, server: Tree, paths: list[str]) -> None:
    owners = {_owner(p) for p in paths}
    for layout in sorted(o for o in owners if o.startswith(f"{LAYOUTS}/")):
        name = layout.partition("/")[2]
        body = {"html": local.get(f"{layout}.html"), "text": local.get(f"{layout}.txt")}
        exists = f"{layout}.html" in server or f"{layout}.txt" in server
        _answer(http.put(f"/v1/layouts/{name}", json=body) if exists
                else http.post("/v1/layouts", json={"name": name, **body}))
        print(f"layout {name}: {'new version' if exists else 'created'}", file=sys.stderr)
    templates = {o for o in owners if not o.startswith(f"{LAYOUTS}/")}
    for name in _push_order(local, templates):
        own = [f"{name}/template.yaml", *(f"{name}/{f}" for f in _OWN_FILES)]
        exists = f"{name}/template.yaml" in server
        if any(p in paths for p in own):
            meta = yaml.safe_load(local[f"{name}/template.yaml"]) or {}
            body = {**_texts(local, f"{name}/"), "description": meta.get("description"), "layout": meta.get("layout")}
            _answer(http.put(f"/v1/templates/{name}", json=body) if exists
                    else http.post("/v1/templates", json={"name": name, **body}))
            print(f"template {name}: {'new version' if exists else 'created'}", file=sys.stderr)
        for tag in sorted(_locales(local, name) | _locales(server, name)):
            prefix = f"{name}/locales/{tag}."
            if not any(p.startswith(prefix) for p in paths):
                continue
            if tag in _locales(local, name):
                _answer(http.put(f"/v1/templates/{name}/locales/{tag}", json=_texts(local, prefix)))
                print(f"template {name}: translation {tag} saved", file=sys.stderr)
            else:
                _answer(http.delete(f"/v1/templates/{name}/locales/{tag}"))
                print(f"template {name}: translation {tag} removed", file=sys.stderr)


def pull(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    with client() as http:
        tree = server_tree(http)
    for stale in set(local_tree(root)) - set(tree):
        (root / stale).unlink()
    for path, text in tree.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    print(f"{len(tree)} files written to {root}", file=sys.stderr)
    return 0


def push(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise SystemExit(f"{root} is not a directory")
    local = local_tree(root)
    with client() as http:
        server = server_tree(http)
        paths = changes(local, server)
        if args.check:
            for path in paths:
                print(f"differs: {path}", file=sys.stderr)
            return 1 if paths else 0
        if args.dry_run:
            sys.stdout.write(diff(local, server, paths))
            return 0
        _apply(http, local, server, paths)
    print(f"{len(paths)} files differed" if paths else "nothing to push: the server has these", file=sys.stderr)
    return 0
