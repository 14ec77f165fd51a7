#!/usr/bin/env python3
# ===- ctypes_smoke.py - Uses librotor_runtime.so from Python ctypes -----=== #
#
# Part of the Rotor project.
#
# Usage: ctypes_smoke.py LIBROTOR_RUNTIME TEST_ARTIFACT_LIBRARY
#
# Builds an artifact directory around the test library, loads it through the
# C API with ctypes, calls `add` and checks the result and an error message.
#
# ===--------------------------------------------------------------------=== #

import ctypes
import json
import os
import shutil
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

    with tempfile.TemporaryDirectory() as root:
        shutil.copy(sys.argv[2], os.path.join(root, "module.so"))
        arg = {"dtype": "f32", "shape": [None, 5]}
        manifest = {
            "format": "rotor-artifact", "format_version": 1, "target": "cpu",
            "library": "module.so",
            "entries": [{"name": "add", "symbol": "rotor_entry_add",
                         "inputs": [dict(arg, name="a"), dict(arg, name="b")],
                         "outputs": [dict(arg, name="sum")]}]}
        with open(os.path.join(root, "manifest.json"), "w") as f:
            json.dump(manifest, f)

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

        status = lib.rotor_call(artifact, b"nope", inputs, 2, outputs, 1)
        assert status == 4, status  # ROTOR_ERR_NOT_FOUND
        assert b"unknown entry 'nope'" in lib.rotor_last_error()

        lib.rotor_tensor_free(tensor)
        lib.rotor_artifact_free(artifact)
    print("ctypes smoke test passed")


if __name__ == "__main__":
    main()
