"""Fixtures of the alibi numerics: compile with the installed rotorc and the
plugin, run through the installed runtime (its ctypes binding).

ctest sets ROTORC, ROTOR_OPT, ALIBI_PLUGIN, ROTOR_PYTHON_DIR and ROTOR_RUNTIME_LIB
(test/CMakeLists.txt); the tests fail without them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"${name} is not set: run this suite through ctest "
                    "(examples/extension/test/CMakeLists.txt)")
    return value


sys.path.insert(0, os.environ.get("ROTOR_PYTHON_DIR", ""))
from rotor_runtime import Runtime  # noqa: E402


class Compiler:
    """Compiles MLIR text with rotorc and the alibi plugin, once per text."""

    def __init__(self, rotorc: str, plugin: str, workdir: str, runtime: Runtime):
        self.rotorc, self.plugin, self.workdir = rotorc, plugin, workdir
        self.runtime, self.cache = runtime, {}

    def flags(self):
        return [f"--load-dialect-plugin={self.plugin}",
                f"--load-pass-plugin={self.plugin}",
                "--insert-pass-after=opt:convert-alibi-to-linalg"]

    def __call__(self, mlir: str):
        key = hashlib.sha1(mlir.encode()).hexdigest()[:16]
        if key not in self.cache:
            src = os.path.join(self.workdir, key + ".mlir")
            out = os.path.join(self.workdir, key + ".rotor")
            with open(src, "w") as f:
                f.write(mlir)
            proc = subprocess.run([self.rotorc, src, "-o", out, "-q",
                                   *self.flags()],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise AssertionError(f"rotorc failed on\n{mlir}\n{proc.stderr}")
            self.cache[key] = self.runtime.load(out)
        return self.cache[key]


@pytest.fixture(scope="session")
def compile_mlir(tmp_path_factory) -> Compiler:
    runtime = Runtime(_env("ROTOR_RUNTIME_LIB"))
    return Compiler(_env("ROTORC"), _env("ALIBI_PLUGIN"),
                    str(tmp_path_factory.mktemp("artifacts")), runtime)


class Differentiator:
    """Adds gradient functions with the installed rotor-opt and the plugin
    (`--rotor-autodiff=OPTIONS`, which uses the plugin's gradient rule of
    alibi.attention), then compiles the module like `compile_mlir`."""

    def __init__(self, rotor_opt: str, compiler: Compiler):
        self.rotor_opt, self.compiler = rotor_opt, compiler

    def __call__(self, mlir: str, options: str):
        plugin = self.compiler.plugin
        proc = subprocess.run(
            [self.rotor_opt, f"--load-dialect-plugin={plugin}",
             f"--load-pass-plugin={plugin}", f"--rotor-autodiff={options}"],
            input=mlir, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"rotor-autodiff failed on\n{mlir}\n{proc.stderr}")
        return self.compiler(proc.stdout)


@pytest.fixture(scope="session")
def differentiate(compile_mlir) -> Differentiator:
    return Differentiator(_env("ROTOR_OPT"), compile_mlir)
