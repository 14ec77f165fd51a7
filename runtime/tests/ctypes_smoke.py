#!/usr/bin/env python3
# ===- ctypes_smoke.py - Uses librotor_runtime.so from Python ctypes -----=== #
#
# Part of the Rotor project.
#
# Usage: ctypes_smoke.py LIBROTOR_RUNTIME TEST_ARTIFACT_LIBRARY
#
# Builds an artifact directory around the test library, with a weights file
# holding input `b` of `add`, loads it through the C API with ctypes, calls
# `add` by position and by name (binding `b` to the weight) and checks the
# results and an error message.
#
# ===--------------------------------------------------------------------=== #

import ctypes
import json
import os
import shutil
import struct
import sys
import tempfile


class ArgInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_size_t),
                ("shape", ctypes.POINTER(ctypes.c_int64))]


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.rotor_last_error.restype = ctypes.c_char_p
    lib.rotor_tensor_data.restype = ctypes.c_void_p
    lib.rotor_tensor_shape.restype = ctypes.POINTER(ctypes.c_int64)
    lib.rotor_tensor_rank.restype = ctypes.c_size_t
    lib.rotor_tensor_data.argtypes = [ctypes.c_void_p]
    lib.rotor_tensor_shape.argtypes = [ctypes.c_void_p]
    lib.rotor_tensor_rank.argtypes = [ctypes.c_void_p]
    lib.rotor_tensor_free.argtypes = [ctypes.c_void_p]
    lib.rotor_artifact_free.argtypes = [ctypes.c_void_p]
    lib.rotor_entry_input.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                      ctypes.c_size_t, ctypes.POINTER(ArgInfo)]
    lib.rotor_call.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                               ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t,
                               ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
    lib.rotor_call_named.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
    lib.rotor_entry_input_is_weight.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.rotor_artifact_weights_path.argtypes = [ctypes.c_void_p]
    lib.rotor_artifact_weights_path.restype = ctypes.c_char_p

    with tempfile.TemporaryDirectory() as root:
        shutil.copy(sys.argv[2], os.path.join(root, "module.so"))
        arg = {"dtype": "f32", "shape": [None, 5]}
        manifest = {
            "format": "rotor-artifact", "format_version": 1, "target": "cpu",
            "library": "module.so", "weights": "weights.safetensors",
            "entries": [{"name": "add", "symbol": "rotor_entry_add",
                         "inputs": [dict(arg, name="a"), dict(arg, name="b")],
                         "outputs": [dict(arg, name="sum")]}]}
        with open(os.path.join(root, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        # weights.safetensors: b = f32[2, 5] of ones.
        header = json.dumps({"b": {"dtype": "F32", "shape": [2, 5],
                                   "data_offsets": [0, 40]}}).encode()
        header += b" " * (-len(header) % 8)
        with open(os.path.join(root, "weights.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header +
                    struct.pack("<10f", *([1.0] * 10)))

        artifact = ctypes.c_void_p()
        status = lib.rotor_artifact_load(root.encode(), 0,
                                         ctypes.byref(artifact))
        assert status == 0, lib.rotor_last_error()
        info = ArgInfo()
        assert lib.rotor_entry_input(artifact, 0, 1, ctypes.byref(info)) == 0
        assert info.name == b"b" and info.rank == 2
        assert info.shape[0] == -1 and info.shape[1] == 5

        shape = (ctypes.c_int64 * 2)(2, 5)
        data = (ctypes.c_float * 10)(*range(10))
        tensor = ctypes.c_void_p()
        assert lib.rotor_tensor_wrap(0, 2, shape, data,
                                     ctypes.byref(tensor)) == 0
        inputs = (ctypes.c_void_p * 2)(tensor, tensor)
        outputs = (ctypes.c_void_p * 1)()
        status = lib.rotor_call(artifact, b"add", inputs, 2, outputs, 1)
        assert status == 0, lib.rotor_last_error()
        out = outputs[0]
        assert lib.rotor_tensor_rank(out) == 2
        assert lib.rotor_tensor_shape(out)[0] == 2
        values = ctypes.cast(lib.rotor_tensor_data(out),
                             ctypes.POINTER(ctypes.c_float))
        assert [values[i] for i in range(10)] == [2.0 * i for i in range(10)]
        lib.rotor_tensor_free(out)

        names = (ctypes.c_char_p * 1)(b"a")
        named = (ctypes.c_void_p * 1)(tensor)
        status = lib.rotor_call_named(artifact, b"add", names, named, 1,
                                      outputs, 1)
        assert status == 0, lib.rotor_last_error()
        values = ctypes.cast(lib.rotor_tensor_data(outputs[0]),
                             ctypes.POINTER(ctypes.c_float))
        assert [values[i] for i in range(10)] == [i + 1.0 for i in range(10)]
        lib.rotor_tensor_free(outputs[0])
        assert lib.rotor_entry_input_is_weight(artifact, 0, 1) == 1
        assert lib.rotor_artifact_weights_path(artifact).endswith(
            b"/weights.safetensors")

        status = lib.rotor_call(artifact, b"nope", inputs, 2, outputs, 1)
        assert status == 4, status  # ROTOR_ERR_NOT_FOUND
        assert b"unknown entry 'nope'" in lib.rotor_last_error()

        lib.rotor_tensor_free(tensor)
        lib.rotor_artifact_free(artifact)
    print("ctypes smoke test passed")


if __name__ == "__main__":
    main()
