"""Real delivery: a real SMTP server and a real HTTP receiver on loopback, through the API and the worker."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Api, uid
from tests.receivers import Reply


async def _html_template(api: Api) -> str:
    name = uid("mail")
    r = await api.http.post("/v1/templates", headers=api.h, json={
        "name": name, "subject": "Code for {{ user.name }}", "body": "Your code is {{ code }}.",
        "html": "<p>Your code is <b>{{ code }}</b>.</p>"})
    assert r.status_code == 201, r.text
    return name


async def test_email_arrives_once_with_headers_and_both_parts(api: Api) -> None:
    template = await _html_template(api)
    address = f"{uid('ada')}@example.com"
    user_id = await api.user(email=address)
    n = await api.send(template, user_id=user_id, channels=["email"], data={"code": "4242"})
    done = await api.until_status(n["id"], "delivered")
    mails = api.stack.smtp.to(address)
    assert len(mails) == 1
    mail = mails[0].message
    assert (mail["From"], mail["To"], mail["Subject"]) == ("herald@localhost", address, "Code for Ada")
    assert mail["X-Herald-Notification-Id"] == n["id"]
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().strip() == "Your code is 4242."
    assert html is not None and html.get_content().strip() == "<p>Your code is <b>4242</b>.</p>"
    delivery = done["deliveries"][0]
    assert (delivery["provider"], delivery["provider_message_id"]) == ("smtp", mail["Message-ID"])


async def test_smtp_4xx_is_retried_with_the_same_message_id(api: Api) -> None:
    template = await _html_template(api)
    address = f"{uid('bob')}@example.com"
    api.stack.smtp.script[address] = ["451 4.3.0 try again later"]
    n = await api.send(template, to={"email": address}, channels=["email"], data={"code": "1", "user": {"name": "B"}})
    done = await api.until_status(n["id"], "delivered")
    assert done["attempts"] == 2 and api.stack.smtp.tries[address] == 2
    assert len(api.stack.smtp.to(address)) == 1


async def test_smtp_failover_to_the_second_relay(api: Api) -> None:
    template = await _html_template(api)
    address = f"{uid('cy')}@example.com"
    api.stack.smtp.script[address] = ["421 4.3.2 service not available"] * 3  # the primary's 3 attempts
    n = await api.send(template, to={"email": address}, channels=["email"], data={"code": "1", "user": {"name": "C"}})
    done = await api.until_status(n["id"], "delivered")
    assert api.stack.smtp.to(address) == [] and len(api.stack.smtp_fallback.to(address)) == 1
    assert done["deliveries"][0]["provider"] == "smtp-fallback-1"
    assert done["attempts"] == 4
    assert "failover" in [e["event"] for e in done["timeline"]]


async def test_smtp_5xx_everywhere_dead_letters_without_retrying(api: Api) -> None:
    template = await _html_template(api)
    address = f"{uid('dee')}@example.com"
    api.stack.smtp.script[address] = ["550 5.1.1 no such user"]
    api.stack.smtp_fallback.script[address] = ["550 5.1.1 no such user"]
    n = await api.send(template, to={"email": address}, channels=["email"], data={"code": "1", "user": {"name": "D"}})
    parked = await api.until_status(n["id"], "dead_lettered")
    assert api.stack.smtp.tries[address] == 1 and api.stack.smtp_fallback.tries[address] == 1
    assert "550" in parked["last_error"]


async def test_webhook_is_signed_and_verifies_as_a_receiver_would(api: Api) -> None:
    template = await api.template()
    path = f"/hook/{uid('w')}"
    user_id = await api.user(webhook_url=f"{api.stack.http_receiver.base}{path}")
    n = await api.send(template, user_id=user_id, channels=["webhook"])
    await api.until_status(n["id"], "delivered")
    calls = api.stack.http_receiver.for_key(path)
    assert len(calls) == 1
    call = calls[0]
    assert call.verified
    assert call.headers["webhook-id"] == call.headers["idempotency-key"] == f"{n['id']}:webhook"
    assert call.body == {"type": "notification", "notification_id": n["id"], "user_id": user_id,
                         "subject": "Hi Ada", "body": "Hello Ada", "html": None}


async def test_500_then_200_is_delivered_on_attempt_two_with_one_webhook_id(api: Api) -> None:
    template = await api.template()
    path = f"/hook/{uid('w')}"
    api.stack.http_receiver.script[path] = [Reply(500)]
    n = await api.send(template, to={"webhook": f"{api.stack.http_receiver.base}{path}"}, channels=["webhook"])
    done = await api.until_status(n["id"], "delivered")
    calls = api.stack.http_receiver.for_key(path)
    assert done["attempts"] == 2 and len(calls) == 2
    assert len({c.headers["webhook-id"] for c in calls}) == 1 and all(c.verified for c in calls)


async def test_400_dead_letters_after_one_attempt(api: Api) -> None:
    template = await api.template()
    path = f"/hook/{uid('w')}"
    api.stack.http_receiver.script[path] = [Reply(400)]
    n = await api.send(template, to={"webhook": f"{api.stack.http_receiver.base}{path}"}, channels=["webhook"])
    parked = await api.until_status(n["id"], "dead_lettered")
    assert parked["attempts"] == 1 and len(api.stack.http_receiver.for_key(path)) == 1
    assert "HTTP 400" in parked["last_error"]


async def test_retry_after_is_honoured(api: Api) -> None:
    template = await api.template()
    path = f"/hook/{uid('w')}"
    # The configured backoff is 0.05 s: only Retry-After can explain a two-second gap.
    api.stack.http_receiver.script[path] = [Reply(429, headers={"Retry-After": "2"})]
    n = await api.send(template, to={"webhook": f"{api.stack.http_receiver.base}{path}"}, channels=["webhook"])
    await api.until_status(n["id"], "delivered")
    first, second = api.stack.http_receiver.for_key(path)
    assert 1.9 <= second.at - first.at < 4.0, second.at - first.at


async def test_a_reply_slower_than_the_activity_timeout_is_retried_with_the_same_id(api: Api) -> None:
    template = await api.template()
    path = f"/hook/{uid('w')}"
    api.stack.http_receiver.script[path] = [Reply(200, delay_s=3.0)]  # the delivery timeout is 2 s
    n = await api.send(template, to={"webhook": f"{api.stack.http_receiver.base}{path}"}, channels=["webhook"])
    done = await api.until_status(n["id"], "delivered")
    await asyncio.sleep(1.5)  # let the abandoned first attempt finish too
    calls = api.stack.http_receiver.for_key(path)
    assert len(calls) == 2, "the timed-out attempt must be retried"
    # What makes the effect exactly once: every request of the delivery carries one key.
    assert {c.headers["webhook-id"] for c in calls} == {f"{n['id']}:webhook"}
    assert done["deliveries"][0]["status"] == "delivered"
    receipts = await api.stack.pool.fetchval("SELECT count(*) FROM delivery_receipt WHERE notification_id = $1",
                                             n["id"])
    assert receipts == 1


async def test_sms_gateway_body_and_signature(api: Api) -> None:
    template = await api.template()
    phone = f"+3361{uid('')[-7:].replace('-', '0')}"
    user_id = await api.user(phone="+33 6 00 00 00 00")
    n = await api.send(template, user_id=user_id, to={"sms": phone}, channels=["sms"])
    done = await api.until_status(n["id"], "delivered")
    (call,) = api.stack.http_receiver.for_key(phone)
    assert call.path == "/sms" and call.verified
    assert call.body == {"to": phone, "text": "Hello Ada", "notification_id": n["id"]}
    assert done["deliveries"][0]["provider"] == "sms-gateway"
    assert done["deliveries"][0]["provider_message_id"].startswith("gw-")


async def test_a_failed_channel_is_redriven_alone(api: Api) -> None:
    template = await api.template()
    path = f"/hook/{uid('w')}"
    phone = f"+4479{uid('')[-8:].replace('-', '1')}"
    api.stack.http_receiver.script[path] = [Reply(400)]
    n = await api.send(template, to={"webhook": f"{api.stack.http_receiver.base}{path}", "sms": phone},
                       channels=["sms", "webhook"])
    parked = await api.until_status(n["id"], "dead_lettered")
    assert {d["channel"]: d["status"] for d in parked["deliveries"]} == {"sms": "delivered",
                                                                          "webhook": "dead_lettered"}
    assert (await api.http.post(f"/v1/notifications/{n['id']}/retry", headers=api.h)).status_code == 202
    done = await api.until_status(n["id"], "delivered")
    assert {d["channel"]: d["status"] for d in done["deliveries"]} == {"sms": "delivered", "webhook": "delivered"}
    assert len(api.stack.http_receiver.for_key(phone)) == 1, "a redrive must not re-send the delivered channel"
    assert len(api.stack.http_receiver.for_key(path)) == 2


async def test_a_webhook_to_a_loopback_address_not_allowed_is_refused(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"webhook": f"http://127.0.0.2:{api.stack.http_receiver.port}/hook/x"},
                       channels=["webhook"])
    parked = await api.until_status(n["id"], "dead_lettered")
    assert parked["attempts"] == 1 and "refused to send to '127.0.0.2'" in parked["last_error"]


async def test_redirects_are_not_followed(api: Api) -> None:
    template = await api.template()
    path, elsewhere = f"/hook/{uid('w')}", f"/hook/{uid('elsewhere')}"
    location = f"{api.stack.http_receiver.base}{elsewhere}"
    api.stack.http_receiver.script[path] = [Reply(302, headers={"Location": location})]
    n = await api.send(template, to={"webhook": f"{api.stack.http_receiver.base}{path}"}, channels=["webhook"])
    parked = await api.until_status(n["id"], "dead_lettered")
    assert "HTTP 302" in parked["last_error"] and api.stack.http_receiver.for_key(elsewhere) == []
