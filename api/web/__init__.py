"""The dashboard and the user inbox, served by the API process under /ui (server-rendered Jinja2)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.web import activity, auth, dlq, inbox, outbox, overview, schedules, send, suppressions, template_pages, users
from api.web.render import NAV, STATIC, page


def install(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    for module in (auth, overview, send, template_pages, activity, dlq, schedules, users, inbox, suppressions):
        app.include_router(module.router, include_in_schema=False)
    app.state.ui_nav = NAV
    if outbox.catcher_dir() is not None:  # only `make up` runs catchers; elsewhere /ui/outbox is a 404
        app.include_router(outbox.router, include_in_schema=False)
        app.state.ui_nav = (*NAV, ("/ui/outbox", "Outbox"))

    async def login_required(_: Request, exc: Exception) -> RedirectResponse:
        assert isinstance(exc, auth.LoginRequired)
        return auth.login_redirect(exc)

    async def forbidden(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, auth.PageForbidden)
        return page(request, "forbidden.html", status_code=403, title="Forbidden", message=exc.message)

    app.add_exception_handler(auth.LoginRequired, login_required)
    app.add_exception_handler(auth.PageForbidden, forbidden)
