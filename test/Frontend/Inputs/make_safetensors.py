"""Writes a .safetensors file holding the weights that a model's `forward`
entry takes, read from `rotorc CONFIG -emit=rotor` output, filled with zeros;
options damage it to exercise rotorc's checks.

    make_safetensors.py IR OUT [--drop NAME] [--extra NAME] [--shape NAME=AxB]
                        [--dtype NAME=BF16] [--bad-offsets NAME]
                        [--header-length N] [--truncate N]
                        [--set NAME:FIELD=JSON] [--gap N] [--trailing N]
                        [--duplicate NAME] [--header TEXT]

--set replaces one field of a tensor's header entry (or adds one); --gap
leaves N unused data bytes after the first tensor; --trailing appends N bytes
after the last; --duplicate repeats a tensor's entry in the header text;
--header replaces the whole header text.
"""

import argparse
import json
import re
import struct

DTYPES = {"f32": ("F32", 4), "bf16": ("BF16", 2), "f16": ("F16", 2)}
SIZES = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8}


def weights_of(ir_path):
    """(name, dtype, shape) of every weight argument of @forward."""
    with open(ir_path) as f:
        line = next(l for l in f if "func.func @forward(" in l)
    out = []
    for ty, name in re.findall(r"tensor<([^>]*)> \{rotor\.name = \"([^\"]+)\"\}", line):
        if name in ("input_ids", "logits"):
            continue
        *dims, elem = ty.split("x") if "x" in ty else [ty]
        out.append((name, DTYPES[elem][0], [int(d) for d in dims]))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ir")
    p.add_argument("out")
    p.add_argument("--drop", action="append", default=[])
    p.add_argument("--extra", action="append", default=[])
    p.add_argument("--shape", action="append", default=[])
    p.add_argument("--dtype", action="append", default=[])
    p.add_argument("--bad-offsets", action="append", default=[])
    p.add_argument("--header-length", type=int)
    p.add_argument("--truncate", type=int)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--gap", type=int, default=0)
    p.add_argument("--trailing", type=int, default=0)
    p.add_argument("--duplicate", action="append", default=[])
    p.add_argument("--header")
    a = p.parse_args()

    tensors = [(n, d, s) for n, d, s in weights_of(a.ir) if n not in a.drop]
    tensors += [(n, "F32", [2, 2]) for n in a.extra]
    shapes = dict(kv.split("=") for kv in a.shape)
    dtypes = dict(kv.split("=") for kv in a.dtype)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape in tensors:
        if name in shapes:
            shape = [int(d) for d in shapes[name].split("x")] if shapes[name] else []
        dtype = dtypes.get(name, dtype)
        size = SIZES[dtype]
        for d in shape:
            size *= d
        end = offset + size + (8 if name in a.bad_offsets else 0)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}
        offset += size
        if len(header) == 2:
            offset += a.gap
    offset += a.trailing
    for item in a.set:
        target, value = item.split("=", 1)
        name, field = target.split(":")
        header[name][field] = json.loads(value)
    text = json.dumps(header)
    for name in a.duplicate:
        entry = json.dumps({name: header[name]})[1:-1]
        text = text[:-1] + ", " + entry + "}"
    if a.header is not None:
        text = a.header
    text = text.encode()
    text += b" " * (-len(text) % 8)
    length = len(text) if a.header_length is None else a.header_length
    blob = struct.pack("<Q", length) + text + bytes(offset)
    if a.truncate is not None:
        blob = blob[: a.truncate]
    with open(a.out, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    main()
