//===- AlibiPlugin.cpp - Entry points of the alibi plugin ------------------===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//
//
// One shared object, two plugin interfaces:
//
//   --load-dialect-plugin=alibi-plugin.so  adds the alibi dialect to the
//                                          tool's registry (before parsing),
//                                          with the gradient rule of
//                                          alibi.attention (rotor-autodiff)
//   --load-pass-plugin=alibi-plugin.so     registers convert-alibi-to-linalg
//
// rotor-opt takes both (mlir-opt's flags, from MlirOptMain); so does rotorc,
// which then runs the pass where --insert-pass-after says.
//
//===----------------------------------------------------------------------===//

#include "alibi/AlibiOps.h"
#include "alibi/Passes.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "Alibi", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            registry->insert<alibi::AlibiDialect>();
            alibi::registerAlibiGradients(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AlibiPasses", LLVM_VERSION_STRING,
          []() { alibi::registerAlibiPasses(); }};
}
