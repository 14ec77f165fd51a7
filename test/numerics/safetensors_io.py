"""A small, strict reader and writer of ``.safetensors`` files for NumPy arrays.

Format (https://github.com/huggingface/safetensors)::

    [8 bytes]  N, the header length, unsigned little-endian
    [N bytes]  a UTF-8 JSON object:
                 {"NAME": {"dtype": "F32", "shape": [2, 3],
                           "data_offsets": [BEGIN, END]}, ...,
                  "__metadata__": {"key": "value", ...}}     (optional)
    [rest]     the data section; tensor NAME is bytes [BEGIN, END) of it,
               row-major, little-endian

Supported dtypes: F32, F64, F16, BF16, I32, I64. NumPy has no bfloat16, so a
BF16 tensor is read as a float32 array holding the bf16 values exactly, and
written from any float array by rounding it to nearest-even bfloat16
(:func:`rotor_ref.bf16_round`) and storing the top 16 bits of the float32
pattern.

The reader validates everything before returning (it raises
:class:`SafetensorsError`): the header length against the file size, the JSON
(strict: UTF-8, an object, no duplicate keys, no NaN/Infinity), each
tensor's fields (exactly ``dtype``, ``shape``, ``data_offsets``), shapes of
non-negative integers, ``0 <= BEGIN <= END``, the byte count equal to
``prod(shape) * itemsize``, and, as the reference Rust implementation
requires, tensors that tile the data section exactly: sorted by offset, each
begins where the previous ends, the first at 0 and the last at the end of
the file (no gaps, overlaps or trailing bytes). ``__metadata__`` must map
strings to strings.

The writer orders tensors by decreasing element size, then name, and pads
the header with spaces to a multiple of 8 bytes, so every tensor is
naturally aligned in the file (as the reference implementation does).

Only NumPy and the standard library are used.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np

import rotor_ref

__all__ = ["SafetensorsError", "DTYPES", "encode", "decode", "save", "load",
           "load_with_metadata"]

# name -> (little-endian NumPy storage dtype, item size in bytes)
DTYPES = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
}

_NUMPY_TO_DTYPE = {
    np.dtype(np.float64): "F64", np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16", np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
}

_ALIASES = {"f64": "F64", "float64": "F64", "f32": "F32", "float32": "F32",
            "f16": "F16", "float16": "F16", "bf16": "BF16", "bfloat16": "BF16",
            "i64": "I64", "int64": "I64", "i32": "I32", "int32": "I32"}

# The reference implementation's limit on the header.
MAX_HEADER_BYTES = 100_000_000


class SafetensorsError(ValueError):
    """A file or image breaks the format, or a tensor cannot be stored."""


def _dtype_name(dtype) -> str:
    if isinstance(dtype, str):
        name = dtype if dtype in DTYPES else _ALIASES.get(dtype.lower())
    else:
        name = _NUMPY_TO_DTYPE.get(np.dtype(dtype))
    if name is None:
        raise SafetensorsError(f"unsupported safetensors dtype {dtype!r} "
                               f"(expected one of {', '.join(DTYPES)})")
    return name


def _to_bytes(name: str, array, dtype: str) -> bytes:
    a = np.asarray(array)
    if dtype == "BF16":
        if not np.issubdtype(a.dtype, np.floating):
            raise SafetensorsError(f"tensor {name!r}: BF16 needs a float array, "
                                   f"got {a.dtype}")
        rounded = rotor_ref.bf16_round(a).astype("<f4")  # exact in f32
        bits = (rounded.view("<u4") >> 16).astype("<u2")
        return np.ascontiguousarray(bits).tobytes()
    storage = DTYPES[dtype][0]
    if dtype.startswith("I"):
        if not np.issubdtype(a.dtype, np.integer):
            raise SafetensorsError(f"tensor {name!r}: {dtype} needs an integer "
                                   f"array, got {a.dtype}")
        info = np.iinfo(storage)
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise SafetensorsError(f"tensor {name!r}: values out of range of {dtype}")
    elif not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise SafetensorsError(f"tensor {name!r}: cannot store {a.dtype} as {dtype}")
    return np.ascontiguousarray(a.astype(storage, copy=False)).tobytes()


def encode(tensors: Mapping[str, object], metadata: Optional[Mapping[str, str]] = None,
           dtypes: Union[None, str, Mapping[str, str]] = None) -> bytes:
    """The ``.safetensors`` image of ``tensors`` (name -> array).

    ``dtypes`` picks each tensor's stored dtype: ``None`` keeps the array's
    own (float64/32/16, int64/32), a string applies to every tensor, and a
    dict maps names to dtypes (names it omits keep their own). Dtypes are
    names of the format (``"BF16"``) or aliases (``"bf16"``, ``"float32"``).
    Values are converted with NumPy's ``astype`` (float -> float rounds to
    nearest; BF16 rounds to nearest even).
    """
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("__metadata__ must map strings to strings")
    entries = []
    for name, array in tensors.items():
        if not isinstance(name, str) or not name:
            raise SafetensorsError(f"tensor names must be non-empty strings, got {name!r}")
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved")
        a = np.asarray(array)
        if isinstance(dtypes, Mapping):
            want = dtypes.get(name)
        else:
            want = dtypes
        dt = _dtype_name(want if want is not None else a.dtype)
        entries.append((name, dt, a))
    if isinstance(dtypes, Mapping):
        unknown = set(dtypes) - set(tensors)
        if unknown:
            raise SafetensorsError(f"dtypes names unknown tensors: {sorted(unknown)}")
    # Decreasing alignment, then name: every tensor naturally aligned.
    entries.sort(key=lambda e: (-DTYPES[e[1]][1], e[0]))
    header: Dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name, dt, a in entries:
        data = _to_bytes(name, a, dt)
        header[name] = {"dtype": dt, "shape": [int(d) for d in a.shape],
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _reject_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SafetensorsError(f"duplicate key {k!r} in the header")
        out[k] = v
    return out


def _reject_constant(name):
    raise SafetensorsError(f"non-finite number {name} in the header")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def decode_header(image: bytes) -> Tuple[dict, Dict[str, str], int]:
    """Validates the header of ``image``; returns (tensor entries by name,
    metadata, start of the data section)."""
    if len(image) < 8:
        raise SafetensorsError(f"file of {len(image)} bytes is too short for the "
                               "8-byte header length")
    (n,) = struct.unpack("<Q", image[:8])
    if n > MAX_HEADER_BYTES:
        raise SafetensorsError(f"header length {n} exceeds the limit of "
                               f"{MAX_HEADER_BYTES} bytes")
    if 8 + n > len(image):
        raise SafetensorsError(f"header length {n} runs past the end of the "
                               f"{len(image)}-byte file")
    raw = image[8:8 + n]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"header is not UTF-8: {e}") from None
    if not text.startswith("{"):
        raise SafetensorsError("header does not start with '{'")
    try:
        header = json.loads(text, object_pairs_hook=_reject_duplicates,
                            parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(
            isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError("__metadata__ must be an object of strings")
    data_len = len(image) - 8 - n
    spans = []
    for name, info in header.items():
        where = f"tensor {name!r}"
        if not isinstance(info, dict):
            raise SafetensorsError(f"{where}: entry is not an object")
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{where}: fields {sorted(info)} (expected "
                                   "dtype, shape, data_offsets)")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in DTYPES:
            raise SafetensorsError(f"{where}: unsupported dtype {dt!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise SafetensorsError(f"{where}: shape {shape!r} is not a list of "
                                   "non-negative integers")
        if not (isinstance(offs, list) and len(offs) == 2
                and all(_is_int(o) and o >= 0 for o in offs)):
            raise SafetensorsError(f"{where}: data_offsets {offs!r} is not two "
                                   "non-negative integers")
        begin, end = offs
        if begin > end:
            raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] end "
                                   "before they begin")
        if end > data_len:
            raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] run "
                                   f"past the {data_len}-byte data section")
        need = math.prod(shape) * DTYPES[dt][1]
        if end - begin != need:
            raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] hold "
                                   f"{end - begin} bytes but shape {shape} of {dt} "
                                   f"needs {need}")
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else "leaves a gap"
            raise SafetensorsError(f"tensor {name!r}: data_offsets [{begin}, {end}] "
                                   f"{what} (expected to begin at {pos})")
        pos = end
    if pos != data_len:
        raise SafetensorsError(f"the data section has {data_len} bytes but the "
                               f"tensors cover {pos}")
    return header, metadata, 8 + n


def decode(image: bytes) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """(tensors by name, metadata) of a ``.safetensors`` image. Arrays are
    native-endian copies; BF16 tensors come back as float32."""
    header, metadata, start = decode_header(image)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        storage = DTYPES[info["dtype"]][0]
        a = np.frombuffer(image, dtype=storage, count=(end - begin) // np.dtype(storage).itemsize,
                          offset=start + begin).reshape(info["shape"])
        if info["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        else:
            a = a.astype(np.dtype(storage).newbyteorder("="))
        out[name] = a.copy()
    return out, metadata


def save(path: str, tensors: Mapping[str, object],
         metadata: Optional[Mapping[str, str]] = None,
         dtypes: Union[None, str, Mapping[str, str]] = None) -> None:
    """Writes :func:`encode` ``(tensors, metadata, dtypes)`` to ``path``
    (through a temporary file in the same directory, renamed into place)."""
    image = encode(tensors, metadata, dtypes)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(image)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_with_metadata(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """(tensors, metadata) of the file at ``path``."""
    with open(path, "rb") as f:
        return decode(f.read())


def load(path: str) -> Dict[str, np.ndarray]:
    """The tensors of the file at ``path``, by name."""
    return load_with_metadata(path)[0]
