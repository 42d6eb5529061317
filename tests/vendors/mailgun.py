"""A strict Mailgun Messages API double: `POST /v3/{domain}/messages` with HTTP Basic auth (`api`, the key) and
a multipart/form-data or urlencoded form, or Mailgun's own 400/401/404 answer; 200 with the queued id for a
good one."""

from __future__ import annotations

import base64
import time
import uuid
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr
from urllib.parse import parse_qsl

from email_validator import EmailNotValidError, validate_email
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.vendors.email_server import EmailDouble

API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
DOMAIN = "mg.herald.example"


def parse_form(content_type: str, body: bytes) -> list[tuple[str, str]] | None:
    """The fields of a multipart/form-data or urlencoded body, in order; None for any other body."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    if kind != "multipart/form-data" or "boundary=" not in content_type:
        return None
    # The legacy policy parses the same structure over ten times faster than `policy.default`, whose header
    # objects a form does not need: the double is then not the slow end of the bench's exchange. A name in RFC
    # 2231 form comes back as a tuple and is refused, as RFC 7578 says form-data names must not use it.
    document = BytesParser(policy=policy.compat32).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not document.is_multipart() or document.defects:
        return None
    form = []
    parts = document.get_payload()
    assert isinstance(parts, list)
    for part in parts:
        if not isinstance(part, Message):
            return None
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        form.append((name, payload.decode(part.get_content_charset() or "utf-8")))
    return form


def valid_address(value: str) -> bool:
    _, address = parseaddr(value)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class MailgunDouble(EmailDouble):
    def __init__(self) -> None:
        super().__init__([Route("/v3/{domain}/messages", self.messages, methods=["POST"]),
                          Route("/{path:path}", self.not_found, methods=["GET", "POST", "PUT", "DELETE"])])

    async def not_found(self, request: Request) -> Response:
        return self.refuse(f"path {request.url.path}", PlainTextResponse("404 page not found", status_code=404))

    async def messages(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return self.refuse("authorization", PlainTextResponse("Forbidden", status_code=401))
        domain = request.path_params["domain"]
        if domain != DOMAIN:
            return self.refuse("domain", JSONResponse({"message": f"Domain not found: {domain}"}, status_code=404))
        try:
            form = parse_form(request.headers.get("content-type", ""), await request.body())
        except ValueError:
            form = None
        if form is None:
            return self.refuse("encoding", JSONResponse(
                {"message": "Content-Type must be multipart/form-data or application/x-www-form-urlencoded"},
                status_code=400))
        values: dict[str, list[str]] = {}
        for name, value in form:
            values.setdefault(name, []).append(value)
        for required in ("from", "to"):
            if not values.get(required):
                return self.refuse(required, JSONResponse({"message": f"'{required}' parameter is missing"},
                                                          status_code=400))
        if not any(values.get(part) for part in ("text", "html", "amp-html", "template")):
            return self.refuse("body", JSONResponse(
                {"message": "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters "
                            "specified"}, status_code=400))
        if not valid_address(values["from"][0]):
            return self.refuse("from", JSONResponse({"message": "'from' parameter is not a valid address. "
                                                                "please check documentation"}, status_code=400))
        if not all(valid_address(to) for to in values["to"]):
            return self.refuse("to", JSONResponse({"message": "to parameter is not a valid address. please "
                                                              "check documentation"}, status_code=400))
        unknown = [name for name in values if name not in ("from", "to", "cc", "bcc", "subject", "text", "html",
                                                           "amp-html", "template", "recipient-variables")
                   and name.partition(":")[0] not in ("o", "h", "v", "t")]
        if unknown:
            return self.refuse("fields", JSONResponse({"message": f"unknown parameter(s): {unknown}"},
                                                      status_code=400))
        scripted = await self.answer(values["to"][0])
        if scripted is not None:
            return scripted
        message_id = f"<{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().hex[:12]}@{DOMAIN}>"
        self.accepted.append({"headers": dict(request.headers), "form": values, "message_id": message_id})
        return JSONResponse({"id": message_id, "message": "Queued. Thank you."})
