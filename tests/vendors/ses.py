"""Amazon SES v2 played by moto in server mode, in a process of its own on 127.0.0.1, with request signing
enforced: a request whose SigV4 signature does not match its access key's secret gets AWS's own 403.

Set up through moto's IAM before enforcement starts: one user allowed `ses:*`, its access key, and a verified
sender identity. Every request after that must be signed with that key.

`SesDouble`, lighter, plays `SendEmail` alone for the bench part `providers`, as strictly where signatures go.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

import botocore.session
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port
from tests.vendors.email_server import EmailDouble

REGION = "eu-west-1"
VERIFIED_SENDER = "alerts@herald.example"
CONFIGURATION_SET = "herald-events"
PATH = "/v2/email/outbound-emails"
TIMESTAMP = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/([0-9]{8})/([^/]+)/ses/aws4_request, "
                            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})")
_ALLOW_SES = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}]})


class MotoSes:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.access_key_id = ""
        self.secret_access_key = ""
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """moto's own server (Werkzeug's), which closes the connection after every answer."""
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> None:
        self._process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.base_url}/moto-api/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        self._set_up()

    def _set_up(self) -> None:
        session = botocore.session.get_session()
        bootstrap: dict[str, Any] = {"endpoint_url": self.base_url, "region_name": REGION,
                                     "aws_access_key_id": "AKIAIOSFODNN7BOOTSTRP",
                                     "aws_secret_access_key": "bootstrap"}
        # botocore's clients are built from service models at run time: their operations are untyped.
        iam: Any = session.create_client("iam", **bootstrap)
        iam.create_user(UserName="herald")
        iam.put_user_policy(UserName="herald", PolicyName="send", PolicyDocument=_ALLOW_SES)
        key = iam.create_access_key(UserName="herald")["AccessKey"]
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        ses: Any = session.create_client("sesv2", **bootstrap)
        ses.create_email_identity(EmailIdentity=VERIFIED_SENDER)
        ses.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        # From here on every request is authenticated: signature and access key checked against IAM.
        httpx.post(f"{self.base_url}/moto-api/reset-auth", content=b"0").raise_for_status()

    def sent(self) -> list[dict[str, Any]]:
        """What SES accepted: moto's record of each message (id, source, subject, body, destinations)."""
        data = httpx.get(f"{self.base_url}/moto-api/data.json").json()
        messages: list[dict[str, Any]] = data.get("ses", {}).get("Message", [])
        return messages

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


class SesDouble(EmailDouble):
    """SES v2 `SendEmail` without moto, for the bench part `providers`: moto spends about 5 ms of CPU on each
    request, three to six times what the other vendors' doubles spend, and on a 2-core machine its CPU and its
    slower answers counted as the adapter's. As strict as moto where an adapter can go wrong: the SigV4 signature
    is recomputed with botocore over the request as received (the headers it names, its body, its X-Amz-Date,
    which must be within five minutes) with this double's key, for service `ses` in REGION; the sender must be
    VERIFIED_SENDER. Anything else gets SES's own error: its type in `x-amzn-ErrorType`, a JSON `message`."""

    def __init__(self) -> None:
        super().__init__([Route(PATH, self.send_email, methods=["POST"])])
        self.access_key_id = "AKIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.base_url = self.base

    @staticmethod
    def error(status: int, kind: str, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": kind})

    def signature_error(self, request: Request, body: bytes) -> JSONResponse | None:
        match = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
        if match is None:
            return self.error(403, "IncompleteSignatureException", "Authorization header requires a SigV4 signature.")
        key, day, region, signed, signature = match.groups()
        if key != self.access_key_id:
            return self.error(403, "UnrecognizedClientException", "The security token included in the request is "
                                                                   "invalid.")
        stamp = request.headers.get("x-amz-date", "")
        try:
            when = datetime.strptime(stamp, TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            return self.error(403, "IncompleteSignatureException", "X-Amz-Date is missing or malformed.")
        if abs(datetime.now(UTC) - when) > timedelta(minutes=5):
            return self.error(403, "InvalidSignatureException", f"Signature expired: {stamp}.")
        names = signed.split(";")
        if day != stamp[:8] or region != REGION or not {"host", "x-amz-date"} <= set(names):
            return self.error(403, "InvalidSignatureException", "Credential scope or signed headers do not match.")
        received = AWSRequest(method=request.method, url=str(request.url), data=body,
                              headers={name: request.headers.get(name, "") for name in names})
        received.context["timestamp"] = stamp
        auth = SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), "ses", REGION)
        expected = auth.signature(auth.string_to_sign(received, auth.canonical_request(received)), received)
        if not hmac.compare_digest(expected, signature):
            return self.error(403, "InvalidSignatureException", "The request signature we calculated does not match "
                                                                 "the signature you provided.")
        return None

    async def send_email(self, request: Request) -> Response:
        body = await request.body()
        refused = self.signature_error(request, body)
        if refused is not None:
            return self.refuse("signature", refused)
        try:
            data = json.loads(body)
            sender = parseaddr(data["FromEmailAddress"])[1]
            [address] = data["Destination"]["ToAddresses"]
            simple = data["Content"]["Simple"]
            subject, parts = simple["Subject"]["Data"], simple["Body"]
        except (ValueError, KeyError, TypeError):
            return self.refuse("json", self.error(400, "BadRequestException", "The request is not a valid "
                                                                              "SendEmail request."))
        if not parts.get("Text") and not parts.get("Html"):
            return self.refuse("body", self.error(400, "BadRequestException", "The message has no body."))
        if sender != VERIFIED_SENDER:
            return self.refuse("sender", self.error(400, "MessageRejected", "Email address is not verified. The "
                                                    f"following identities failed the check in region {REGION}: "
                                                    f"{sender}"))
        scripted = await self.answer(address)
        if scripted is not None:
            return scripted
        message_id = f"0100{secrets.token_hex(16)}-{uuid.uuid4()}-000000"
        self.accepted.append({"headers": dict(request.headers), "body": data, "subject": subject,
                              "message_id": message_id})
        return JSONResponse({"MessageId": message_id}, headers={"x-amzn-RequestId": str(uuid.uuid4())})
