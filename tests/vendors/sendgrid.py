"""A strict SendGrid v3 Mail Send double: the documented request (path, Bearer key, JSON, required fields, a
verified sender) or SendGrid's own 400/401/403/404 answer; 202 with `X-Message-Id` for a good one."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from email_validator import EmailNotValidError, validate_email
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.vendors.email_server import EmailDouble

API_KEY = "SG.test-key.abcdef"
VERIFIED_SENDER = "alerts@herald.example"


def errors(*items: tuple[str | None, str]) -> dict[str, Any]:
    return {"errors": [{"field": field, "message": message, "help": None} for field, message in items]}


def valid_address(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class SendGridDouble(EmailDouble):
    def __init__(self) -> None:
        super().__init__([Route("/v3/mail/send", self.mail_send, methods=["POST"]),
                          Route("/{path:path}", self.not_found, methods=["GET", "POST", "PUT", "DELETE"])])

    async def not_found(self, request: Request) -> Response:
        return self.refuse(f"path {request.url.path}", JSONResponse(
            errors((None, "resource not found")), status_code=404))

    async def mail_send(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return self.refuse("authorization", JSONResponse(errors(
                (None, "The provided authorization grant is invalid, expired, or revoked")), status_code=401))
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return self.refuse("content type", JSONResponse(errors(
                (None, "Content-Type should be application/json.")), status_code=415))
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return self.refuse("json", JSONResponse(errors(
                (None, "Bad Request")), status_code=400))
        problems = self.problems(body)
        if problems:
            return self.refuse("; ".join(m for _, m in problems), JSONResponse(errors(*problems), status_code=400))
        if body["from"]["email"] != VERIFIED_SENDER:
            return self.refuse("sender", JSONResponse(errors(("from", (
                "The from address does not match a verified Sender Identity. Mail cannot be sent until this "
                "error is resolved."))), status_code=403))
        self.record(request, raw, body)
        scripted = await self.answer(body["personalizations"][0]["to"][0]["email"])
        if scripted is not None:
            return scripted
        message_id = uuid.uuid4().hex[:22]
        self.accepted.append({"headers": dict(request.headers), "body": body, "message_id": message_id,
                              "at": time.monotonic()})
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    @staticmethod
    def problems(body: Any) -> list[tuple[str | None, str]]:
        """The checks SendGrid makes of a Mail Send body, with its field names."""
        if not isinstance(body, dict):
            return [(None, "Bad Request")]
        found: list[tuple[str | None, str]] = []
        personalizations = body.get("personalizations")
        if not isinstance(personalizations, list) or not personalizations:
            found.append(("personalizations", "The personalizations field is required and must have at least "
                                              "one personalization."))
        else:
            for i, p in enumerate(personalizations):
                to = p.get("to") if isinstance(p, dict) else None
                if not isinstance(to, list) or not to:
                    found.append((f"personalizations.{i}.to", "The to array is required for all "
                                                               "personalization objects, and must have at "
                                                               "least one email object with a valid email "
                                                               "address."))
                    continue
                for j, recipient in enumerate(to):
                    if not isinstance(recipient, dict) or not valid_address(recipient.get("email")):
                        found.append((f"personalizations.{i}.to.{j}.email", "Does not contain a valid address."))
        sender = body.get("from")
        if not isinstance(sender, dict) or not valid_address(sender.get("email")):
            found.append(("from.email", "The from object must be provided for every email send. It is an object "
                                        "that requires the email parameter, but may also contain a name "
                                        "parameter."))
        elif "name" in sender and not isinstance(sender["name"], str):
            found.append(("from.name", "The from name must be a string."))
        if not isinstance(body.get("subject"), str) or not body["subject"]:
            found.append(("subject", "The subject is required. You can get around this requirement if you use "
                                     "a template with a subject defined or if every personalization has a "
                                     "subject defined."))
        content = body.get("content")
        if not isinstance(content, list) or not content:
            found.append(("content", "Unless a valid template_id is provided, the content parameter is required. "
                                     "There must be at least one defined content block."))
        else:
            types = [c.get("type") if isinstance(c, dict) else None for c in content]
            for i, c in enumerate(content):
                if not isinstance(c, dict) or not isinstance(c.get("value"), str) or not c["value"]:
                    found.append((f"content.{i}.value", "The content value must be a string at least one "
                                                        "character in length."))
            if "text/plain" in types and types[0] != "text/plain":
                found.append(("content", "If present, text/plain content must be first, followed by text/html "
                                         "and other content types."))
            if len(set(types)) != len(types):
                found.append(("content", "Each content type may only be used once."))
        for name in ("custom_args", "headers"):
            value = body.get(name)
            if value is not None and (not isinstance(value, dict)
                                      or not all(isinstance(v, str) for v in value.values())):
                found.append((name, f"Invalid type. Expected: object with string values, given: {name}."))
        unknown = set(body) - {"personalizations", "from", "reply_to", "subject", "content", "attachments",
                               "template_id", "headers", "categories", "custom_args", "send_at", "batch_id",
                               "asm", "ip_pool_name", "mail_settings", "tracking_settings", "reply_to_list"}
        if unknown:
            found.append((None, f"Unknown field(s): {sorted(unknown)}"))
        return found
