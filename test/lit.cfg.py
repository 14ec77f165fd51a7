# -*- Python -*-
# lit configuration of the Rotor test suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ROTOR"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".json", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "unittests", "numerics", "fuzz"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.rotor_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%rotor_src_root", config.rotor_src_root))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope --dump-input=fail"

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.rotor_tools_dir, config.llvm_tools_dir]
tools = ["rotor-opt", "rotorc", "rotor-run", "not", "split-file"]
llvm_config.add_tool_substitutions(
    [ToolSubst(t, unresolved="ignore") for t in tools], tool_dirs)

# The CUDA target's generated kernels are compiled for sm_90a by nvcc in the
# tests when the CUDA toolkit is installed (no GPU needed).
import shutil
nvcc = os.environ.get("ROTOR_NVCC") or shutil.which("nvcc") or (
    "/usr/local/cuda/bin/nvcc" if os.access("/usr/local/cuda/bin/nvcc", os.X_OK) else None)
if nvcc:
    config.available_features.add("nvcc")
    config.environment["ROTOR_NVCC"] = nvcc
    config.substitutions.append(("%nvcc", nvcc))
config.excludes.append("gpu")
