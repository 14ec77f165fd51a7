"""The CUDA target's kernels for linalg.generic (lib/Target/CUDA/
GenericKernel.cpp), run without a GPU: the generated kernel text of
`rotorc -emit=cuda` is compiled by the host C++ compiler over a small shim
of the CUDA names it uses (blockIdx/threadIdx/gridDim, LaunchArgs, the bf16
conversions), each kernel's grid-stride loop run by 256 emulated threads of
one block, on random inputs of awkward sizes, against NumPy.

The launch convention (GenericKernel.h): ptr = inputs, inits, results;
dim = loop bounds, then every input's and init's sizes.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import _build_dir, _missing
from rotor_runtime import BF16

SHIM = r"""
#include <math.h>
#include <cmath>
#include <cstdint>
#include <cstring>
struct Dim3 { unsigned x = 0, y = 0, z = 0; };
static Dim3 blockIdx, threadIdx, gridDim;
#define __global__
#define __device__
#define __constant__
#define __grid_constant__
#define __launch_bounds__(...)
struct __nv_bfloat16 { uint16_t bits; };
namespace rotor { namespace cuda {
struct LaunchArgs { void *ptr[16]; long long dim[24]; float f[8]; };
inline float toF32(float x) { return x; }
inline float toF32(__nv_bfloat16 x) {
  uint32_t u = uint32_t(x.bits) << 16; float f; std::memcpy(&f, &u, 4); return f;
}
template <typename T> T fromF32(float x);
template <> inline float fromF32<float>(float x) { return x; }
template <> inline __nv_bfloat16 fromF32<__nv_bfloat16>(float x) {
  uint32_t u; std::memcpy(&u, &x, 4);
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even (finite inputs)
  return __nv_bfloat16{uint16_t(u >> 16)};
}
}}
"""

MODULE = r"""
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#lead = affine_map<(d0, d1, d2) -> (d1, d2)>
#xin = affine_map<(d0, d1, d2, d3) -> (d0, d1 + d3, d2)>
#wk = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#yout = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @row_terms(%x: tensor<?x37xf32>, %g: tensor<?x37xbf16>, %i0: tensor<?xf32>, %i1: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>) {
  %zero = arith.constant 0.0 : f32
  %r:2 = linalg.generic {indexing_maps = [#id2, #id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %g : tensor<?x37xf32>, tensor<?x37xbf16>) outs(%i0, %i1 : tensor<?xf32>, tensor<?xf32>) {
  ^bb0(%a: f32, %b: bf16, %s: f32, %m: f32):
    %bf = arith.extf %b : bf16 to f32
    %sq = arith.mulf %a, %a : f32
    %s2 = arith.addf %s, %sq : f32
    %pos = arith.cmpf ogt, %bf, %zero : f32
    %abs = math.absf %bf : f32
    %sel = arith.select %pos, %abs, %bf : f32
    %m2 = arith.maximumf %m, %sel : f32
    linalg.yield %s2, %m2 : f32, f32
  } -> (tensor<?xf32>, tensor<?xf32>)
  return %r#0, %r#1 : tensor<?xf32>, tensor<?xf32>
}
func.func @leading_sum(%x: tensor<?x5x6xf32>, %i: tensor<5x6xbf16>) -> tensor<5x6xbf16> {
  %r = linalg.generic {indexing_maps = [#id3, #lead], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x : tensor<?x5x6xf32>) outs(%i : tensor<5x6xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %of = arith.extf %o : bf16 to f32
    %s = arith.addf %of, %a : f32
    %t = arith.truncf %s : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<5x6xbf16>
  return %r : tensor<5x6xbf16>
}
func.func @conv_like(%x: tensor<?x?x4xf32>, %w: tensor<4x3xf32>, %i: tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  %r = linalg.generic {indexing_maps = [#xin, #wk, #yout], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x?x4xf32>, tensor<4x3xf32>) outs(%i : tensor<?x?x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x?x4xf32>
  return %r : tensor<?x?x4xf32>
}
func.func @indexed(%ids: tensor<?x5xi64>, %y: tensor<?x5xf32>, %i: tensor<?x5xf32>) -> tensor<?x5xf32> {
  %three = arith.constant 3 : i64
  %r = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%ids, %y : tensor<?x5xi64>, tensor<?x5xf32>) outs(%i : tensor<?x5xf32>) {
  ^bb0(%k: i64, %v: f32, %o: f32):
    %j = linalg.index 1 : index
    %ji = arith.index_cast %j : index to i64
    %m = arith.muli %ji, %three : i64
    %d = arith.subi %m, %k : i64
    %f = arith.sitofp %d : i64 to f32
    %t = math.tanh %v : f32
    %e = math.exp %t : f32
    %s = arith.addf %f, %e : f32
    linalg.yield %s : f32
  } -> tensor<?x5xf32>
  return %r : tensor<?x5xf32>
}
"""


class LaunchArgs(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p * 16), ("dim", ctypes.c_longlong * 24),
                ("f", ctypes.c_float * 8)]


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    rotorc = os.path.join(_build_dir(), "bin", "rotorc")
    if not os.path.exists(rotorc):
        _missing("bin/rotorc")
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        pytest.skip("no host C++ compiler")
    d = tmp_path_factory.mktemp("cuda_generic")
    src = d / "m.mlir"
    src.write_text(MODULE)
    text = subprocess.run([rotorc, str(src), "-emit=cuda"], check=True,
                          capture_output=True, text=True).stdout
    bodies = re.findall(r"// linalg\.generic:.*?_cfg\[4\] = \{[^}]*\};\n", text, re.S)
    names = [re.search(r"\n(rotor_k\d+)\(", b).group(1) for b in bodies]
    assert len(bodies) == 4, text
    code = SHIM + "\n".join(bodies)
    for n in names:
        code += (f'extern "C" void run_{n}(rotor::cuda::LaunchArgs *a) {{\n'
                 f"  gridDim.x = 1; blockIdx.x = 0;\n"
                 f"  for (unsigned t = 0; t < 256; ++t) {{ threadIdx.x = t; {n}(*a); }}\n}}\n")
    (d / "k.cpp").write_text(code)
    lib = d / "k.so"
    subprocess.run([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", "-w", "-o", str(lib),
                    str(d / "k.cpp")], check=True)
    so = ctypes.CDLL(str(lib))
    return [getattr(so, f"run_{n}") for n in names]


def launch(fn, arrays, loop_bounds, operand_shapes):
    a = LaunchArgs()
    for i, x in enumerate(arrays):
        a.ptr[i] = x.ctypes.data
    dims = list(loop_bounds) + [s for shape in operand_shapes for s in shape]
    for i, v in enumerate(dims):
        a.dim[i] = v
    fn(ctypes.byref(a))


def test_row_sums_and_max_two_outputs(kernels):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 37)).astype(np.float32)
    g = BF16.from_float(rng.standard_normal((7, 37)))
    i0 = rng.standard_normal(7).astype(np.float32)
    i1 = np.full(7, -5.0, np.float32)
    o0, o1 = np.zeros(7, np.float32), np.zeros(7, np.float32)
    launch(kernels[0], [x, g.bits, i0, i1, o0, o1], [7, 37],
           [x.shape, g.shape, i0.shape, i1.shape])
    gf = g.to_float()
    np.testing.assert_allclose(o0, i0 + (x.astype(np.float64) ** 2).sum(1), rtol=1e-5)
    sel = np.where(gf > 0, np.abs(gf), gf)
    np.testing.assert_array_equal(o1, np.maximum(-5.0, sel.max(1)).astype(np.float32))


def test_sum_over_the_leading_dim_in_bf16(kernels):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((11, 5, 6)).astype(np.float32)
    init = BF16.from_float(rng.standard_normal((5, 6)))
    out = BF16.from_float(np.zeros((5, 6)))
    launch(kernels[1], [x, init.bits, out.bits], [11, 5, 6], [x.shape, (5, 6)])
    # Each step rounds to bf16, as the body's truncf says.
    acc = init.to_float().astype(np.float32)
    for k in range(11):
        acc = BF16.from_float((acc + x[k]).astype(np.float64)).to_float().astype(np.float32)
    np.testing.assert_array_equal(out.to_float(), acc)


def test_convolution_map_with_a_sum_of_loop_indices(kernels):
    rng = np.random.default_rng(3)
    b, t, k = 2, 9, 3
    x = rng.standard_normal((b, t + k - 1, 4)).astype(np.float32)
    w = rng.standard_normal((4, k)).astype(np.float32)
    init = rng.standard_normal((b, t, 4)).astype(np.float32)
    out = np.zeros_like(init)
    launch(kernels[2], [x, w, init, out], [b, t, 4, k], [x.shape, w.shape, init.shape])
    ref = init.astype(np.float64).copy()
    for j in range(k):
        ref += x[:, j:j + t, :] * w[:, j]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_index_integer_ops_and_math(kernels):
    rng = np.random.default_rng(4)
    ids = rng.integers(-50, 50, size=(13, 5)).astype(np.int64)
    y = rng.standard_normal((13, 5)).astype(np.float32)
    init = np.zeros((13, 5), np.float32)
    out = np.zeros_like(init)
    launch(kernels[3], [ids, y, init, out], [13, 5], [ids.shape, y.shape, init.shape])
    ref = (np.arange(5)[None, :] * 3 - ids) + np.exp(np.tanh(y.astype(np.float64)))
    np.testing.assert_allclose(out, ref, rtol=1e-5)
