"""Delivery feedback from vendors: `POST /v1/feedback/{integration_id}`, authenticated by the vendor's own
signature (no Herald key), checked before anything in the body is read."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import asyncpg
from fastapi import APIRouter, Request

from core.errors import not_found
from core.settings import Settings
from services import feedback

router = APIRouter(prefix="/v1/feedback", tags=["delivery feedback"])


@router.post("/{integration_id}")
async def receive_feedback(integration_id: str, request: Request) -> dict[str, Any]:
    """200 with what the callback changed (an unknown message id changes nothing and is still 200: vendors
    retry what is not 2xx); 401 when the signature is missing or wrong; 404 for an unknown integration."""
    # The pool and settings straight from the app's state, not as dependencies: solving them is about a quarter
    # of the framework's cost per callback, and vendors post callbacks by the thousand.
    state = request.app.state
    pool: asyncpg.Pool = state.pool
    settings: Settings = state.settings
    lookup: feedback.SourceLookup = state.feedback_sources
    source = await lookup(integration_id)
    if source is None:
        raise not_found("integration", integration_id)
    # Signatures that cover the URL (Twilio's) are over the address the vendor was given, not the one a proxy
    # forwarded to.
    url = feedback.feedback_url(settings.public_url, integration_id)
    query: bytes = request.scope["query_string"]
    if query:
        url += "?" + query.decode()
    applied = await feedback.receive(pool, source, url, request.headers, await request.body(), state.sns_certificates,
                                     batches=state.feedback_batches)
    return asdict(applied)
