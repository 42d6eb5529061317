"""Optional OpenTelemetry tracing (`pip install 'herald[tracing]'`, then HERALD_OTLP_ENDPOINT): one trace follows a
notification from the HTTP request through its workflow and activities.

The API's request span (FastAPI instrumentation) is the parent of the workflow start: accept stores its
`traceparent` with the start intent, and the worker that starts the workflow from the outbox continues it.
Temporal's tracing interceptor carries the context in the workflow's headers, so the worker's workflow and
activity spans join the same trace, however much later and on whichever worker they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider


def provider_from_settings(settings: Settings, service: str) -> TracerProvider | None:
    """A provider exporting to HERALD_OTLP_ENDPOINT (OTLP over HTTP), or None when tracing is off."""
    if not settings.otlp_endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError("HERALD_OTLP_ENDPOINT is set but the tracing extra is not installed: "
                           "pip install 'herald[tracing]'") from exc
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


def client_interceptors(provider: TracerProvider | None) -> list[Any]:
    """Temporal client interceptors; a worker built on the client uses them too."""
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("herald"))]


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="health,ready,metrics")


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span in progress (the API request's), or None when nothing is traced."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Runs the block as part of the trace `traceparent` names (a start from the outbox, in a worker)."""
    if not traceparent:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)
