"""Fixtures of the numerics suite: compile rotor IR with rotorc and run it
through the runtime.

The build directory is $ROTOR_BUILD_DIR (ctest sets it), else ../../build.
When rotorc or the runtime library is missing the compiled-kernel tests are
skipped, unless $ROTOR_REQUIRE_BUILD is set (ctest sets it), in which case
they fail.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from rotor_runtime import Runtime  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _build_dir() -> str:
    return os.environ.get("ROTOR_BUILD_DIR",
                          os.path.join(HERE, "..", "..", "build"))


def _missing(what: str):
    if os.environ.get("ROTOR_REQUIRE_BUILD"):
        pytest.fail(f"{what} is missing from {_build_dir()}")
    pytest.skip(f"{what} not built (set ROTOR_BUILD_DIR)")


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    try:
        return Runtime.from_build_dir(_build_dir())
    except FileNotFoundError:
        _missing("librotor_runtime.so")


class Compiler:
    """Compiles MLIR text to artifacts, once per distinct text."""

    def __init__(self, rotorc: str, workdir: str, runtime: Runtime):
        self.rotorc, self.workdir, self.runtime = rotorc, workdir, runtime
        self.cache = {}

    def __call__(self, mlir: str, *flags: str):
        key = hashlib.sha1((mlir + "\0".join(flags)).encode()).hexdigest()[:16]
        if key not in self.cache:
            src = os.path.join(self.workdir, key + ".mlir")
            out = os.path.join(self.workdir, key + ".rotor")
            with open(src, "w") as f:
                f.write(mlir)
            proc = subprocess.run([self.rotorc, src, "-o", out, "-q", *flags],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise AssertionError(f"rotorc failed on\n{mlir}\n{proc.stderr}")
            self.cache[key] = self.runtime.load(out)
        return self.cache[key]


@pytest.fixture(scope="session")
def compile_mlir(tmp_path_factory, runtime) -> Compiler:
    rotorc = os.path.join(_build_dir(), "bin", "rotorc")
    if not os.path.exists(rotorc):
        _missing("bin/rotorc")
    return Compiler(rotorc, str(tmp_path_factory.mktemp("artifacts")), runtime)


class Differentiator:
    """Adds the gradient function of a function to an MLIR module with
    rotor-opt --rotor-autodiff, then compiles the module with rotorc."""

    def __init__(self, rotor_opt: str, compiler: Compiler):
        self.rotor_opt, self.compiler = rotor_opt, compiler

    def __call__(self, mlir: str, options: str, *flags: str):
        proc = subprocess.run(
            [self.rotor_opt, f"--rotor-autodiff={options}"], input=mlir,
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(
                f"rotor-autodiff failed on\n{mlir}\n{proc.stderr}")
        return self.compiler(proc.stdout, *flags)


@pytest.fixture(scope="session")
def differentiate(compile_mlir) -> Differentiator:
    rotor_opt = os.path.join(_build_dir(), "bin", "rotor-opt")
    if not os.path.exists(rotor_opt):
        _missing("bin/rotor-opt")
    return Differentiator(rotor_opt, compile_mlir)
