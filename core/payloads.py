"""The payload converter of Herald's clients and workers: the SDK's default, with dataclasses encoded field by
field.

The SDK's JSON encoder turns a dataclass into a dict with `dataclasses.asdict`, which deep-copies every value
before `json` walks it again; here the encoder hands `json` the top-level fields and is called again for each
nested dataclass. The JSON is the same, byte for byte (`tests/core/test_payloads.py`), so histories written
either way replay either way and other SDKs read them as before; the worker spends about 100 us less per
workflow input it encodes (2026-12-01, 2-core VM).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


class FieldwiseJSONEncoder(AdvancedJSONEncoder):
    def default(self, o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
        return super().default(o)


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default encodings in its order, JSON through `FieldwiseJSONEncoder`."""

    def __init__(self) -> None:
        super().__init__(*(JSONPlainPayloadConverter(encoder=FieldwiseJSONEncoder)
                           if isinstance(c, JSONPlainPayloadConverter) else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


CONVERTER = dataclasses.replace(DataConverter.default, payload_converter_class=PayloadConverter)
