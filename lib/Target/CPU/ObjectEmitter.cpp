//===- ObjectEmitter.cpp - LLVM dialect to a native shared object -----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Target/CPU/CpuTarget.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::rotor;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Compile-time settings: the post-RA scheduler costs about a second on a
/// 32-layer model and buys nothing measurable on out-of-order x86 cores for
/// our explicitly vectorized kernels. An explicit -post-RA-scheduler on the
/// command line wins.
static void applyCodegenDefaults() {
  static bool applied = false;
  if (applied)
    return;
  applied = true;
  auto &options = llvm::cl::getRegisteredOptions();
  auto it = options.find("post-RA-scheduler");
  if (it != options.end() && it->second->getNumOccurrences() == 0)
    it->second->addOccurrence(0, "post-RA-scheduler", "false");
}

/// A target machine for the host CPU with all its features.
static llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createHostTargetMachine() {
  applyCodegenDefaults();
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return makeError("no LLVM target for " + triple.str() + ": " + error);
  std::string features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features += (feature.second ? "+" : "-") + feature.first().str() + ",";
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features, options,
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!tm)
    return makeError("cannot create a target machine for " + triple.str());
  return tm;
}

/// Translates and optimizes (O3) the module for `tm`.
static llvm::Expected<std::unique_ptr<llvm::Module>>
translate(ModuleOp module, llvm::LLVMContext &context,
          llvm::TargetMachine &tm) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  module->getContext()->appendDialectRegistry(registry);
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, context, "rotor");
  if (!llvmModule)
    return makeError("translation to LLVM IR failed");
  llvmModule->setDataLayout(tm.createDataLayout());
  llvmModule->setTargetTriple(tm.getTargetTriple());
  // O2: the kernels are vectorized explicitly in the IR, and O3 costs about
  // two more seconds on a 32-layer model for no measured kernel speed-up.
  auto optimize = makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0,
                                            &tm);
  if (llvm::Error err = optimize(llvmModule.get()))
    return std::move(err);
  return llvmModule;
}

llvm::Error mlir::rotor::emitLlvmIr(ModuleOp module, llvm::raw_ostream &os) {
  auto tm = createHostTargetMachine();
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext context;
  auto llvmModule = translate(module, context, **tm);
  if (!llvmModule)
    return llvmModule.takeError();
  (*llvmModule)->print(os, nullptr);
  return llvm::Error::success();
}

llvm::Error mlir::rotor::emitSharedObject(
    ModuleOp module, llvm::StringRef soPath,
    llvm::function_ref<void(llvm::StringRef)> progress) {
  auto tm = createHostTargetMachine();
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext context;
  progress("optimizing LLVM IR");
  auto llvmModule = translate(module, context, **tm);
  if (!llvmModule)
    return llvmModule.takeError();

  // Only code with parallel loops needs the OpenMP runtime; without it the
  // artifact depends on nothing but libc and libm.
  bool usesOpenMP = (*llvmModule)->getFunction("__kmpc_fork_call") != nullptr;

  progress("generating native code");
  std::string objPath = (soPath + ".o").str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objPath, ec, llvm::sys::fs::OF_None);
    if (ec)
      return makeError("cannot write " + objPath + ": " + ec.message());
    llvm::legacy::PassManager pm;
    if ((*tm)->addPassesToEmitFile(pm, os, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
      return makeError("the target cannot emit object files");
    pm.run(**llvmModule);
  }

  progress("linking");
  auto cc = llvm::sys::findProgramByName("cc");
  if (!cc)
    return makeError("no C compiler driver ('cc') on PATH to link " + soPath);
  std::string out = soPath.str();
  // Parallel loops call the LLVM OpenMP runtime (libomp from LLVM 22).
  std::string ompDir = "-L" ROTOR_OPENMP_LIB_DIR;
  std::string ompRpath = "-Wl,-rpath," ROTOR_OPENMP_LIB_DIR;
  llvm::SmallVector<llvm::StringRef> args = {*cc, "-shared", "-o", out,
                                             objPath};
  if (usesOpenMP)
    args.append({ompDir, ompRpath, "-lomp"});
  args.push_back("-lm");
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, {}, 0, 0,
                                     &message);
  llvm::sys::fs::remove(objPath);
  if (rc != 0)
    return makeError("linking " + soPath + " failed" +
                     (message.empty() ? "" : ": " + message));
  return llvm::Error::success();
}
