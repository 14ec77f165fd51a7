#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into test/fuzz/corpus/.

    python3 test/fuzz/make_corpus.py

One directory per target (config, weights-check, safetensors, manifest,
npy): valid inputs, so that fuzzing starts from every path a good file takes,
and a few damaged ones near each rule. Committed; rerun after changing it.
"""

import glob
import io
import json
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None, pad=True):
    """tensors: [(name, dtype, shape, bytes)]."""
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob


def configs():
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "models", "*.json"))):
        shutil.copy(path, os.path.join(CORPUS, "config", os.path.basename(path)))
    bad = ["syntax", "nan_theta", "inf_eps", "givens_pair_range",
           "attention_list_entry", "rope_scaling_yarn_betas", "layer_types_unknown"]
    for name in bad:
        shutil.copy(os.path.join(ROOT, "test", "Frontend", "Inputs", name + ".json"),
                    os.path.join(CORPUS, "config", "bad_" + name + ".json"))


def weights():
    # The fixed model of FuzzWeightsCheck.cpp: a f32[2, 3] and b bf16[4].
    a = np.arange(6, dtype=np.float32).tobytes()
    b = bytes(8)
    good = [("a", "F32", [2, 3], a), ("b", "BF16", [4], b)]
    write("weights-check", "good.safetensors", safetensors(good, {"format": "pt"}))
    write("weights-check", "reordered.safetensors", safetensors(good[::-1]))
    write("weights-check", "wrong_shape.safetensors",
          safetensors([("a", "F32", [3, 2], a), ("b", "BF16", [4], b)]))
    write("weights-check", "extra.safetensors",
          safetensors(good + [("c", "I64", [1], bytes(8))]))
    image = bytearray(safetensors(good))
    image[0] = 0xFF
    write("weights-check", "bad_length.safetensors", bytes(image))


def runtime_safetensors():
    tensors = [("f32", "F32", [2, 2], np.ones(4, np.float32).tobytes()),
               ("f64", "F64", [3], np.ones(3, np.float64).tobytes()),
               ("f16", "F16", [2], np.ones(2, np.float16).tobytes()),
               ("bf16", "BF16", [1, 2], bytes(4)),
               ("i32", "I32", [], bytes(4)),
               ("i64", "I64", [0, 4], b""),
               ("u8", "U8", [3], bytes(3))]
    write("safetensors", "every_dtype.safetensors",
          safetensors(tensors, {"format": "pt", "note": "seed"}))
    write("safetensors", "empty.safetensors", safetensors([]))
    write("safetensors", "unpadded.safetensors", safetensors(tensors[:2], pad=False))


def manifests():
    entry = {"name": "forward", "symbol": "rotor_entry_forward",
             "inputs": [{"name": "x", "dtype": "f32", "shape": [2, None, 64]},
                        {"name": "w", "dtype": "bf16", "shape": [64, 64]}],
             "outputs": [{"name": "result0", "dtype": "f32", "shape": [2, None, 64]}]}
    m = {"format": "rotor-artifact", "format_version": 1, "target": "cpu",
         "library": "module.so", "weights": "weights.safetensors",
         "entries": [entry]}
    write("manifest", "documented.json", json.dumps(m, indent=2))
    m2 = dict(m, entries=[entry, dict(entry, name="decode", symbol="rotor_entry_decode",
                                      inputs=[{"name": "pos", "dtype": "i64", "shape": []}])])
    del m2["weights"]
    write("manifest", "two_entries.json", json.dumps(m2))
    write("manifest", "version2.json", json.dumps(dict(m, format_version=2)))


def npys():
    for name, arr in [("f32", np.arange(6, dtype=np.float32).reshape(2, 3)),
                      ("f64_fortran", np.asfortranarray(np.ones((2, 2)))),
                      ("f16", np.ones(3, np.float16)),
                      ("i64_scalar", np.array(7, np.int64)),
                      ("i32_empty", np.zeros((0, 3), np.int32)),
                      ("big_endian", np.ones(2, ">f4"))]:
        buf = io.BytesIO()
        np.save(buf, arr)
        write("npy", name + ".npy", buf.getvalue())


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(os.path.join(CORPUS, "config"))
    configs()
    weights()
    runtime_safetensors()
    manifests()
    npys()


if __name__ == "__main__":
    main()
