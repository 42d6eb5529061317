"""Users: list and search, create, edit contacts, topics and preferences, issue an inbox token."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.deps import PoolDep, Principal
from api.schemas import DEFAULT_TOKEN_TTL_S, UserCreate, UserUpdate
from api.web.auth import AdminPage
from api.web.render import Form, page, read_form, see_other
from core.errors import Problem
from core.models import Channel
from services import users

router = APIRouter(prefix="/ui/users")
PAGE_SIZE = 100
CONTACTS = ("email", "phone", "push_token", "webhook_url", "locale", "timezone", "chat_address")


@router.get("", response_class=HTMLResponse)
async def list_users(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    q = request.query_params.get("q", "").strip()
    after = request.query_params.get("after") or None
    rows = await (users.search(pool, q, PAGE_SIZE + 1) if q else users.list_users(pool, after, PAGE_SIZE + 1))
    next_url = None
    if len(rows) > PAGE_SIZE and not q:
        next_url = f"/ui/users?after={quote(rows[PAGE_SIZE - 1].id)}"
    return page(request, "users.html", title="Users", principal=principal, items=rows[:PAGE_SIZE], q=q,
                next_url=next_url, u={}, channels=[c.value for c in Channel])


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request, pool: PoolDep, _: AdminPage) -> HTMLResponse:
    """The send page's user picker: the users already ticked (kept across searches), then those matching `q`."""
    q = request.query_params.get("q", "").strip()
    chosen = list(dict.fromkeys(request.query_params.getlist("user_ids")))[:100]
    rows = await users.search(pool, q, 20) if q else []
    return page(request, "user_picker.html", chosen=chosen, items=[r for r in rows if r.id not in chosen], q=q)


def _user_fields(form: Form) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": form.get("name")}
    fields |= {f: form.optional(f) for f in CONTACTS}
    fields["topics"] = [t.strip() for t in form.get("topics").split(",") if t.strip()]
    preferences: dict[str, Any] = {
        "channels": {c.value: False for c in Channel if not form.get(f"allow_{c.value}")},
        "categories": {c.strip(): False for c in form.get("opted_out_categories").split(",") if c.strip()},
    }
    if form.get("quiet_start") and form.get("quiet_end"):
        preferences["quiet_hours"] = {"start": form.get("quiet_start"), "end": form.get("quiet_end")}
    fields["preferences"] = preferences
    return fields


def _problems(exc: Problem | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return exc.message


@router.post("", response_class=HTMLResponse, response_model=None)
async def create_user(request: Request, pool: PoolDep, principal: AdminPage) -> Response:
    form = await read_form(request)
    fields = _user_fields(form)
    try:
        body = UserCreate(id=form.optional("id"), **fields)
        row = await users.create(pool, body.id, body.model_dump(mode="json", exclude={"id"}))
    except (Problem, ValidationError) as exc:
        return page(request, "users.html", title="Users", principal=principal, items=[], q="", next_url=None,
                    u={**fields, "id": form.get("id")}, channels=[c.value for c in Channel],
                    error=f"Not created: {_problems(exc)}")
    return see_other(f"/ui/users/{quote(row.id)}", f"User {row.id} created.")


def _edit(request: Request, principal: Principal, user_id: str, user: users.UserRecord | dict[str, Any],
          **extra: Any) -> HTMLResponse:
    """The edit page of a stored user, or of the form just refused (its fields as typed)."""
    return page(request, "user_edit.html", title=f"User {user_id}", principal=principal, u=user,
                channels=[c.value for c in Channel], **extra)


@router.get("/{user_id}", response_class=HTMLResponse)
async def edit_user(user_id: str, request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    row = await users.find(pool, user_id)
    if row is None:
        return page(request, "not_found.html", status_code=404, title="Not found", principal=principal,
                    what=f"user {user_id}")
    return _edit(request, principal, user_id, row)


@router.post("/{user_id}", response_class=HTMLResponse, response_model=None)
async def save_user(user_id: str, request: Request, pool: PoolDep, principal: AdminPage) -> Response:
    fields = _user_fields(await read_form(request))
    try:
        await users.update(pool, user_id, UserUpdate(**fields).model_dump(mode="json", exclude_unset=True,
                                                                         exclude={"id"}))
    except (Problem, ValidationError) as exc:
        return _edit(request, principal, user_id, {**fields, "id": user_id}, error=f"Not saved: {_problems(exc)}")
    return see_other(f"/ui/users/{quote(user_id)}", "Saved.")


@router.post("/{user_id}/token", response_class=HTMLResponse)
async def issue_token(user_id: str, request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    token = (await users.issue_token(pool, user_id, DEFAULT_TOKEN_TTL_S)).token
    row = await users.get(pool, user_id)
    # Shown in this answer only (never in a URL): the server keeps just its hash.
    return _edit(request, principal, user_id, row, token=token)
