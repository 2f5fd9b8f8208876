"""Event-camera files as numpy structured arrays, decoded by the Rust decoders.

Formats: Prophesee EVT 2.0 / EVT 3.0 RAW, DAT; iniVation AEDAT 2.0, 3.1, 4.0; N-MNIST binary.
The format is detected from the header or the extension (``format=`` overrides it).

Events come as a structured array of :data:`EVENT_DTYPE`: ``t`` (µs, int64), ``x``, ``y``
(int16), ``p`` (0 = OFF, 1 = ON), in 16-byte records like expelliarmus and tonic arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union
import os

import numpy as np

from . import _sdt

EVENT_DTYPE = np.dtype(
    {"names": ["t", "x", "y", "p"], "formats": ["<i8", "<i2", "<i2", "u1"],
     "offsets": [0, 8, 10, 12], "itemsize": 16}
)
"""The structured dtype of decoded events."""

PathLike = Union[str, "os.PathLike[str]"]


def _view(words: np.ndarray) -> np.ndarray:
    # Two little-endian u64 words per event share the memory layout of EVENT_DTYPE.
    return words.view(EVENT_DTYPE)


@dataclass
class Recording:
    """A decoded file: the events plus what the decoder learned about the file."""

    events: np.ndarray
    """Structured array of :data:`EVENT_DTYPE`."""
    format: str
    """Detected (or given) format: evt2, evt3, dat, aedat2, aedat31, aedat4, nmnist."""
    width: int
    height: int
    geometry_source: str
    """Where the resolution came from: "file", "option" or "default"."""
    counters: Dict[str, int] = field(default_factory=dict)
    """Decoder counters: events, malformed, non_event (well-formed units that carry no event: not errors), out_of_range, truncated_bytes."""

    def __len__(self) -> int:
        return len(self.events)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.events if dtype is None else self.events.astype(dtype)


def read(path: PathLike, format: Optional[str] = None, width: Optional[int] = None,
         height: Optional[int] = None, evt3_time: str = "spec") -> Recording:
    """Decodes a whole event file (the GIL is released while decoding).

    ``width``/``height`` override the sensor resolution (events outside it are dropped and
    counted as ``out_of_range``). ``evt3_time``: ``"spec"`` (the format documentation: time
    high words are authoritative) or ``"expelliarmus"`` (a time-low step back carries into the
    high part, as expelliarmus decodes; see ``sdt_events::evt3``). Raises :class:`sdt.EventFormatError` for unknown or damaged
    files, :class:`FileNotFoundError` / :class:`OSError` for I/O failures.
    """
    words, info = _sdt.read_words(os.fspath(path), format, width, height, evt3_time)
    return Recording(events=_view(words), format=info["format"], width=info["width"],
                     height=info["height"], geometry_source=info["geometry_source"],
                     counters=info["counters"])


class open:  # noqa: N801 - reads like the builtin: `for chunk in sdt.events.open(path)`
    """Streams a large file chunk by chunk: iterate to get structured arrays.

    ``info()`` gives format, geometry and the counters so far (final after the last chunk).
    """

    def __init__(self, path: PathLike, format: Optional[str] = None,
                 width: Optional[int] = None, height: Optional[int] = None,
                 evt3_time: str = "spec") -> None:
        self._reader = _sdt.EventReader(os.fspath(path), format, width, height, evt3_time)

    def info(self) -> Dict[str, Any]:
        return self._reader.info()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        words = self._reader.next_words()
        if words is None:
            raise StopIteration
        return _view(words)

    def __enter__(self) -> "open":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def as_events(events: Any) -> np.ndarray:
    """Any array with ``t``, ``x``, ``y``, ``p`` fields (a :class:`Recording`, expelliarmus or
    tonic output) as a contiguous :data:`EVENT_DTYPE` array."""
    events = np.asarray(events)
    if events.dtype == EVENT_DTYPE and events.flags.c_contiguous:
        return events
    out = np.empty(len(events), EVENT_DTYPE)
    for name in ("t", "x", "y", "p"):
        out[name] = events[name]
    return out


def frames(events: Any, width: int, height: int, bins: int, *,
           window_us: Optional[int] = None, window_events: Optional[int] = None,
           downsample: int = 1, clip: int = 4, slices: int = 1,
           partial: bool = True, normalize_events: Optional[int] = None,
           normalize_max_gain: int = 4) -> np.ndarray:
    """Count frames of the core's framer: ``uint8`` array ``(windows, T, 2S, H', W')``.

    Give ``window_us`` (each of the ``bins`` bins spans that many µs) or ``window_events``
    (each bin takes that many events). ``H' = height // downsample``; counts saturate at
    ``clip``. Each bin is cut into ``slices`` equal parts, channel ``2s + p`` counting
    polarity ``p`` in part ``s``. A last, incomplete window is kept when ``partial`` and it
    received events.

    ``normalize_events=N`` frames as a blob with a count normalization expects (its
    ``Model.metadata["input"]["framing"]["normalize"]``): every count of a bin of ``n < N``
    events is multiplied by ``round(N / n)``, at most ``normalize_max_gain``, then clipped,
    bin by bin as the streaming classifier does. ``None`` or 0: counts as seen.
    """
    ev = as_events(events)
    flat, shape = _sdt.frame_words(ev.view("<u8"), width, height, bins, window_us=window_us,
                                   window_events=window_events, downsample=downsample,
                                   clip=clip, slices=slices, partial=partial,
                                   normalize_events=normalize_events,
                                   normalize_max_gain=normalize_max_gain)
    return flat.reshape((-1,) + tuple(shape))


def classify(model: "_sdt.Model", events: Any, width: int, height: int, *,
             kernel: str = "spike", window_us: Optional[int] = None,
             window_events: Optional[int] = None, bins: Optional[int] = None,
             hop: Optional[int] = None, average: int = 1, downsample: Optional[int] = None,
             clip: Optional[int] = None, slices: Optional[int] = None,
             normalize_events: Optional[int] = None,
             normalize_max_gain: int = 4) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Classifies time-ordered events from a ``width × height`` sensor window by window with
    the core's streaming classifier, as ``sdt-dvs classify`` and the firmware do.

    Returns ``(windows, summary)``: one dict per window (``label``, ``name``, ``confidence``,
    ``start_us``, ``end_us``, ``sops``, ``energy_uj``, ...) and the totals with the framing
    used. Each framing argument left ``None`` comes from the blob's metadata (bin length,
    bins per window, hop, downsampling, clip, slices, count normalization), so a
    self-describing blob needs none; ``normalize_events=0`` turns its normalization off.
    """
    ev = as_events(events)
    return _sdt.classify_words(model, ev.view("<u8"), width, height, kernel=kernel,
                               window_us=window_us, window_events=window_events, bins=bins,
                               hop=hop, average=average, downsample=downsample, clip=clip,
                               slices=slices, normalize_events=normalize_events,
                               normalize_max_gain=normalize_max_gain)


def classify_file(model: "_sdt.Model", path: PathLike, format: Optional[str] = None,
                  width: Optional[int] = None, height: Optional[int] = None,
                  evt3_time: str = "spec",
                  **overrides: Any) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Classifies an event file as :func:`classify` classifies events in memory, but reads it
    chunk by chunk (the GIL released), as ``sdt-dvs classify`` does: memory stays that of one
    chunk and the results, however long the recording.

    ``format``, ``width``, ``height`` and ``evt3_time`` as in :func:`read` (the sensor size
    comes from the file unless given). ``overrides``: the keyword arguments of
    :func:`classify` (``kernel``, ``window_us``, ``bins``, ``normalize_events``, ...); each
    left out comes from the blob. The summary's ``input_errors`` says what the decoder
    skipped (``malformed`` units, events ``out_of_range``, ``truncated_bytes`` of a cut-off
    end); the windows before a damaged part are kept. Raises :class:`sdt.EventFormatError`
    for unknown files or damaged headers, :class:`sdt.InputError` for bad arguments.
    """
    return _sdt.classify_file(model, os.fspath(path), format, width, height, evt3_time,
                              **overrides)


__all__ = ["EVENT_DTYPE", "Recording", "as_events", "classify", "classify_file", "frames",
           "open", "read"]
