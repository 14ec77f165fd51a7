# -*- Python -*-
# lit configuration of the alibi plugin's tests: they run the installed
# rotor-opt and rotorc with --load-dialect-plugin/--load-pass-plugin.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ALIBI"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "numerics"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.alibi_obj_root, "test")
config.environment["FILECHECK_OPTS"] = "--enable-var-scope --dump-input=fail"

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

config.substitutions.append(("%alibi_plugin", config.alibi_plugin))
config.substitutions.append(("%rotor_lib_dir", config.rotor_library_dir))
# The plugin loaded both ways, as the tests need it in nearly every RUN line.
config.substitutions.append(
    ("%load_alibi", f"--load-dialect-plugin={config.alibi_plugin} "
                    f"--load-pass-plugin={config.alibi_plugin}"))

tool_dirs = [config.rotor_tools_dir, config.llvm_tools_dir]
tools = ["rotor-opt", "rotorc", "not"]
llvm_config.add_tool_substitutions([ToolSubst(t) for t in tools], tool_dirs)
