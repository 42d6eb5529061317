"""FCM HTTP v1 and Google's OAuth2 token endpoint, as documented.

`POST /token` takes a JWT bearer assertion (RFC 7523) signed RS256 by the service account's key, checks its
signature with the account's public key and its `iss`, `aud` and `scope`, and answers `{"access_token",
"expires_in", "token_type"}`. `POST /v1/projects/{project}/messages:send` takes only tokens it issued and a
`{"message": {"token", ...}}` body, and answers `{"name"}` or a Google API error with an FCM error code."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def error(status: int, api_status: str, message: str, fcm_code: str | None = None,
          headers: dict[str, str] | None = None) -> Reply:
    details = ([{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
               if fcm_code else [])
    return Reply(status, {"error": {"code": status, "message": message, "status": api_status, "details": details}},
                 headers or {})


class Fcm(Double):
    def __init__(self, project_id: str, client_email: str, public_key_pem: bytes):
        super().__init__([Route("/token", self._token, methods=["POST"]),
                          Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"])])
        self.project_id = project_id
        self.client_email = client_email
        self.public_key_pem = public_key_pem
        self.issued: list[str] = []  # access tokens, in the order they were issued
        self.revoked: set[str] = set()
        self.token_script: list[Reply] = []
        self.expires_in = 3599

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    async def _token(self, request: Request) -> Response:
        raw = await request.body()
        fields = dict(parse_qsl(raw.decode()))
        self.record(request, raw, fields)
        if self.token_script:
            return self.token_script.pop(0).response()
        if fields.get("grant_type") != GRANT:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        try:
            claims: dict[str, Any] = jwt.decode(fields.get("assertion", ""), self.public_key_pem,
                                                algorithms=["RS256"], audience=self.token_uri,
                                                issuer=self.client_email, options={"require": ["iat", "exp"]})
        except jwt.PyJWTError as exc:
            return _oauth_error("invalid_grant", f"Invalid JWT: {type(exc).__name__}")
        if claims.get("scope") != SCOPE or claims["exp"] - claims["iat"] > 3600 or claims["iat"] > time.time() + 60:
            return _oauth_error("invalid_scope", "Invalid OAuth scope or token lifetime.")
        token = "ya29." + secrets.token_urlsafe(24)
        self.issued.append(token)
        return Reply(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}).response()

    async def _send(self, request: Request) -> Response:
        raw = await request.body()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.issued or token in self.revoked:
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                         "THIRD_PARTY_AUTH_ERROR").response()
        if request.path_params["project"] != self.project_id:
            return error(403, "PERMISSION_DENIED", "Permission denied on the project.", "SENDER_ID_MISMATCH"
                         ).response()
        try:
            body = json.loads(raw)
            message = body["message"]
            device = message["token"]
        except (ValueError, KeyError, TypeError):
            return error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT"
                         ).response()
        self.record(request, raw, message)
        if not isinstance(device, str) or not device:
            return error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                         "INVALID_ARGUMENT").response()
        reply = await self.scripted(device)
        if reply is not None:
            return reply.response()
        return Reply(200, {"name": f"projects/{self.project_id}/messages/{secrets.randbelow(10**16)}"}).response()


def _oauth_error(code: str, description: str) -> Response:
    return Reply(400, {"error": code, "error_description": description}).response()
