//===- ObjectEmitter.cpp - LLVM dialect to a native shared object -----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Target/CPU/CpuTarget.h"

#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/Dominators.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/IPO/Internalize.h"
#include "llvm/Transforms/Utils/Cloning.h"

#include <algorithm>
#include <thread>

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
  // The scheduler obeys the option only when it has a position > 0 (it
  // tells an explicit setting from the default that way); at position 0 the
  // subtarget's choice (on for the host CPU) would stand.
  if (it != options.end() && it->second->getNumOccurrences() == 0)
    it->second->addOccurrence(/*pos=*/1, "post-RA-scheduler", "false");
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

/// Translates the module for `tm`.
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
  return llvmModule;
}

/// The symbols of the artifact ABI (docs/artifact-abi.md): the entry
/// wrappers and `rotor_free`. Everything else is internal to module.so.
static bool isArtifactSymbol(const llvm::GlobalValue &gv) {
  return gv.getName().starts_with("rotor_entry_") ||
         gv.getName() == "rotor_free";
}

/// Passes of LLVM's default pipeline that cost much on our modules and buy
/// nothing. CalledValuePropagation annotates indirect calls with their
/// possible callees; we make none (OpenMP's fork call takes its outlined
/// body as an argument, which the pass cannot use), yet it takes half the
/// optimization time of a 32-layer model: its lattice grows with the
/// pointer arguments of every call, and a model's entries pass hundreds of
/// weight descriptors to each of 32 layer calls.
static bool isUselessForRotor(llvm::StringRef passName) {
  return passName == "CalledValuePropagationPass";
}

/// Marks the artifact's entry functions that are mostly straight-line glue
/// `optnone` once they are optimized, so that code generation compiles them
/// as at -O0 (fast instruction selection and register allocation, no
/// machine scheduling). A model's entries unpack the descriptors of
/// hundreds of weights and pass them to 32 layer calls: thousands of
/// loads, stores and moves that run once per call, where the optimizing
/// code generator spends about a third of a second on a 32-layer model for
/// nothing measurable. An entry with at least a quarter of its instructions
/// in loops (a kernel inlined into it, as in a single-op module without
/// parallel loops) keeps the optimizing code generator.
static void markGlueForFastCodegen(llvm::Module &llvmModule) {
  for (llvm::Function &f : llvmModule) {
    if (f.isDeclaration() || !f.getName().starts_with("rotor_entry_") ||
        f.hasFnAttribute(llvm::Attribute::OptimizeNone))
      continue;
    llvm::DominatorTree dominators(f);
    llvm::LoopInfo loops(dominators);
    uint64_t inLoops = 0;
    for (llvm::BasicBlock &block : f)
      if (loops.getLoopFor(&block))
        inLoops += block.size();
    if (inLoops * 4 >= f.getInstructionCount())
      continue;
    // optnone requires noinline; nothing calls the entries anyway.
    f.removeFnAttr(llvm::Attribute::AlwaysInline);
    f.addFnAttr(llvm::Attribute::NoInline);
    f.addFnAttr(llvm::Attribute::OptimizeNone);
  }
}

/// Optimizes the module for `tm`: internalizes all but the artifact ABI,
/// runs LLVM's O2 pipeline, then marks the glue entries for fast code
/// generation.
static llvm::Error optimize(llvm::Module &llvmModule, llvm::TargetMachine &tm) {
  // Internal, the helpers (C-interface wrappers, kernels' block functions,
  // layer functions) lose the descriptor fields they do not use from their
  // signatures and are inlined where they have one caller; the entries'
  // calls of 32 layers with a few pointers each instead of 7 scalars per
  // weight descriptor are cheap to compile.
  llvm::internalizeModule(llvmModule, isArtifactSymbol);

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassInstrumentationCallbacks callbacks;
  callbacks.registerShouldRunOptionalPassCallback(
      [](llvm::StringRef passName, llvm::Any) {
        return !isUselessForRotor(passName);
      });
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = true;
  tuning.LoopInterleaving = true;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::PassBuilder builder(&tm, tuning, std::nullopt, &callbacks);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  // O2: the kernels are vectorized explicitly in the IR, and O3 costs about
  // two more seconds on a 32-layer model for no measured kernel speed-up.
  llvm::ModulePassManager pipeline =
      builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
  pipeline.run(llvmModule, mam);
  markGlueForFastCodegen(llvmModule);
  return llvm::Error::success();
}

llvm::Error mlir::rotor::emitLlvmIr(ModuleOp module, llvm::raw_ostream &os) {
  auto tm = createHostTargetMachine();
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext context;
  auto llvmModule = translate(module, context, **tm);
  if (!llvmModule)
    return llvmModule.takeError();
  if (llvm::Error err = optimize(**llvmModule, **tm))
    return err;
  (*llvmModule)->print(os, nullptr);
  return llvm::Error::success();
}

/// Emits `llvmModule` as an object file at `objPath` with `tm`.
static llvm::Error emitObject(llvm::Module &llvmModule, llvm::TargetMachine &tm,
                              llvm::StringRef objPath) {
  std::error_code ec;
  llvm::raw_fd_ostream os(objPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError("cannot write " + objPath + ": " + ec.message());
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr,
                             llvm::CodeGenFileType::ObjectFile))
    return makeError("the target cannot emit object files");
  pm.run(llvmModule);
  return llvm::Error::success();
}

/// Splits the optimized module into `parts` modules for parallel code
/// generation, returned as bitcode: each part is compiled in its own
/// LLVMContext, as contexts are not thread-safe. Function definitions go,
/// largest first, to the part with the fewest instructions so far (a
/// model's few large functions, its layer functions and entries, spread
/// evenly); global variables go to part 0. Internal symbols become hidden
/// external ones, so that the parts can refer to each other; the shared
/// object still exports only the artifact ABI.
static std::vector<llvm::SmallVector<char, 0>>
splitForCodegen(llvm::Module &llvmModule, unsigned parts) {
  for (llvm::GlobalValue &gv : llvmModule.global_values()) {
    if (gv.isDeclaration() || !gv.hasLocalLinkage())
      continue;
    if (!gv.hasName())
      gv.setName("__rotor_local");
    gv.setLinkage(llvm::GlobalValue::ExternalLinkage);
    gv.setVisibility(llvm::GlobalValue::HiddenVisibility);
  }
  std::vector<llvm::Function *> functions;
  for (llvm::Function &f : llvmModule)
    if (!f.isDeclaration())
      functions.push_back(&f);
  llvm::stable_sort(functions, [](llvm::Function *a, llvm::Function *b) {
    return a->getInstructionCount() > b->getInstructionCount();
  });
  std::vector<uint64_t> load(parts, 0);
  llvm::DenseMap<const llvm::GlobalValue *, unsigned> partOf;
  for (llvm::Function *f : functions) {
    unsigned p = std::min_element(load.begin(), load.end()) - load.begin();
    partOf[f] = p;
    load[p] += f->getInstructionCount();
  }
  std::vector<llvm::SmallVector<char, 0>> bitcode(parts);
  for (unsigned p = 0; p < parts; ++p) {
    llvm::ValueToValueMapTy map;
    std::unique_ptr<llvm::Module> part = llvm::CloneModule(
        llvmModule, map, [&](const llvm::GlobalValue *gv) {
          auto it = partOf.find(gv);
          return it == partOf.end() ? p == 0 : it->second == p;
        });
    llvm::raw_svector_ostream os(bitcode[p]);
    llvm::WriteBitcodeToFile(*part, os);
  }
  return bitcode;
}

/// Generates the object files `objPaths` from `llvmModule`, one per thread
/// (the module split by splitForCodegen when there are several).
static llvm::Error emitObjects(llvm::Module &llvmModule, llvm::TargetMachine &tm,
                               llvm::ArrayRef<std::string> objPaths) {
  if (objPaths.size() == 1)
    return emitObject(llvmModule, tm, objPaths.front());
  std::vector<llvm::SmallVector<char, 0>> bitcode =
      splitForCodegen(llvmModule, objPaths.size());
  std::vector<std::string> errors(objPaths.size());
  auto compile = [&](unsigned p) {
    llvm::LLVMContext context;
    llvm::MemoryBufferRef buffer(
        llvm::StringRef(bitcode[p].data(), bitcode[p].size()), "rotor-part");
    auto part = llvm::parseBitcodeFile(buffer, context);
    if (!part) {
      errors[p] = llvm::toString(part.takeError());
      return;
    }
    auto partTm = createHostTargetMachine();
    if (!partTm) {
      errors[p] = llvm::toString(partTm.takeError());
      return;
    }
    if (llvm::Error err = emitObject(**part, **partTm, objPaths[p]))
      errors[p] = llvm::toString(std::move(err));
  };
  std::vector<std::thread> threads;
  for (unsigned p = 1; p < objPaths.size(); ++p)
    threads.emplace_back(compile, p);
  compile(0);
  for (std::thread &t : threads)
    t.join();
  for (const std::string &error : errors)
    if (!error.empty())
      return makeError("code generation failed: " + error);
  return llvm::Error::success();
}

llvm::Error mlir::rotor::emitSharedObject(
    ModuleOp module, llvm::StringRef soPath,
    llvm::function_ref<void(llvm::StringRef)> progress, TimingScope &timing,
    unsigned codegenThreads) {
  // Reports a step and times it until the next one.
  TimingScope stepTimer;
  auto step = [&](llvm::StringRef what) {
    progress(what);
    stepTimer = timing.nest(what);
  };
  step("translating to LLVM IR");
  auto tm = createHostTargetMachine();
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext context;
  auto llvmModule = translate(module, context, **tm);
  if (!llvmModule)
    return llvmModule.takeError();
  step("optimizing LLVM IR");
  if (llvm::Error err = optimize(**llvmModule, **tm))
    return err;

  // Only code with parallel loops needs the OpenMP runtime; without it the
  // artifact depends on nothing but libc and libm.
  bool usesOpenMP = (*llvmModule)->getFunction("__kmpc_fork_call") != nullptr;

  step("generating native code");
  if (codegenThreads == 0)
    codegenThreads =
        std::min(4u, llvm::hardware_concurrency().compute_thread_count());
  // Parts of a tiny module cost more to split than they save.
  if (llvmModule->get()->getInstructionCount() < 10000)
    codegenThreads = 1;
  std::vector<std::string> objPaths;
  for (unsigned p = 0; p < codegenThreads; ++p)
    objPaths.push_back((soPath + "." + llvm::Twine(p) + ".o").str());
  auto removeObjects = [&] {
    for (const std::string &path : objPaths)
      llvm::sys::fs::remove(path);
  };
  if (llvm::Error err = emitObjects(**llvmModule, **tm, objPaths)) {
    removeObjects();
    return err;
  }

  step("linking");
  auto cc = llvm::sys::findProgramByName("cc");
  if (!cc)
    return makeError("no C compiler driver ('cc') on PATH to link " + soPath);
  std::string out = soPath.str();
  // Parallel loops call the LLVM OpenMP runtime (libomp from LLVM 22).
  std::string ompDir = "-L" ROTOR_OPENMP_LIB_DIR;
  std::string ompRpath = "-Wl,-rpath," ROTOR_OPENMP_LIB_DIR;
  llvm::SmallVector<llvm::StringRef> args = {*cc, "-shared", "-o", out};
  args.append(objPaths.begin(), objPaths.end());
  if (usesOpenMP)
    args.append({ompDir, ompRpath, "-lomp"});
  args.push_back("-lm");
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, {}, 0, 0,
                                     &message);
  removeObjects();
  if (rc != 0)
    return makeError("linking " + soPath + " failed" +
                     (message.empty() ? "" : ": " + message));
  return llvm::Error::success();
}
