"""The payload converter of Herald's clients and workers: the SDK's default, with dataclasses encoded field by
field.

The SDK's JSON encoder turns a dataclass into a dict with `dataclasses.asdict`, which deep-copies every value
before `json` walks it again; here the encoder hands `json` the top-level fields and is called again for each
nested dataclass. The JSON is the same, byte for byte (`tests/core/test_payloads.py`), so histories written
either way replay either way and other SDKs read them as before; the worker spends about 100 us less per
workflow input it encodes (2026-12-01, 2-core VM).

Decoding, the SDK asks `typing.get_type_hints` for every dataclass in every payload (each activity's input, each
workflow's), which walks the class's MRO and builds a new dict each time: about 5% of a worker's CPU in a plain
send (py-spy, 2026-12-01, 2-core VM). A class's hints never change once it is defined, so the SDK's converter
module is given a cached `get_type_hints`, once, when this module is imported.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

import temporalio.converter._payload_converter as _sdk_converter
from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


@functools.cache
def cached_type_hints(cls: Any) -> dict[str, Any]:
    """`typing.get_type_hints` of a class (a dataclass or a TypedDict: all the converter asks it for), once."""
    return typing.get_type_hints(cls)


# Only where the SDK calls it by this name, with the class alone: another version that does not is left as it is.
if getattr(_sdk_converter, "get_type_hints", None) is typing.get_type_hints:
    setattr(_sdk_converter, "get_type_hints", cached_type_hints)  # noqa: B010


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
