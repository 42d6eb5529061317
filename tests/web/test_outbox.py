"""`/ui/outbox` belongs to `make up`: an API that no catcher directory was given (every deployment but
`make up`) does not have the page at all. The page itself is tested on a `make up` stack in
tests/devstack/test_readme_tour.py."""

from __future__ import annotations

from tests.conftest import Stack


async def test_without_make_ups_catchers_the_outbox_does_not_exist(stack: Stack) -> None:
    for path in ("/ui/outbox", "/ui/outbox/mail/20261130T000000-00001.eml"):
        answer = await stack.http.get(path, headers=stack.auth())
        assert answer.status_code == 404, (path, answer.text[:300])
        assert answer.json()["error"]["code"] == "not_found"
    overview = await stack.http.get("/ui", headers=stack.auth())
    assert overview.status_code == 200 and 'href="/ui/templates"' in overview.text
    assert 'href="/ui/outbox"' not in overview.text  # nor a link to it in the dashboard's navigation
