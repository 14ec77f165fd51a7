//===- rotorc.cpp - The Rotor compiler driver -------------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// rotorc INPUT.mlir -o OUT/        compile to an artifact directory
// rotorc INPUT.mlir -emit=STAGE    print a stage: rotor, opt, linalg, llvm
//                                  (LLVM dialect) or llvm-ir (optimized IR)
// rotorc CONFIG.json [--weights W.safetensors] [--dtype=f32|bf16|f16] -o OUT/
//                                  build a whole decoder model from a Hugging
//                                  Face style config (docs/model-config.md);
//                                  with --train, also its train_step entry
//
// Plugins (docs/extending.md): --load-dialect-plugin=LIB.so adds dialects,
// --load-pass-plugin=LIB.so adds passes, and --insert-pass-after=STAGE:PIPE
// runs a textual pass pipeline after a stage of the CPU pipeline.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/Passes.h"
#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Frontend/ModelBuilder.h"
#include "rotor/Frontend/Safetensors.h"
#include "rotor/Target/CPU/CpuTarget.h"
#include "rotor/Target/CPU/Passes.h"
#include "rotor/Target/CUDA/CudaTarget.h"
#include "rotor/Transforms/Passes.h"
#include "rotor/Dialect/Rotor/RotorOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <chrono>
#include <optional>

using namespace mlir;
using namespace mlir::rotor;
namespace cl = llvm::cl;

namespace {

enum class Emit { Artifact, Rotor, Opt, Linalg, Llvm, LlvmIr, Cuda };
enum class Target { Cpu, Cuda };

cl::OptionCategory category("rotorc options");
cl::opt<std::string> inputFile(cl::Positional,
                               cl::desc("<input .mlir or model config .json>"),
                               cl::Required, cl::cat(category));
cl::opt<std::string> outputPath(
    "o", cl::desc("Output: the artifact directory (default: INPUT's stem "
                  "with .rotor), or the file for -emit (default: stdout)"),
    cl::value_desc("path"), cl::cat(category));
cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::Artifact),
    cl::values(
        clEnumValN(Emit::Artifact, "artifact",
                   "an artifact directory (manifest.json + module.so)"),
        clEnumValN(Emit::Rotor, "rotor", "the verified rotor IR"),
        clEnumValN(Emit::Opt, "opt", "the IR after rotor-level optimization"),
        clEnumValN(Emit::Linalg, "linalg",
                   "the IR lowered to linalg/scf/vector on tensors"),
        clEnumValN(Emit::Llvm, "llvm", "the LLVM dialect module"),
        clEnumValN(Emit::LlvmIr, "llvm-ir", "the optimized LLVM IR"),
        clEnumValN(Emit::Cuda, "cuda",
                   "the generated CUDA kernels and launch plan (CUDA target)")),
    cl::cat(category));
cl::opt<Target> target(
    "target", cl::desc("The device the artifact runs on"),
    cl::init(Target::Cpu),
    cl::values(clEnumValN(Target::Cpu, "cpu",
                          "the host CPU (native code through LLVM)"),
               clEnumValN(Target::Cuda, "cuda",
                          "NVIDIA GPUs (generated CUDA kernels and a launch "
                          "plan; see docs/cuda-backend.md)")),
    cl::cat(category));
cl::opt<std::string> cudaArch(
    "cuda-arch",
    cl::desc("With --target=cuda: the architecture nvcc compiles the kernels "
             "for (default sm_90a: H100/H200); other GPUs compile the "
             "artifact's source with NVRTC when it is loaded"),
    cl::init("sm_90a"), cl::cat(category));
cl::opt<std::string> cudaCompile(
    "cuda-compile",
    cl::desc("With --target=cuda: 'auto' compiles a cubin when nvcc is found "
             "(ROTOR_NVCC, PATH, /usr/local/cuda/bin), 'nvcc' requires it, "
             "'none' leaves compilation to NVRTC at load time"),
    cl::init("auto"), cl::cat(category));
cl::opt<int64_t> blockQ("attention-block-q",
                        cl::desc("Query rows per attention tile"),
                        cl::init(32), cl::cat(category));
cl::opt<int64_t> blockK("attention-block-k",
                        cl::desc("Keys per attention tile"), cl::init(64),
                        cl::cat(category));
cl::opt<bool> quiet("q", cl::desc("Do not report progress"), cl::init(false),
                    cl::cat(category));
cl::opt<bool> fusion("fusion",
                     cl::desc("Run the rotor-level fusion passes "
                              "(rotor-fuse-linear; default on)"),
                     cl::init(true), cl::cat(category));
cl::opt<bool> fuseRope(
    "fuse-rope",
    cl::desc("With --fusion: fuse the rotary embedding of the queries and "
             "keys into the attention kernel (rotor-fuse-attention-rope; "
             "default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> fuseKeyRope(
    "fuse-key-rope",
    cl::desc("With --fuse-rope: fuse the keys' rope too, not only the "
             "queries' (default off: the CPU kernel rotates a key tile once "
             "per query tile that visits it)"),
    cl::init(false), cl::cat(category));
cl::opt<bool> fuseRotations(
    "fuse-rotations",
    cl::desc("With --fusion: fuse the Givens chain and rotation matrix of "
             "the queries into the attention kernel "
             "(rotor-fuse-attention-rotations; default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> specializeMasks(
    "specialize-masks",
    cl::desc("Simplify attention masks for static sequence lengths "
             "(rotor-specialize-masks; default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> dilationRelayout(
    "dilation-relayout",
    cl::desc("Run dilated-window attention as dense windows over the "
             "interleaved subsequences (rotor-dilation-relayout; default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> packGqa(
    "pack-gqa",
    cl::desc("Pack the query heads of a key/value group into one attention "
             "tile when a head has fewer queries than a tile, as in decoding "
             "(rotor-pack-gqa-heads; default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> moveKeyRotations(
    "move-key-rotations",
    cl::desc("Apply the keys' Givens chains and rotations to the queries "
             "inside attention; equal chains on both cancel "
             "(rotor-move-key-rotations; default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> composeRotations(
    "compose-rotations",
    cl::desc("Compose a Givens chain and rotation matrix applied one after "
             "the other into one matrix, so that the tensor is rotated by "
             "one product (rotor-compose-rotations; default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> fusionReport(
    "rotor-fusion-report",
    cl::desc("Print what the fusion passes fused and the memory traffic "
             "saved"),
    cl::init(false), cl::cat(category));
cl::opt<bool> parallelLoops(
    "parallel",
    cl::desc("Run the kernels' outer loops on OpenMP threads (default on; "
             "OMP_NUM_THREADS sets the count at run time)"),
    cl::init(true), cl::cat(category));
cl::opt<unsigned> codegenThreads(
    "codegen-threads",
    cl::desc("Threads generating native code, each for a part of the "
             "module's functions (default 0: one per core, at most 4)"),
    cl::init(0), cl::cat(category));
cl::opt<std::string> weightsFile(
    "weights",
    cl::desc("With a config .json: a .safetensors file holding every weight; "
             "checked against the model and copied into the artifact"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<bool> train(
    "train",
    cl::desc("With a config .json: also build the training entry "
             "train_step(input_ids, labels, params..., loss_scale) -> "
             "(loss, grads...) "
             "(docs/autodiff.md)"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> trainCheckpoint(
    "train-checkpoint",
    cl::desc("With --train: which forward values the backward keeps: none "
             "or layers (recompute each layer in the backward)"),
    cl::init("none"), cl::cat(category));
cl::opt<bool> trainLossScale(
    "train-loss-scale",
    cl::desc("With --train: train_step takes a last input loss_scale (f32 "
             "0-D) and returns gradients of loss * loss_scale, for dynamic "
             "loss scaling (default on)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> autodiffReport(
    "rotor-autodiff-report",
    cl::desc("With --train: print the memory of the forward values kept for "
             "the backward pass"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> staticCache(
    "static-cache",
    cl::desc("With a config .json: also build decode_static, a decoding step "
             "over fixed-capacity KV caches written in place at "
             "cache_position, whose shapes do not change from step to step "
             "(the CUDA runtime replays it as a CUDA graph): on, off, or "
             "auto (on for --target=cuda)"),
    cl::value_desc("on|off|auto"), cl::init("auto"), cl::cat(category));
cl::opt<std::string> dtypeOverride(
    "dtype",
    cl::desc("With a config .json: the dtype of weights and activations "
             "(f32, bf16 or f16), instead of the config's torch_dtype"),
    cl::value_desc("dtype"), cl::cat(category));

cl::list<std::string> dialectPlugins(
    "load-dialect-plugin",
    cl::desc("Load a dialect plugin (a shared object exporting "
             "mlirGetDialectPluginInfo) before parsing; repeatable"),
    cl::value_desc("file"), cl::cat(category));
cl::list<std::string> passPlugins(
    "load-pass-plugin",
    cl::desc("Load a pass plugin (a shared object exporting "
             "mlirGetPassPluginInfo), whose passes --insert-pass-after may "
             "name; repeatable"),
    cl::value_desc("file"), cl::cat(category));
cl::list<std::string> insertPassAfter(
    "insert-pass-after",
    cl::desc("Run the textual pass pipeline PIPELINE (e.g. "
             "'cse,func.func(canonicalize)') on the module after stage STAGE "
             "of the CPU pipeline: rotor (the parsed input), opt, linalg or "
             "llvm (with --target=cuda: rotor only). -emit=STAGE prints the IR after the passes inserted "
             "after STAGE. Repeatable; passes inserted after one stage run "
             "in the order given"),
    cl::value_desc("STAGE:PIPELINE"), cl::cat(category));

/// The name of the weights file inside an artifact.
constexpr llvm::StringLiteral kArtifactWeights = "weights.safetensors";

/// Reports the steps of a compilation on stderr, one line per step, and
/// the total time at the end.
class Progress {
public:
  explicit Progress(bool enabled)
      : enabled(enabled), start(std::chrono::steady_clock::now()) {}
  void step(const llvm::Twine &what) {
    if (enabled)
      llvm::errs() << "rotorc: " << what << "\n";
  }
  void done(llvm::StringRef dest) {
    if (!enabled)
      return;
    auto ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    llvm::errs() << "rotorc: wrote " << dest << llvm::format(" in %.0f ms\n", ms);
  }

private:
  bool enabled;
  std::chrono::steady_clock::time_point start;
};

int fail(const llvm::Twine &message) {
  llvm::errs() << "rotorc: error: " << message << "\n";
  return 1;
}

/// Gives the C-interface wrappers of a model's entries internal linkage.
/// They are not part of the artifact ABI (only `rotor_entry_NAME` and
/// `rotor_free` are), and a model's entries are inlined into them
/// (`always_inline`, see ModelBuilder.cpp); internal, they are in turn
/// inlined into `rotor_entry_NAME` and dropped, instead of LLVM compiling
/// each entry's body twice.
void internalizeEntryWrappers(ModuleOp module) {
  for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
    if (fn.getName().starts_with("_mlir_ciface_") && !fn.isExternal())
      fn.setLinkage(LLVM::Linkage::Internal);
}

/// Writes `module` (or its LLVM IR) to the -o file or stdout, atomically.
int printResult(ModuleOp module, bool asLlvmIr) {
  std::string path = outputPath.empty() ? "-" : outputPath.getValue();
  std::string error;
  auto out = openOutputFile(path, &error);
  if (!out)
    return fail(error);
  if (asLlvmIr) {
    if (llvm::Error err = emitLlvmIr(module, out->os()))
      return fail(llvm::toString(std::move(err)));
  } else {
    module.print(out->os());
    out->os() << "\n";
  }
  out->keep();
  return 0;
}

/// Compiles to an artifact directory: everything is written into a fresh
/// temporary directory beside the destination, which then replaces it.
int writeArtifact(ModuleOp module, const std::vector<EntrySignature> &entries,
                  Progress &progress, TimingScope &timing) {
  std::string dest = outputPath;
  if (dest.empty()) {
    llvm::SmallString<128> stem(llvm::sys::path::stem(inputFile));
    dest = (stem + ".rotor").str();
  }
  llvm::SmallString<128> tmp(dest);
  tmp += ".tmp-" + std::to_string(llvm::sys::Process::getProcessId());
  llvm::sys::fs::remove_directories(tmp);
  if (std::error_code ec = llvm::sys::fs::create_directories(tmp))
    return fail("cannot create " + tmp + ": " + ec.message());
  auto cleanup = [&]() { llvm::sys::fs::remove_directories(tmp); };

  std::string library = "module.so";
  if (target == Target::Cuda) {
    FailureOr<CudaProgram> program = emitCudaProgram(module);
    if (failed(program)) {
      cleanup();
      return 1;
    }
    std::string nvcc;
    if (cudaCompile != "none") {
      nvcc = findNvcc();
      if (nvcc.empty() && cudaCompile == "nvcc") {
        cleanup();
        return fail("--cuda-compile=nvcc: nvcc not found (set ROTOR_NVCC, or "
                    "put it on PATH)");
      }
      if (nvcc.empty())
        progress.step("nvcc not found: the kernels will be compiled by "
                      "NVRTC when the artifact is loaded");
    }
    if (llvm::Error err = writeCudaFiles(
            tmp, *program, nvcc, cudaArch,
            [&](llvm::StringRef what) { progress.step(what); })) {
      cleanup();
      return fail(llvm::toString(std::move(err)));
    }
    library = "plan.json";
  } else {
    llvm::SmallString<128> so(tmp);
    llvm::sys::path::append(so, library);
    if (llvm::Error err = emitSharedObject(
            module, so, [&](llvm::StringRef what) { progress.step(what); },
            timing, codegenThreads)) {
      cleanup();
      return fail(llvm::toString(std::move(err)));
    }
  }
  TimingScope finishTimer = timing.nest("writing the artifact");
  if (!weightsFile.empty()) {
    progress.step("copying " + weightsFile);
    llvm::SmallString<128> weightsDest(tmp);
    llvm::sys::path::append(weightsDest, kArtifactWeights);
    if (std::error_code ec =
            llvm::sys::fs::copy_file(weightsFile, weightsDest)) {
      cleanup();
      return fail("cannot copy " + weightsFile + " into the artifact: " +
                  ec.message());
    }
  }
  progress.step("writing " + dest);
  if (llvm::Error err =
          writeManifest(tmp, library, entries,
                        weightsFile.empty() ? "" : kArtifactWeights,
                        target == Target::Cuda ? "cuda" : "cpu")) {
    cleanup();
    return fail(llvm::toString(std::move(err)));
  }
  // Replace the destination: move any old one aside first, so that a
  // failure leaves either the old or the new artifact, never a mix.
  std::string old;
  if (llvm::sys::fs::exists(dest)) {
    old = (tmp + ".old").str();
    if (std::error_code ec = llvm::sys::fs::rename(dest, old)) {
      cleanup();
      return fail("cannot replace " + dest + ": " + ec.message());
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, dest)) {
    if (!old.empty())
      llvm::sys::fs::rename(old, dest);
    cleanup();
    return fail("cannot write " + dest + ": " + ec.message());
  }
  if (!old.empty())
    llvm::sys::fs::remove_directories(old);
  progress.done(dest);
  return 0;
}

/// Loads the --load-dialect-plugin and --load-pass-plugin shared objects:
/// dialect plugins add to `registry`, pass plugins register their passes
/// globally (so that textual pipelines can name them). Adds the namespaces
/// of the dialects the plugins registered to `pluginDialects`.
LogicalResult loadPlugins(DialectRegistry &registry,
                          llvm::StringSet<> &pluginDialects) {
  llvm::StringSet<> builtin;
  for (llvm::StringRef name : registry.getDialectNames())
    builtin.insert(name);
  for (const std::string &path : dialectPlugins) {
    auto plugin = DialectPlugin::load(path);
    if (!plugin) {
      fail("--load-dialect-plugin=" + path + ": " +
           llvm::toString(plugin.takeError()));
      return failure();
    }
    plugin->registerDialectRegistryCallbacks(registry);
  }
  for (llvm::StringRef name : registry.getDialectNames())
    if (!builtin.contains(name))
      pluginDialects.insert(name);
  for (const std::string &path : passPlugins) {
    auto plugin = PassPlugin::load(path);
    if (!plugin) {
      fail("--load-pass-plugin=" + path + ": " +
           llvm::toString(plugin.takeError()));
      return failure();
    }
    plugin->registerPassRegistryCallbacks();
  }
  return success();
}

/// The pipelines that --insert-pass-after places after each stage (indexed
/// by CpuStage), checked to parse.
struct StageInsertions {
  std::array<std::vector<std::string>, 4> after;
};

/// Parses the --insert-pass-after values.
FailureOr<StageInsertions> parseInsertions() {
  StageInsertions result;
  for (const std::string &value : insertPassAfter) {
    auto [stageName, pipeline] = llvm::StringRef(value).split(':');
    std::optional<CpuStage> stage =
        llvm::StringSwitch<std::optional<CpuStage>>(stageName)
            .Case("rotor", CpuStage::Rotor)
            .Case("opt", CpuStage::Opt)
            .Case("linalg", CpuStage::Linalg)
            .Case("llvm", CpuStage::Llvm)
            .Default(std::nullopt);
    if (!stage) {
      fail("--insert-pass-after=" + value + ": unknown stage '" + stageName +
           "' (expected rotor, opt, linalg or llvm, then ':' and a pass "
           "pipeline)");
      return failure();
    }
    if (pipeline.trim().empty()) {
      fail("--insert-pass-after=" + value + ": empty pass pipeline after '" +
           stageName + ":'");
      return failure();
    }
    OpPassManager check(ModuleOp::getOperationName());
    std::string error;
    llvm::raw_string_ostream errorStream(error);
    if (failed(parsePassPipeline(pipeline, check, errorStream))) {
      fail("--insert-pass-after=" + value + ": " +
           llvm::StringRef(error).trim());
      return failure();
    }
    result.after[static_cast<size_t>(*stage)].push_back(pipeline.str());
  }
  return result;
}

/// The stages `first` to `last` (inclusive) of the CPU pipeline, each
/// followed by the --insert-pass-after passes of that stage.
void buildPipeline(PassManager &pm, CpuStage first, CpuStage last,
                   const CpuPipelineOptions &options,
                   const StageInsertions &insertions) {
  for (int s = static_cast<int>(first); s <= static_cast<int>(last); ++s) {
    auto stage = static_cast<CpuStage>(s);
    if (stage != CpuStage::Rotor)
      buildCpuPipeline(pm, static_cast<CpuStage>(s - 1), stage, options);
    for (const std::string &pipeline : insertions.after[s])
      if (failed(parsePassPipeline(pipeline, pm)))
        llvm_unreachable("checked by parseInsertions");
  }
}

/// After the linalg stage nothing of a plugin's dialect may remain: the
/// plugin's lowering must have been inserted before (the CPU pipeline only
/// lowers rotor and upstream dialects).
LogicalResult checkPluginOpsLowered(ModuleOp module,
                                    const llvm::StringSet<> &pluginDialects) {
  if (pluginDialects.empty())
    return success();
  WalkResult result = module.walk([&](Operation *op) {
    llvm::StringRef ns = op->getName().getDialectNamespace();
    if (!pluginDialects.contains(ns))
      return WalkResult::advance();
    op->emitError() << "'" << op->getName()
                    << "' (from a dialect plugin) is still present after the "
                       "linalg stage; insert the plugin's lowering with "
                       "--insert-pass-after=opt:PASS";
    return WalkResult::interrupt();
  });
  return failure(result.wasInterrupted());
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  registerRotorConversionPasses();
  registerRotorCpuPasses();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  // --help lists rotorc's options and MLIR's (--mlir-timing, ...), as
  // clang's lists its own; LLVM's code generation flags stay reachable and
  // appear under --help-hidden.
  static cl::OptionCategory mlirCategory("MLIR options");
  for (auto &[name, option] : cl::getRegisteredOptions())
    if (name.starts_with("mlir-"))
      option->addCategory(mlirCategory);
  cl::HideUnrelatedOptions({&category, &mlirCategory});
  cl::ParseCommandLineOptions(argc, argv,
                              "Rotor compiler: compiles rotor IR or a model "
                              "config to a CPU or CUDA artifact, or prints a "
                              "pipeline stage\n");
  if (blockQ < 1 || blockK < 1)
    return fail("--attention-block-q and --attention-block-k must be >= 1");
  if (emit == Emit::Cuda)
    target = Target::Cuda;
  if (target == Target::Cuda &&
      (emit == Emit::Linalg || emit == Emit::Llvm || emit == Emit::LlvmIr))
    return fail("-emit=linalg, llvm and llvm-ir are stages of the CPU target; "
                "the CUDA target's stages are rotor, opt and cuda");
  if (cudaCompile != "auto" && cudaCompile != "nvcc" && cudaCompile != "none")
    return fail("--cuda-compile must be auto, nvcc or none, not '" +
                cudaCompile + "'");

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<RotorDialect>();
  registerDifferentiableOpInterfaceExternalModels(registry);
  llvm::StringSet<> pluginDialects;
  if (failed(loadPlugins(registry, pluginDialects)))
    return 1;
  FailureOr<StageInsertions> insertions = parseInsertions();
  if (failed(insertions))
    return 1;
  if (target == Target::Cuda)
    for (CpuStage stage : {CpuStage::Opt, CpuStage::Linalg, CpuStage::Llvm})
      if (!insertions->after[static_cast<size_t>(stage)].empty())
        return fail("--insert-pass-after: with --target=cuda, passes can be "
                    "inserted after the rotor stage only (opt, linalg and "
                    "llvm are stages of the CPU pipeline)");
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  // -mlir-timing reports every stage: building or parsing the input, the
  // MLIR pass pipeline, then translation, LLVM optimization, code generation
  // and linking.
  DefaultTimingManager timingManager;
  applyDefaultTimingManagerCLOptions(timingManager);
  TimingScope rootTimer = timingManager.getRootScope();
  TimingScope inputTimer = rootTimer.nest("reading the input");

  Progress progress(!quiet && emit == Emit::Artifact);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module;
  bool isModel = llvm::StringRef(inputFile).ends_with(".json");
  if (isModel) {
    progress.step("building the model described by " + inputFile);
    llvm::Expected<ModelConfig> config = loadModelConfig(inputFile);
    if (!config)
      return fail(llvm::toString(config.takeError()));
    if (!dtypeOverride.empty())
      if (llvm::Error err = setModelDType(*config, dtypeOverride))
        return fail("--dtype: " + llvm::toString(std::move(err)));
    if (staticCache != "auto" && staticCache != "on" && staticCache != "off")
      return fail("--static-cache must be on, off or auto, not '" +
                  staticCache + "'");
    ModelBuildOptions buildOptions;
    buildOptions.staticCache =
        staticCache == "on" || (staticCache == "auto" && target == Target::Cuda);
    FailureOr<ModelModule> model =
        buildModelModule(&context, *config, buildOptions);
    if (failed(model))
      return 1;
    if (!weightsFile.empty()) {
      progress.step("checking " + weightsFile);
      if (llvm::Error err =
              checkSafetensorsWeights(weightsFile, model->weights))
        return fail(llvm::toString(std::move(err)));
    }
    module = std::move(model->module);
    if (train) {
      progress.step("differentiating the training loss");
      if (trainCheckpoint != "none" && trainCheckpoint != "layers")
        return fail("--train-checkpoint must be none or layers, got '" +
                    trainCheckpoint + "'");
      if (failed(addTrainLossFunction(*module, "train_loss")))
        return 1;
      PassManager trainPm(&context);
      RotorAutodiffOptions autodiff;
      autodiff.function = "train_loss";
      autodiff.output = "train_step";
      autodiff.checkpoint = trainCheckpoint;
      autodiff.report = autodiffReport;
      autodiff.lossScale = trainLossScale;
      trainPm.addPass(createRotorAutodiff(autodiff));
      if (failed(trainPm.run(*module)))
        return 1;
      module->lookupSymbol<func::FuncOp>("train_loss").erase();
    }
  } else {
    if (train)
      return fail("--train applies to a model config (.json) input only");
    if (!weightsFile.empty() || !dtypeOverride.empty())
      return fail("--weights and --dtype apply to a model config (.json) "
                  "input only");
    progress.step("parsing " + inputFile);
    std::string error;
    auto file = openInputFile(inputFile, &error);
    if (!file)
      return fail(error);
    sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &context);
    if (!module)
      return 1;
  }
  inputTimer.stop();
  CpuPipelineOptions options;
  options.attentionBlockQ = blockQ;
  options.attentionBlockK = blockK;
  options.fuse = fusion;
  options.fusionReport = fusionReport;
  options.fuseAttentionRope = fuseRope;
  options.fuseKeyRope = fuseKeyRope;
  options.fuseAttentionRotations = fuseRotations;
  options.specializeMasks = specializeMasks;
  options.dilationRelayout = dilationRelayout;
  options.packGqaHeads = packGqa;
  options.moveKeyRotations = moveKeyRotations;
  options.composeRotations = composeRotations;
  options.parallel = parallelLoops;
  CpuStage last = emit == Emit::Rotor    ? CpuStage::Rotor
                  : emit == Emit::Opt    ? CpuStage::Opt
                  : emit == Emit::Linalg ? CpuStage::Linalg
                                         : CpuStage::Llvm;
  auto runStages = [&](CpuStage first, CpuStage to) -> LogicalResult {
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return failure();
    TimingScope pipelineTimer = rootTimer.nest("MLIR pass pipeline");
    pm.enableTiming(pipelineTimer);
    buildPipeline(pm, first, to, options, *insertions);
    return pm.run(*module);
  };
  if (target == Target::Cuda) {
    // The passes inserted after the rotor stage run before the CUDA
    // pipeline (parseInsertions rejects the CPU pipeline's other stages).
    if (failed(runStages(CpuStage::Rotor, CpuStage::Rotor)))
      return 1;
    if (emit == Emit::Rotor)
      return printResult(*module, false);
    auto entries = collectEntrySignatures(*module);
    if (failed(entries))
      return 1;
    CudaPipelineOptions cudaOptions;
    cudaOptions.fuse = fusion;
    cudaOptions.composeRotations = composeRotations;
    cudaOptions.fusionReport = fusionReport;
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return 1;
    TimingScope pipelineTimer = rootTimer.nest("MLIR pass pipeline");
    pm.enableTiming(pipelineTimer);
    buildCudaPipeline(pm, cudaOptions);
    progress.step("optimizing for the CUDA target");
    if (failed(pm.run(*module)))
      return 1;
    if (emit == Emit::Opt)
      return printResult(*module, false);
    if (emit == Emit::Cuda) {
      FailureOr<CudaProgram> program = emitCudaProgram(*module);
      if (failed(program))
        return 1;
      std::string path = outputPath.empty() ? "-" : outputPath.getValue();
      std::string error;
      auto out = openOutputFile(path, &error);
      if (!out)
        return fail(error);
      out->os() << program->source << "\n/* plan.json\n" << program->plan
                << "\n*/\n";
      out->keep();
      return 0;
    }
    return writeArtifact(*module, *entries, progress, rootTimer);
  }

  // Rotor-level stages first: the entry points are read from their result,
  // after any inserted pass that adds, removes or privatizes functions.
  if (failed(runStages(CpuStage::Rotor, std::min(last, CpuStage::Opt))))
    return 1;
  if (emit == Emit::Rotor)
    return printResult(*module, false);
  auto entries = collectEntrySignatures(*module);
  if (failed(entries))
    return 1;
  if (last > CpuStage::Opt) {
    progress.step("lowering to the LLVM dialect");
    if (failed(runStages(CpuStage::Linalg, CpuStage::Linalg)) ||
        failed(checkPluginOpsLowered(*module, pluginDialects)))
      return 1;
    if (last == CpuStage::Llvm && failed(runStages(CpuStage::Llvm, last)))
      return 1;
  }
  if (isModel && last == CpuStage::Llvm)
    internalizeEntryWrappers(*module);
  if (emit == Emit::Opt || emit == Emit::Linalg || emit == Emit::Llvm)
    return printResult(*module, false);
  if (emit == Emit::LlvmIr)
    return printResult(*module, true);
  return writeArtifact(*module, *entries, progress, rootTimer);
}
