"""Who is looking at a page: a Bearer key (scripts) or the session cookie the login form sets (browsers).

The cookie holds the key itself, HttpOnly and SameSite=Strict, scoped to /ui: the JSON API under /v1 never
reads it, and no other site can make a browser send it, so the dashboard's forms need no CSRF token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import UNAUTHORIZED, PoolDep, Principal, SettingsDep, bearer_key, principal_for_key
from api.errors import ApiError
from api.web.render import page, read_form

COOKIE = "herald_session"
router = APIRouter(prefix="/ui")


class LoginRequired(Exception):
    """No credentials, or a cookie that no longer holds a valid key: the browser goes to the login page."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


async def page_principal(request: Request, pool: PoolDep, settings: SettingsDep) -> Principal:
    if "authorization" in request.headers:
        # A script that sent a key wants an answer about that key, not a login form.
        key = bearer_key(request)
        principal = await principal_for_key(pool, settings, key) if key else None
        if principal is None:
            raise ApiError(401, "unauthorized", "the API key is not valid", headers=UNAUTHORIZED)
        return principal
    cookie = request.cookies.get(COOKIE)
    principal = await principal_for_key(pool, settings, cookie) if cookie else None
    if principal is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return principal


async def admin_page(principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
    if not principal.is_admin:
        raise PageForbidden("This page is for operators: log in with the admin key.")
    return principal


async def user_page(principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
    if principal.user_id is None:
        raise PageForbidden("The inbox belongs to a user: log in with that user's token.")
    return principal


AdminPage = Annotated[Principal, Depends(admin_page)]
UserPage = Annotated[Principal, Depends(user_page)]


def _safe_next(value: str | None) -> str | None:
    # Only a path of this dashboard: never another site (an open redirect), never a scheme-relative URL.
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html", title="Log in", next=_safe_next(request.query_params.get("next")) or "")


@router.post("/login", response_model=None)
async def login(request: Request, pool: PoolDep, settings: SettingsDep) -> Response:
    form = await read_form(request)
    key = form.get("key")
    principal = await principal_for_key(pool, settings, key) if key else None
    next_path = _safe_next(form.get("next"))
    if principal is None:
        # 200 with the form again: the browser shows the message; scripts send a Bearer header instead.
        return page(request, "login.html", title="Log in", next=next_path or "",
                    error="That key is not valid. Use the admin key, or a user token for an inbox.")
    if principal.is_admin:
        target = next_path or "/ui"
    else:  # a user token opens only the inbox, wherever the login started
        target = next_path if next_path and next_path.startswith("/ui/inbox") else "/ui/inbox"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, key, path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout() -> RedirectResponse:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/ui/login?{urlencode({'next': exc.next_path})}", status_code=303)
