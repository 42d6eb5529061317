"""What the SMS and chat adapters share: where a request goes, and which URLs pass the egress check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from providers import slack, telegram, twilio, vendor_http
from tests.vendors.loopback import LOOPBACK


def test_base_url_takes_the_host_and_keeps_the_webhooks_path_and_query() -> None:
    url = "https://prod-1.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sv=1.0&sig=s"
    assert vendor_http.rebase(url, "http://127.0.0.1:9000/proxy") == (
        "http://127.0.0.1:9000/proxy/workflows/abc/triggers/manual/paths/invoke?sv=1.0&sig=s")
    assert vendor_http.rebase(url, None) == url


def test_only_the_vendors_own_default_skips_the_egress_check() -> None:
    assert vendor_http.vetting(twilio.DEFAULT_BASE_URL, twilio.DEFAULT_BASE_URL, LOOPBACK) is None
    assert vendor_http.vetting("https://api.twilio.example", twilio.DEFAULT_BASE_URL, LOOPBACK) is LOOPBACK
    # A trailing slash on the default is the default.
    config = telegram.Config(bot_token="1:" + "a" * 35, base_url=telegram.DEFAULT_BASE_URL + "/")
    assert vendor_http.vetting(config.base_url, telegram.DEFAULT_BASE_URL, LOOPBACK) is None


@pytest.mark.parametrize("base_url", ["https://slack.com/api?x=1", "https://slack.com#top", "slack.com", "file:///x"])
def test_a_base_url_is_an_http_origin_without_a_query(base_url: str) -> None:
    with pytest.raises(ValidationError, match="base_url"):
        slack.Config(bot_token="xoxb-1", base_url=base_url)
