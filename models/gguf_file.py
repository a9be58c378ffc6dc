"""A minimal GGUF reader: metadata and tensor table in milliseconds, tensors dequantized one by one.

`gguf.GGUFReader` parses every field, including a 49k-entry vocabulary, which costs about 3 s per
open (reference/transformers-notes.md §6); a node only needs the scalar metadata and the few
tensors of its blocks. This reader walks the header with `struct`, skips string arrays, memory-maps
the file and leaves dequantization to the public `gguf.dequantize`. The `gguf` package is imported
only when a GGUF file is opened, so safetensors models need no gguf install.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from gguf import GGMLQuantizationType

_MAGIC = b"GGUF"
_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32  # llama.cpp's, when `general.alignment` is absent
_STRING, _ARRAY = 8, 9
# fixed-width metadata value types: struct format by GGUF type id
_SCALAR = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}


@dataclass(frozen=True)
class GgufTensorInfo:
    """Where one tensor lives in the file; `shape` in torch order (rows last-but-one)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: GGMLQuantizationType
    offset_bytes: int  # from the start of the file
    nbytes: int


class GgufFile:
    """One GGUF file's metadata and tensors. Cheap to open; tensors are read on demand."""

    def __init__(self, path: Path, metadata: dict[str, Any], tensors: dict[str, GgufTensorInfo]):
        self.path = path
        self.metadata = metadata  # string arrays (vocabularies) are replaced by their length
        self.tensors = tensors
        self._blob = np.memmap(path, mode="r", dtype=np.uint8)

    @classmethod
    def open(cls, path: str | Path) -> GgufFile:
        """Parse the header and tensor table; raises ValueError if `path` is not a GGUF v2/v3 file."""
        path = Path(path)
        blob = np.memmap(path, mode="r", dtype=np.uint8)
        if bytes(blob[:4]) != _MAGIC:
            raise ValueError(f"{path} does not start with the GGUF magic bytes")
        version, tensor_count, kv_count = struct.unpack_from("<IQQ", blob, 4)
        if version not in _VERSIONS:
            raise ValueError(f"{path} is GGUF v{version}; only v2 and v3 are supported")
        pos = 24
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key, pos = _read_string(blob, pos)
            (value_type,) = struct.unpack_from("<I", blob, pos)
            metadata[key], pos = _read_value(blob, pos + 4, value_type)
        entries = []
        for _ in range(tensor_count):
            name, pos = _read_string(blob, pos)
            (n_dims,) = struct.unpack_from("<I", blob, pos)
            dims = struct.unpack_from(f"<{n_dims}Q", blob, pos + 4)
            ggml_type, offset = struct.unpack_from("<IQ", blob, pos + 4 + 8 * n_dims)
            pos += 4 + 8 * n_dims + 12
            entries.append((name, tuple(reversed(dims)), _gguf().GGMLQuantizationType(ggml_type), offset))
        alignment = int(metadata.get("general.alignment", _DEFAULT_ALIGNMENT))
        data_start = (pos + alignment - 1) // alignment * alignment
        tensors = {
            name: GgufTensorInfo(name, shape, qtype, data_start + offset, _nbytes(qtype, shape))
            for name, shape, qtype, offset in entries
        }
        return cls(path, metadata, tensors)

    def read(self, name: str) -> torch.Tensor:
        """Tensor `name` dequantized to float32 in torch layout ((out, in) for a weight)."""
        info = self.tensors[name]
        raw = self._blob[info.offset_bytes : info.offset_bytes + info.nbytes]
        gguf = _gguf()
        if info.ggml_type == gguf.GGMLQuantizationType.Q8_0:
            return _dequantize_q8_0(raw, info.shape)
        rows = prod(info.shape[:-1])
        values = gguf.dequantize(raw.reshape(rows, info.nbytes // rows), info.ggml_type)
        return torch.from_numpy(np.array(values, dtype=np.float32).reshape(info.shape))


def _dequantize_q8_0(raw: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    """Q8_0 in torch, same arithmetic as `gguf.dequantize` (fp16 scale × int8, in fp32) but ~20× faster.

    Embedding matrices are usually Q8_0 and large (SmolLM2: 28M values, about 3 s in numpy).
    """
    gguf = _gguf()
    block_elements, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0]
    blocks = np.array(raw).reshape(-1, block_bytes)  # [fp16 scale | block_elements × int8]
    scales = torch.from_numpy(blocks[:, :2].copy().view(np.float16)).float()
    values = torch.from_numpy(blocks[:, 2 : 2 + block_elements].view(np.int8)).to(torch.float32)
    return values.mul_(scales).reshape(shape)


def _gguf():
    """The `gguf` package, imported on first use."""
    try:
        import gguf
    except ImportError as e:
        raise ImportError("reading .gguf files needs the gguf package: pip install gguf") from e
    return gguf


def _nbytes(qtype: GGMLQuantizationType, shape: tuple[int, ...]) -> int:
    block_elements, block_bytes = _gguf().GGML_QUANT_SIZES[qtype]
    return prod(shape) // block_elements * block_bytes


def _read_string(blob: np.ndarray, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", blob, pos)
    return bytes(blob[pos + 8 : pos + 8 + length]).decode("utf-8"), pos + 8 + length


def _read_value(blob: np.ndarray, pos: int, value_type: int) -> tuple[Any, int]:
    """One metadata value and the offset past it; a string array becomes its length."""
    if value_type in _SCALAR:
        fmt = _SCALAR[value_type]
        return struct.unpack_from(fmt, blob, pos)[0], pos + struct.calcsize(fmt)
    if value_type == _STRING:
        return _read_string(blob, pos)
    if value_type == _ARRAY:
        element_type, count = struct.unpack_from("<IQ", blob, pos)
        pos += 12
        if element_type in _SCALAR:
            fmt = _SCALAR[element_type]
            width = struct.calcsize(fmt)
            return list(struct.unpack_from(f"<{count}{fmt[1]}", blob, pos)), pos + count * width
        if element_type == _STRING:
            for _ in range(count):
                (length,) = struct.unpack_from("<Q", blob, pos)
                pos += 8 + length
            return count, pos
    raise ValueError(f"GGUF metadata value of type {value_type} is not supported")
