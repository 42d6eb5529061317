"""Delivery feedback from vendors: `POST /v1/feedback/{integration_id}`, authenticated by the vendor's own
signature (no Herald key), checked before anything in the body is read."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from api.deps import PoolDep, SettingsDep
from core.errors import not_found
from services import feedback

router = APIRouter(prefix="/v1/feedback", tags=["delivery feedback"])


@router.post("/{integration_id}")
async def receive_feedback(integration_id: str, request: Request, pool: PoolDep,
                           settings: SettingsDep) -> dict[str, Any]:
    """200 with what the callback changed (an unknown message id changes nothing and is still 200: vendors
    retry what is not 2xx); 401 when the signature is missing or wrong; 404 for an unknown integration."""
    lookup: feedback.SourceLookup = request.app.state.feedback_sources
    source = await lookup(integration_id)
    if source is None:
        raise not_found("integration", integration_id)
    # Signatures that cover the URL (Twilio's) are over the address the vendor was given, not the one a proxy
    # forwarded to.
    url = feedback.feedback_url(settings.public_url, integration_id)
    if request.url.query:
        url += "?" + request.url.query
    turns: asyncio.Semaphore = request.app.state.feedback_turns
    async with turns:
        applied = await feedback.receive(pool, source, url, request.headers, await request.body(),
                                         request.app.state.sns_certificates)
    return asdict(applied)
