"""Who may see which page, over plain HTTP: Bearer keys for scripts, the login cookie for browsers."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import Stack

ADMIN_PAGES = ["/ui", "/ui/send", "/ui/templates", "/ui/templates/new", "/ui/notifications", "/ui/dlq",
               "/ui/schedules", "/ui/users", "/ui/suppressions"]


async def _token(api: Api) -> tuple[str, str]:
    user_id = await api.user()
    token: str = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    return user_id, token


async def test_pages_answer_a_bearer_key_and_redirect_a_browser_without_one(stack: Stack) -> None:
    for path in ADMIN_PAGES:
        r = await stack.http.get(path, headers=stack.auth())
        assert r.status_code == 200, (path, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert "<main" in r.text and 'lang="en"' in r.text
        r = await stack.http.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next="), path
    r = await stack.http.get("/ui/notifications", headers={"Authorization": "Bearer not-a-key"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_login_sets_a_strict_http_only_cookie_that_opens_pages_and_logout_clears_it(stack: Stack) -> None:
    r = await stack.http.post("/ui/login", data={"key": "wrong", "next": "/ui/dlq"})
    assert r.status_code == 200 and "not valid" in r.text and "set-cookie" not in r.headers
    r = await stack.http.post("/ui/login", data={"key": stack.admin_key, "next": "/ui/dlq"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/dlq"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http on loopback; https requests get Secure
    session = r.cookies["herald_session"]
    assert (await stack.http.get("/ui/dlq", cookies={"herald_session": session})).status_code == 200
    # The cookie is for pages only: the JSON API still wants a Bearer header.
    assert (await stack.http.get("/v1/dlq", cookies={"herald_session": session})).status_code == 401
    r = await stack.http.post("/ui/logout", cookies={"herald_session": session})
    assert r.status_code == 303 and 'herald_session=""' in r.headers["set-cookie"]
    # An off-site `next` is ignored: no open redirect.
    r = await stack.http.post("/ui/login", data={"key": stack.admin_key, "next": "//evil.example/x"})
    assert r.headers["location"] == "/ui"


async def test_admin_pages_refuse_a_user_token_and_the_inbox_refuses_the_admin_key(api: Api) -> None:
    _, token = await _token(api)
    for path in ADMIN_PAGES:
        r = await api.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "admin key" in r.text, path
    r = await api.http.get("/ui/inbox", headers=api.h)
    assert r.status_code == 403 and "user" in r.text
    r = await api.http.get("/ui/inbox", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "Inbox" in r.text
    # A user who followed a link to an admin page and logs in lands in their inbox, not on a refusal.
    r = await api.http.post("/ui/login", data={"key": token, "next": "/ui/dlq"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"


async def test_pages_escape_what_users_typed(api: Api) -> None:
    user_id = await api.user(email="x@example.com")
    await api.http.patch(f"/v1/users/{user_id}", json={"name": "<script>alert(1)</script>"}, headers=api.h)
    r = await api.http.get(f"/ui/users/{user_id}", headers=api.h)
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


async def test_static_files_are_vendored_not_fetched_from_a_cdn(stack: Stack) -> None:
    for path in ("/ui/static/vendor/htmx.min.js", "/ui/static/vendor/chart.umd.min.js", "/ui/static/app.css",
                 "/ui/static/app.js"):
        assert (await stack.http.get(path)).status_code == 200, path
    html = (await stack.http.get("/ui", headers=stack.auth())).text
    assert "https://" not in html.split("<main")[0]  # no script or stylesheet from another origin
