"""The remote codec endpoint: the Temporal Web UI and `temporal --codec-endpoint` send sealed payloads here and
get them back readable, so an operator with an admin key sees what the server only holds encrypted.

Protocol (Temporal's): POST {endpoint}/decode or /encode with {"payloads": [{"metadata": {k: b64}, "data": b64}]}.
Browsers call it from the Temporal UI's origin (HERALD_TEMPORAL_UI_URL), so that one origin gets CORS answers.
The Web UI cannot send a Bearer key, so the same endpoint is also served at /ui/codec, where the dashboard's
login cookie (admin) is accepted: log in to the dashboard, then point the Web UI's codec setting at
http://<api>/ui/codec with "include cross-origin credentials" on.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from fastapi import APIRouter, Request, Response
from temporalio.api.common.v1 import Payload

from api.deps import AdminDep, SettingsDep
from api.errors import invalid
from api.schemas import CodecPayload, CodecPayloads
from api.web.auth import AdminPage
from core.codec import EncryptionCodec, parse_keys
from core.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])
ui_router = APIRouter(prefix="/ui/codec")

ALLOWED_HEADERS = "authorization, content-type, x-namespace"


def _cors(request: Request, response: Response, settings: Settings) -> None:
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") == settings.temporal_ui_url.rstrip("/"):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"


def _to_proto(index: int, item: CodecPayload) -> Payload:
    try:
        return Payload(metadata={k: base64.b64decode(v, validate=True) for k, v in item.metadata.items()},
                       data=base64.b64decode(item.data, validate=True))
    except binascii.Error as exc:
        raise invalid(f"payloads.{index}", f"is not base64: {exc}") from exc
    except ValueError as exc:  # protobuf refuses metadata keys that are not valid UTF-8
        raise invalid(f"payloads.{index}.metadata", str(exc)) from exc


def _from_proto(payload: Payload) -> CodecPayload:
    return CodecPayload(metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
                        data=base64.b64encode(payload.data).decode())


@router.options("/{operation}", include_in_schema=False)
@ui_router.options("/{operation}", include_in_schema=False)
async def preflight(operation: str, request: Request, settings: SettingsDep) -> Response:
    response = Response(status_code=204)
    _cors(request, response, settings)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    return response


@router.post("/{operation}", response_model=CodecPayloads)
async def run_codec(operation: Literal["encode", "decode"], body: CodecPayloads, request: Request,
                    response: Response, settings: SettingsDep, _: AdminDep) -> CodecPayloads:
    return await _run(operation, body, request, response, settings)


@ui_router.post("/{operation}", response_model=CodecPayloads, include_in_schema=False)
async def run_codec_for_the_web_ui(operation: Literal["encode", "decode"], body: CodecPayloads, request: Request,
                                   response: Response, settings: SettingsDep, _: AdminPage) -> CodecPayloads:
    return await _run(operation, body, request, response, settings)


async def _run(operation: str, body: CodecPayloads, request: Request, response: Response,
               settings: Settings) -> CodecPayloads:
    _cors(request, response, settings)
    payloads = [_to_proto(i, p) for i, p in enumerate(body.payloads)]
    if settings.payload_keys:  # with encryption off, both directions leave payloads as they are
        codec = EncryptionCodec(parse_keys(settings.payload_keys))
        try:
            payloads = await (codec.encode(payloads) if operation == "encode" else codec.decode(payloads))
        except ValueError as exc:
            raise invalid("payloads", str(exc)) from exc
    return CodecPayloads(payloads=[_from_proto(p) for p in payloads])
