"""ctypes binding of the Rotor runtime's C API (runtime/include/rotor/runtime.h).

Used by the numerics tests to run compiled artifacts on NumPy arrays:

    rt = Runtime.from_build_dir("build")
    art = rt.load("model.rotor")
    (out,) = art.call("forward", x)

bf16 arrays travel as :class:`BF16` (their 16-bit patterns); every other
dtype is a plain NumPy array of float16/32/64 or int32/64.
"""

from __future__ import annotations

import ctypes
import glob
import os
from typing import List, Sequence

import numpy as np

_DTYPES = {0: np.float32, 1: np.float64, 2: "bf16", 3: np.float16,
           4: np.int32, 5: np.int64}
_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1,
          np.dtype(np.float16): 3, np.dtype(np.int32): 4,
          np.dtype(np.int64): 5}


class RuntimeError_(RuntimeError):
    """A runtime call failed; the message is rotor_last_error()."""


class BF16:
    """A bfloat16 array stored as its uint16 bit patterns."""

    def __init__(self, bits: np.ndarray):
        self.bits = np.require(bits, dtype=np.uint16, requirements="C")

    @staticmethod
    def from_float(x) -> "BF16":
        """Rounds to nearest even from float64/float32."""
        f = np.ascontiguousarray(x, dtype=np.float32)
        u = f.view(np.uint32).astype(np.uint64)
        rounding = ((u >> 16) & 1) + 0x7FFF
        bits = ((u + rounding) >> 16).astype(np.uint16)
        nan = np.isnan(f)
        bits[nan] = 0x7FC0
        return BF16(bits)

    def to_float(self) -> np.ndarray:
        return (self.bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)

    @property
    def shape(self):
        return self.bits.shape


class _ArgInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_size_t),
                ("shape", ctypes.POINTER(ctypes.c_int64))]


class Runtime:
    """The loaded runtime library."""

    def __init__(self, library_path: str):
        lib = ctypes.CDLL(library_path)
        self.lib = lib
        vp, sz, i64p = ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int64)
        lib.rotor_last_error.restype = ctypes.c_char_p
        lib.rotor_tensor_wrap.argtypes = [ctypes.c_int, sz, i64p, vp, ctypes.POINTER(vp)]
        lib.rotor_tensor_free.argtypes = [vp]
        lib.rotor_tensor_dtype.argtypes = [vp]
        lib.rotor_tensor_rank.argtypes = [vp]
        lib.rotor_tensor_rank.restype = sz
        lib.rotor_tensor_shape.argtypes = [vp]
        lib.rotor_tensor_shape.restype = i64p
        lib.rotor_tensor_data.argtypes = [vp]
        lib.rotor_tensor_data.restype = vp
        lib.rotor_tensor_nbytes.argtypes = [vp]
        lib.rotor_tensor_nbytes.restype = sz
        lib.rotor_artifact_load.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(vp)]
        lib.rotor_artifact_free.argtypes = [vp]
        lib.rotor_artifact_find_entry.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(sz)]
        lib.rotor_entry_num_outputs.argtypes = [vp, sz]
        lib.rotor_entry_num_outputs.restype = sz
        lib.rotor_call.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp), sz,
                                   ctypes.POINTER(vp), sz]

    @staticmethod
    def from_build_dir(build_dir: str) -> "Runtime":
        explicit = os.environ.get("ROTOR_RUNTIME_LIB")
        if explicit:
            return Runtime(explicit)
        for pattern in ("lib/librotor_runtime.so", "**/librotor_runtime.so"):
            found = sorted(glob.glob(os.path.join(build_dir, pattern), recursive=True))
            if found:
                return Runtime(found[0])
        raise FileNotFoundError(f"no librotor_runtime.so under {build_dir}")

    def check(self, status: int):
        if status != 0:
            raise RuntimeError_(self.lib.rotor_last_error().decode())

    def load(self, directory: str, device: int = 0) -> "Artifact":
        handle = ctypes.c_void_p()
        self.check(self.lib.rotor_artifact_load(directory.encode(), device,
                                                ctypes.byref(handle)))
        return Artifact(self, handle)


class Artifact:
    def __init__(self, rt: Runtime, handle: ctypes.c_void_p):
        self.rt, self.handle = rt, handle

    def __del__(self):
        if getattr(self, "handle", None):
            self.rt.lib.rotor_artifact_free(self.handle)
            self.handle = None

    def call(self, entry: str, *inputs) -> List:
        lib = self.rt.lib
        index = ctypes.c_size_t()
        self.rt.check(lib.rotor_artifact_find_entry(self.handle, entry.encode(),
                                                    ctypes.byref(index)))
        n_out = lib.rotor_entry_num_outputs(self.handle, index.value)
        keep, tensors = [], []
        try:
            for x in inputs:
                if isinstance(x, BF16):
                    data, code = x.bits, 2
                else:
                    data = np.require(x, requirements="C")  # keeps 0-d arrays 0-d
                    code = _CODES[data.dtype]
                keep.append(data)
                shape = (ctypes.c_int64 * max(data.ndim, 1))(*data.shape)
                t = ctypes.c_void_p()
                self.rt.check(lib.rotor_tensor_wrap(code, data.ndim, shape,
                                                    data.ctypes.data, ctypes.byref(t)))
                tensors.append(t)
            ins = (ctypes.c_void_p * max(len(tensors), 1))(*[t.value for t in tensors])
            outs = (ctypes.c_void_p * max(n_out, 1))()
            self.rt.check(lib.rotor_call(self.handle, entry.encode(), ins, len(tensors),
                                         outs, n_out))
            return [self._take(outs[j]) for j in range(n_out)]
        finally:
            for t in tensors:
                lib.rotor_tensor_free(t)

    def _take(self, handle) -> object:
        lib = self.rt.lib
        try:
            rank = lib.rotor_tensor_rank(handle)
            shape = tuple(lib.rotor_tensor_shape(handle)[i] for i in range(rank))
            dtype = _DTYPES[lib.rotor_tensor_dtype(handle)]
            nbytes = lib.rotor_tensor_nbytes(handle)
            raw = ctypes.string_at(lib.rotor_tensor_data(handle), nbytes) if nbytes else b""
            if dtype == "bf16":
                return BF16(np.frombuffer(raw, dtype=np.uint16).reshape(shape).copy())
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        finally:
            lib.rotor_tensor_free(handle)
