"""The vendor doubles of tests/vendors/ in a process of their own, for the bench part `providers`: what they
spend answering is then not counted as the adapters' CPU.

    python -m bench.provider_doubles [NAME ...]    prints one JSON line (per adapter, all or those named: its
                                                  config and an address to send to), then serves until its
                                                  stdin closes

Next to the vendors, a receiver for the generic signed HTTP gateway that answers 200 as an SMS gateway would.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors import mailgun, postmark, sendgrid
from tests.vendors.apns import Apns
from tests.vendors.discord import Discord
from tests.vendors.fcm import Fcm
from tests.vendors.loopback import Double, Reply, phone_number
from tests.vendors.msteams import Teams
from tests.vendors.ses import REGION, SesDouble
from tests.vendors.slack import Slack
from tests.vendors.telegram import Telegram
from tests.vendors.twilio import Twilio
from tests.vendors.vonage import Vonage

SENDER = "Herald Alerts <alerts@herald.example>"
FCM_PROJECT = "herald-bench-1234"
FCM_EMAIL = f"herald@{FCM_PROJECT}.iam.gserviceaccount.com"
APNS_TEAM, APNS_KEY_ID, APNS_BUNDLE = "ABCDE12345", "KEY1234567", "com.example.herald"


class Gateway(Double):
    """An SMS gateway behind Herald's signed HTTP gateway: takes the JSON and answers 200 with an id."""

    def __init__(self) -> None:
        super().__init__([Route("/sms", self._take, methods=["POST"])])

    async def _take(self, request: Request) -> Response:
        await request.body()
        return Reply(200, {"id": uuid.uuid4().hex}).response()


def _private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _service_account(token_uri: str, key: rsa.RSAPrivateKey) -> str:
    private = _private_pem(key)
    return json.dumps({"type": "service_account", "project_id": FCM_PROJECT, "private_key_id": "k1",
                       "private_key": private, "client_email": FCM_EMAIL, "client_id": "1", "token_uri": token_uri})


async def serve(wanted: set[str]) -> None:
    twilio_sid, twilio_token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    vonage_key, vonage_secret = "a1b2c3d4", secrets.token_hex(8)
    slack_token, slack_channel = "xoxb-17-" + secrets.token_hex(16), "C0123ABCD"
    telegram_token, telegram_chat = "7123456789:" + secrets.token_urlsafe(27), "912345678"
    flow, sig = uuid.uuid4().hex, uuid.uuid4().hex
    hook, hook_token = "1180000000000000042", secrets.token_hex(32)
    fcm_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fcm = Fcm(FCM_PROJECT, FCM_EMAIL, _public_pem(fcm_key))
    apns_key, apns_ca = ec.generate_private_key(ec.SECP256R1()), trustme.CA()
    certificates = tempfile.TemporaryDirectory()
    ses = SesDouble()
    apns = Apns(team_id=APNS_TEAM, key_id=APNS_KEY_ID, public_key_pem=_public_pem(apns_key), bundle_id=APNS_BUNDLE,
                ca=apns_ca, directory=Path(certificates.name))
    doubles: dict[str, Double] = {
        "gateway": Gateway(), "sendgrid": sendgrid.SendGridDouble(), "mailgun": mailgun.MailgunDouble(),
        "postmark": postmark.PostmarkDouble(), "twilio": Twilio({twilio_sid: twilio_token}),
        "vonage": Vonage({vonage_key: vonage_secret}), "slack": Slack(set(), {slack_token}, {slack_channel}),
        "msteams": Teams({flow: sig}, set()), "discord": Discord({hook: hook_token}),
        "telegram": Telegram({telegram_token}, {telegram_chat}), "fcm": fcm, "apns": apns, "ses": ses,
    }
    # Every config names its double's address; only the doubles wanted start.
    base = {name: double.base for name, double in doubles.items()}
    doubles = {name: double for name, double in doubles.items() if name == "gateway" or not wanted or name in wanted}
    for double in doubles.values():
        await double.start()
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    adapters: dict[str, dict[str, Any]] = {
        "gateway": {"config": {"url": f"{base['gateway']}/sms"}, "address": phone_number()},
        "sendgrid": {"config": {"api_key": sendgrid.API_KEY, "from": SENDER, "base_url": base["sendgrid"]},
                     "address": email},
        "mailgun": {"config": {"domain": mailgun.DOMAIN, "api_key": mailgun.API_KEY,
                               "from": f"Herald Alerts <alerts@{mailgun.DOMAIN}>", "base_url": base["mailgun"]},
                    "address": email},
        "postmark": {"config": {"server_token": postmark.SERVER_TOKEN, "from": SENDER,
                                "base_url": base["postmark"]}, "address": email},
        "ses": {"config": {"region": REGION, "access_key_id": ses.access_key_id,
                           "secret_access_key": ses.secret_access_key, "from": SENDER, "base_url": base["ses"]},
                "address": email},
        "twilio": {"config": {"account_sid": twilio_sid, "auth_token": twilio_token, "from": "+14155550000",
                              "base_url": base["twilio"]}, "address": phone_number()},
        "vonage": {"config": {"api_key": vonage_key, "api_secret": vonage_secret, "from": "Herald",
                              "base_url": base["vonage"]}, "address": phone_number()},
        "slack": {"config": {"bot_token": slack_token, "base_url": base["slack"]}, "address": slack_channel},
        "msteams": {"config": {"webhook_url": f"https://prod-12.westeurope.logic.azure.com:443/workflows/{flow}"
                                              "/triggers/manual/paths/invoke?api-version=2016-06-01"
                                              f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}",
                               "base_url": base["msteams"]}, "address": "ignored"},
        "discord": {"config": {"webhook_url": f"https://discord.com/api/webhooks/{hook}/{hook_token}",
                               "base_url": base["discord"]}, "address": "ignored"},
        "telegram": {"config": {"bot_token": telegram_token, "base_url": base["telegram"]},
                     "address": telegram_chat},
        "fcm": {"config": {"project_id": FCM_PROJECT, "base_url": base["fcm"],
                           "service_account_json": _service_account(fcm.token_uri, fcm_key)},
                "address": "fcm-" + secrets.token_urlsafe(32)},
        "apns": {"config": {"team_id": APNS_TEAM, "key_id": APNS_KEY_ID, "private_key": _private_pem(apns_key),
                            "bundle_id": APNS_BUNDLE, "environment": "production", "base_url": base["apns"],
                            "ca_certificate": apns_ca.cert_pem.bytes().decode()},
                 "address": secrets.token_hex(32)},
    }
    print(json.dumps({name: adapter for name, adapter in adapters.items() if name in doubles}), flush=True)
    try:
        # Until the bench closes our stdin (or exits).
        await asyncio.to_thread(sys.stdin.read)
    finally:
        for double in doubles.values():
            await double.stop()
        certificates.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(set(sys.argv[1:])))
