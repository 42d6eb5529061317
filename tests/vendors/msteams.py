"""Microsoft Teams webhooks, as documented: a Workflows flow's HTTP trigger
(`POST /workflows/{id}/triggers/manual/paths/invoke?api-version=…&sp=…&sv=…&sig=…`, JSON; 202 with the run id,
or `{"error": {"code", "message"}}`) and a legacy connector (`POST /webhookb2/…`; 200 `1`).

Stricter than the real flow on one point: a body that is not an Adaptive Card message gets 400 here, where the
real trigger answers 202 and the flow's run then fails out of sight.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply

CARD = "application/vnd.microsoft.card.adaptive"


def flow_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers or {})


class Teams(Double):
    def __init__(self, flows: dict[str, str], connectors: set[str]):
        super().__init__([Route("/workflows/{flow}/triggers/manual/paths/invoke", self._flow, methods=["POST"]),
                          Route("/webhookb2/{rest:path}", self._connector, methods=["POST"])])
        self.flows = flows  # flow id -> signature
        self.connectors = connectors  # legacy webhook paths that exist
        self.runs: list[str] = []

    async def _flow(self, request: Request) -> Response:
        raw = await request.body()
        flow, query = request.path_params["flow"], request.query_params
        if flow not in self.flows:
            return flow_error(404, "WorkflowNotFound", f"The workflow '{flow}' could not be found.").response()
        if query.get("sig") != self.flows[flow] or query.get("api-version") is None:
            return flow_error(401, "DirectApiAuthorizationRequired",
                              "The request must be authenticated only by Shared Access scheme.").response()
        body = _card_message(request, raw)
        self.record(request, raw, body or {})
        if body is None:
            return flow_error(400, "InvalidRequestContent", "The request content is not an Adaptive Card message."
                              ).response()
        reply = await self.scripted(request.url.path)
        if reply is not None:
            return reply.response()
        run = f"08584{uuid.uuid4().int % 10**24:024d}CU00"
        self.runs.append(run)
        return Reply(202, None, {"x-ms-workflow-run-id": run}).response()

    async def _connector(self, request: Request) -> Response:
        raw = await request.body()
        if request.url.path not in self.connectors:
            return Reply(404, "Webhook Not Found").response()
        body = _card_message(request, raw)
        self.record(request, raw, body or {})
        if body is None:
            return Reply(400, "Bad payload received by generic incoming webhook.").response()
        reply = await self.scripted(request.url.path)
        return (reply or Reply(200, "1")).response()


def _card_message(request: Request, raw: bytes) -> dict[str, Any] | None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("type") != "message" or not body.get("attachments"):
        return None
    for attachment in body["attachments"]:
        content = attachment.get("content") or {}
        if attachment.get("contentType") != CARD or content.get("type") != "AdaptiveCard" or not content.get("body"):
            return None
    return body
