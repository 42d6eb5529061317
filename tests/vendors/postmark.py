"""A strict Postmark Email API double: `POST /email` with `X-Postmark-Server-Token`, `Accept` and `Content-Type`
both application/json, the documented fields, a confirmed sender signature, a known message stream; or
Postmark's own 401/422 answer with its `ErrorCode`. 200 with `MessageID` for a good one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.vendors.email_server import EmailDouble

SERVER_TOKEN = "f4b1c2d3-0000-4000-8000-123456789abc"
CONFIRMED_SENDER = "alerts@herald.example"
STREAMS = {"outbound", "notifications"}
FIELDS = {"From", "To", "Cc", "Bcc", "Subject", "Tag", "HtmlBody", "TextBody", "ReplyTo", "Headers", "TrackOpens",
          "TrackLinks", "Metadata", "Attachments", "MessageStream", "InlineCss"}


def error(code: int, message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"ErrorCode": code, "Message": message}, status_code=status)


def valid_address(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        validate_email(parseaddr(value)[1], check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class PostmarkDouble(EmailDouble):
    def __init__(self) -> None:
        super().__init__([Route("/email", self.email, methods=["POST"]),
                          Route("/{path:path}", self.not_found, methods=["GET", "POST", "PUT", "DELETE"])])

    async def not_found(self, request: Request) -> Response:
        return self.refuse(f"path {request.url.path}", Response(status_code=404))

    async def email(self, request: Request) -> Response:
        if request.headers.get("x-postmark-server-token") != SERVER_TOKEN:
            return self.refuse("token", error(10, "Request does not contain a valid Server token.", 401))
        if request.headers.get("accept") != "application/json" \
                or request.headers.get("content-type", "").split(";")[0] != "application/json":
            return self.refuse("json headers", error(409, "Your HTTP request does not have the Accept and "
                                                          "Content-Type headers set to 'application/json'."))
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self.refuse("json", error(402, "The request body is not valid JSON."))
        if not isinstance(body, dict):
            return self.refuse("json object", error(403, "Incompatible JSON: the body must be an object."))
        if set(body) - FIELDS:
            return self.refuse("fields", error(403, f"Incompatible JSON: {sorted(set(body) - FIELDS)}"))
        problem = self.problem(body)
        if problem is not None:
            return self.refuse(problem[1], error(*problem))
        scripted = await self.answer(parseaddr(body["To"])[1])
        if scripted is not None:
            return scripted
        message_id = str(uuid.uuid4())
        self.accepted.append({"headers": dict(request.headers), "body": body, "message_id": message_id})
        return JSONResponse({"To": body["To"], "SubmittedAt": datetime.now(UTC).isoformat(),
                             "MessageID": message_id, "ErrorCode": 0, "Message": "OK"})

    @staticmethod
    def problem(body: dict[str, Any]) -> tuple[int, str] | None:
        if not valid_address(body.get("From")):
            return 300, "Invalid 'From' address."
        if parseaddr(body["From"])[1] != CONFIRMED_SENDER:
            return 400, (f"The 'From' address you supplied ({body['From']}) is not a Sender Signature on your "
                         "account. Please add and confirm this address in order to be able to use it in the "
                         "'From' field of your messages.")
        if not valid_address(body.get("To")):
            return 300, f"Error parsing 'To': Illegal email address '{body.get('To')}'."
        if not body.get("TextBody") and not body.get("HtmlBody"):
            return 300, "Provide either email TextBody or HtmlBody or both."
        if "MessageStream" in body and body["MessageStream"] not in STREAMS:
            return 1235, f"The message stream for the provided 'ID' was not found: {body['MessageStream']}."
        headers = body.get("Headers", [])
        if not isinstance(headers, list) or not all(isinstance(h, dict) and set(h) == {"Name", "Value"}
                                                    for h in headers):
            return 300, "Headers must be a list of {\"Name\", \"Value\"} objects."
        metadata = body.get("Metadata", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            return 300, "Metadata values must be strings."
        return None
