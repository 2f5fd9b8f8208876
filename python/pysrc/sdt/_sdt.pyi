"""Type stubs of the native module ``sdt._sdt`` (see the ``sdt`` package for the docs)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike[str]]

__version__: str

class SdtError(Exception): ...
class BlobError(SdtError): ...
class InputError(SdtError): ...
class CheckpointError(SdtError): ...
class ConversionError(SdtError): ...
class EventFormatError(SdtError): ...

class Blob:
    """A validated model blob, 16-byte aligned in memory."""
    @staticmethod
    def load(path: _Path) -> Blob: ...
    @staticmethod
    def from_bytes(data: bytes) -> Blob: ...
    def save(self, path: _Path) -> None: ...
    def to_bytes(self) -> bytes: ...
    def __len__(self) -> int: ...
    def inspect(self, layers: bool = False) -> Dict[str, Any]:
        """The JSON of ``sdt-convert inspect`` (plus ``"layers"`` records when asked)."""

def convert(
    checkpoint: _Path,
    *,
    weight_bits: int = 8,
    input_size: int = 224,
    heads: int = 8,
    d: int = 4,
    input_absmax: float = 3.0,
    input_bits: int = 8,
    calibration: Optional[_Path] = None,
    spike_bias: float = 0.0,
    output: Optional[_Path] = None,
    progress: Optional[Callable[[str], Any]] = None,
    name: Optional[str] = None,
    class_names: Optional[List[str]] = None,
    image_mean: Optional[List[float]] = None,
    image_std: Optional[List[float]] = None,
) -> Blob:
    """Converts a .pth / .safetensors checkpoint (the options of ``sdt-convert pack``);
    ``name``, ``class_names`` and the image normalization are stored in the blob."""

class Model:
    def __init__(self, blob: Blob) -> None: ...
    @property
    def input_shape(self) -> Tuple[int, int, int]: ...
    @property
    def input_dtype(self) -> str: ...
    @property
    def input_scale(self) -> float: ...
    @property
    def classes(self) -> int: ...
    @property
    def class_names(self) -> List[str]:
        """Class names stored in the blob (empty if it has none)."""
    @property
    def metadata(self) -> Dict[str, Any]:
        """``name``, ``class_names`` and ``input`` (event framing or image normalization)."""
    @property
    def logits_frac(self) -> int: ...
    @property
    def node_names(self) -> List[str]: ...
    def arena_bytes(self, threads: int = 1) -> int: ...
    def quantize(self, x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[Any]: ...
    def run(
        self, x: npt.NDArray[Any], *, kernel: str = "spike", threads: int = 1, stats: bool = False
    ) -> Union[npt.NDArray[np.int32], Tuple[npt.NDArray[np.int32], List[Dict[str, Any]]]]:
        """int32 fixed-point logits of one input or a batch; with ``stats`` also per-node records."""
    def evaluate(
        self,
        images: npt.NDArray[np.float32],
        labels: npt.NDArray[Any],
        *,
        logits: Optional[npt.NDArray[np.float32]] = None,
        kernel: str = "spike",
        threads: int = 1,
        limit: Optional[int] = None,
    ) -> Dict[str, Any]: ...

def read_words(
    path: str,
    format: Optional[str] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    evt3_time: str = "spec",
) -> Tuple[npt.NDArray[np.uint64], Dict[str, Any]]: ...

class EventReader:
    def __init__(
        self,
        path: str,
        format: Optional[str] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
        evt3_time: str = "spec",
    ) -> None: ...
    def info(self) -> Dict[str, Any]: ...
    def next_words(self) -> Optional[npt.NDArray[np.uint64]]: ...

def frame_words(
    words: npt.NDArray[np.uint64],
    width: int,
    height: int,
    bins: int,
    *,
    window_us: Optional[int] = None,
    window_events: Optional[int] = None,
    downsample: int = 1,
    clip: int = 4,
    slices: int = 1,
    partial: bool = True,
    normalize_events: Optional[int] = None,
    normalize_max_gain: int = 4,
) -> Tuple[npt.NDArray[np.uint8], Tuple[int, int, int, int]]: ...

def classify_words(
    model: Model,
    words: npt.NDArray[np.uint64],
    width: int,
    height: int,
    **overrides: Any,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]: ...

def classify_file(
    model: Model,
    path: str,
    format: Optional[str] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    evt3_time: str = "spec",
    **overrides: Any,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]: ...
