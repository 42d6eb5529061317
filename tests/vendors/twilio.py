"""Twilio's Messages resource, as documented: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
form-encoded, HTTP Basic auth (account SID, auth token). 201 with the message resource; errors as
`{"code", "message", "more_info", "status"}`."""

from __future__ import annotations

import base64
import re
import uuid
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply

E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                          "status": status}, headers or {})


class Twilio(Double):
    def __init__(self, accounts: dict[str, str]):
        super().__init__([Route("/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"])])
        self.accounts = accounts  # account SID -> auth token
        self.sids: dict[str, list[str]] = {}  # the message SIDs answered, per number

    async def _messages(self, request: Request) -> Response:
        raw = await request.body()
        sid = request.path_params["sid"]
        if not self._authenticated(request, sid):
            return error(401, 20003, "Authenticate").response()
        form_encoded = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        # Twilio reads only form parameters: a JSON body reads as a request without any.
        fields = dict(parse_qsl(raw.decode(), keep_blank_values=True)) if form_encoded else {}
        self.record(request, raw, fields)
        to = fields.get("To", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.").response()
        if not fields.get("Body"):
            return error(400, 21602, "Message body is required.").response()
        if not fields.get("From") and not fields.get("MessagingServiceSid"):
            return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
                         ).response()
        if not E164.match(to):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.").response()
        callback = fields.get("StatusCallback")
        if callback is not None and not callback.startswith(("http://", "https://")):
            return error(400, 21609, "The StatusCallback URL is not a valid URL.").response()
        reply = await self.scripted(to)
        if reply is not None:
            return reply.response()
        message_sid = "SM" + uuid.uuid4().hex
        self.sids.setdefault(to, []).append(message_sid)
        return Reply(201, {"sid": message_sid, "account_sid": sid, "to": to,
                           "from": fields.get("From"), "messaging_service_sid": fields.get("MessagingServiceSid"),
                           "body": fields["Body"], "status": "queued", "num_segments": "1", "error_code": None,
                           "error_message": None, "api_version": "2010-04-01",
                           "uri": f"/2010-04-01/Accounts/{sid}/Messages.json"}).response()

    def _authenticated(self, request: Request, sid: str) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            return False
        return user == sid and self.accounts.get(sid) == password
