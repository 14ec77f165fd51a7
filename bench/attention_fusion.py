"""Times the attention fusions and specializations on the CPU: each module
compiled by rotorc with the pass on and off, the minimum of N calls through
the runtime (OMP_NUM_THREADS from the environment).

    OMP_NUM_THREADS=1 python3 bench/attention_fusion.py rope|dilation|gqa|rotations

Results: bench/results/cpu-attention-fusion.md.
"""
import os, subprocess, sys, time, tempfile
import numpy as np
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "numerics"))
from rotor_runtime import Runtime

BUILD = os.environ.get("ROTOR_BUILD_DIR", os.path.join(HERE, "..", "build"))
rt = Runtime.from_build_dir(BUILD)
work = tempfile.mkdtemp()

def compile(text, *flags):
    src = os.path.join(work, f"m{len(os.listdir(work))}.mlir")
    out = src[:-5] + ".rotor"
    open(src, "w").write(text)
    subprocess.run([BUILD + "/bin/rotorc", src, "-o", out, "-q", *flags], check=True)
    return rt.load(out)

def timeit(art, args, n=5):
    art.call("f", *args)
    best = 1e9
    for _ in range(n):
        t = time.perf_counter(); art.call("f", *args); best = min(best, time.perf_counter() - t)
    return best

rng = np.random.default_rng(0)
which = sys.argv[1] if len(sys.argv) > 1 else ""
if which not in ("rope", "dilation", "gqa", "rotations"):
    sys.exit("usage: attention_fusion.py rope|dilation|gqa|rotations")
if which == "rope":
    S, HQ, HKV, D = 2048, 8, 2, 128
    qt, kt, pt = f"tensor<1x{HQ}x?x{D}xf32>", f"tensor<1x{HKV}x?x{D}xf32>", "tensor<?xi64>"
    text = (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}, %p: {pt}) -> {qt} {{\n"
            f"  %qr = rotor.rope %q, %p {{base = 500000.0 : f64}} : {qt}, {pt}\n"
            f"  %kr = rotor.rope %k, %p {{base = 500000.0 : f64}} : {kt}, {pt}\n"
            f"  %o = rotor.attention %qr, %kr, %v {{mask = #rotor.mask<causal = true>}} : {qt}, {kt}, {kt}\n"
            f"  return %o : {qt}\n}}\n")
    for s in (512, 2048):
        args = [rng.standard_normal((1, HQ, s, D)).astype(np.float32),
                rng.standard_normal((1, HKV, s, D)).astype(np.float32),
                rng.standard_normal((1, HKV, s, D)).astype(np.float32),
                np.arange(s, dtype=np.int64)]
        for name, flags in [("unfused", ("--fuse-rope=false",)), ("q fused", ()), ("q+k fused", ("--fuse-key-rope",))]:
            print(f"rope S={s}: {name}: {timeit(compile(text, *flags), args)*1e3:.2f} ms", flush=True)
elif which == "dilation":
    S, H, D = 4096, 4, 64
    t = f"tensor<1x{H}x?x{D}xf32>"
    text = (f"func.func @f(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
            f"  %o = rotor.attention %q, %k, %v {{mask = #rotor.mask<causal = true, window_left = 255, dilation = 4>}} : {t}, {t}, {t}\n"
            f"  return %o : {t}\n}}\n")
    args = [rng.standard_normal((1, H, S, D)).astype(np.float32) for _ in range(3)]
    for name, flags in [("direct", ("--dilation-relayout=false",)), ("relayout", ())]:
        print(f"dilation 4, window 256, S={S}: {name}: {timeit(compile(text, *flags), args)*1e3:.2f} ms", flush=True)
elif which == "gqa":
    HQ, HKV, D, SK = 32, 8, 128, 4096
    qt, kt = f"tensor<1x{HQ}x1x{D}xf32>", f"tensor<1x{HKV}x?x{D}xf32>"
    text = (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}) -> {qt} {{\n"
            f"  %o = rotor.attention %q, %k, %v {{mask = #rotor.mask<causal = true>}} : {qt}, {kt}, {kt}\n"
            f"  return %o : {qt}\n}}\n")
    args = [rng.standard_normal((1, HQ, 1, D)).astype(np.float32),
            rng.standard_normal((1, HKV, SK, D)).astype(np.float32),
            rng.standard_normal((1, HKV, SK, D)).astype(np.float32)]
    for name, flags in [("per head", ("--pack-gqa=false",)), ("packed", ())]:
        print(f"decode Hq=32 Hkv=8 Sk={SK}: {name}: {timeit(compile(text, *flags), args, n=20)*1e6:.0f} us", flush=True)
elif which == "rotations":
    # rotate(givens(rope(q))) with D/2 learned rotations, and the chain alone,
    # against the same attention without the chain. The three modules are
    # timed in interleaved rounds (the minimum of each), so that load on a
    # shared machine hits them alike.
    HQ, HKV, D, N = 8, 2, 128, 64
    qt, kt, pt = f"tensor<1x{HQ}x?x{D}xf32>", f"tensor<1x{HKV}x?x{D}xf32>", "tensor<?xi64>"
    at, mt = f"tensor<{N}xf32>", f"tensor<{D}x{D}xf32>"
    pairs = "[" + ", ".join(f"({i}, {D - 1 - i})" for i in range(N)) + "]"
    def chain_module(ops):
        body, q = "", "%q"
        for n, op in enumerate(ops):
            rhs = {"rope": f"rotor.rope {q}, %p {{base = 500000.0 : f64}} : {qt}, {pt}",
                   "givens": f"rotor.givens {q}, %t pairs {pairs} : {qt}, {at}",
                   "rotate": f"rotor.rotate {q}, %m : {qt}, {mt}"}[op]
            body += f"  %x{n} = {rhs}\n"
            q = f"%x{n}"
        return (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}, %p: {pt}, %t: {at}, %m: {mt}) -> {qt} {{\n{body}"
                f"  %o = rotor.attention {q}, %k, %v {{mask = #rotor.mask<causal = true>}} : {qt}, {kt}, {kt}\n"
                f"  return %o : {qt}\n}}\n")
    plain = compile(chain_module([]))
    for chain in (["rope", "givens", "rotate"], ["givens"]):
        arts = {"no chain": plain,
                "unfused": compile(chain_module(chain), "--fuse-rotations=false", "--fuse-rope=false"),
                "fused": compile(chain_module(chain))}
        for s in (1, 512, 2048):
            sk = 2048 if s == 1 else s
            args = [rng.standard_normal((1, HQ, s, D)).astype(np.float32),
                    rng.standard_normal((1, HKV, sk, D)).astype(np.float32),
                    rng.standard_normal((1, HKV, sk, D)).astype(np.float32),
                    np.arange(sk - s, sk, dtype=np.int64),
                    rng.uniform(-3, 3, N).astype(np.float32),
                    np.linalg.qr(rng.standard_normal((D, D)))[0].astype(np.float32)]
            best = {name: 1e9 for name in arts}
            for name, art in arts.items():
                art.call("f", *args)
            for _ in range(20 if s == 1 else 6):
                for name, art in arts.items():
                    t = time.perf_counter(); art.call("f", *args)
                    best[name] = min(best[name], time.perf_counter() - t)
            print(f"{'+'.join(chain)} Sq={s} Sk={sk}: " +
                  ", ".join(f"{name} {t * 1e3:.2f} ms" for name, t in best.items()), flush=True)
