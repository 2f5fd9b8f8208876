"""Spike-driven transformers (SDT-V3) as integers, from Python.

Convert a checkpoint into a blob, inspect it, run it with the integer runtime, read its
per-layer spikes, SOPs and energy, and decode event-camera files into numpy arrays::

    import numpy as np, sdt
    blob = sdt.convert("model.pth", weight_bits=8, input_size=32)
    print(blob.inspect()["arena_bytes"])
    model = sdt.Model(blob)
    logits, records = model.run(images, stats=True)      # int32 fixed-point logits
    events = sdt.events.read("recording.raw").events      # structured (t, x, y, p)

Errors are subclasses of :class:`SdtError`.
"""

from . import events
from ._sdt import (
    Blob,
    BlobError,
    CheckpointError,
    ConversionError,
    EventFormatError,
    InputError,
    Model,
    SdtError,
    __version__,
    convert,
)

__all__ = [
    "Blob",
    "BlobError",
    "CheckpointError",
    "ConversionError",
    "EventFormatError",
    "InputError",
    "Model",
    "SdtError",
    "__version__",
    "convert",
    "events",
]
