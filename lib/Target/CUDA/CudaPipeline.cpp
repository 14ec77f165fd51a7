//===- CudaPipeline.cpp - The CUDA compilation pipeline and artifact files ===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Target/CUDA/CudaTarget.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::rotor;

namespace {
/// The device library's headers, embedded at build time
/// (runtime/cuda/kernels/rotor/cuda/*.cuh), so that every artifact carries
/// the exact library its kernels were generated against.
struct EmbeddedHeader {
  const char *path;
  const char *text;
};
#include "CudaKernelHeaders.inc"
} // namespace

void mlir::rotor::buildCudaPipeline(OpPassManager &pm,
                                    const CudaPipelineOptions &options) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Masks simplified for static lengths (e.g. a window wider than the
  // sequence becomes plain causal) select simpler kernel instances. The
  // dilation relayout is left to the kernel (it visits only key tiles that
  // hold a visible key), and rope stays unfused (see CudaEmitter.cpp).
  pm.addPass(createRotorSpecializeMasks());
  if (options.fuse) {
    RotorFuseLinearOptions fusion;
    fusion.report = options.fusionReport;
    // cuBLAS takes no prologue: a norm stays its own (one-pass) kernel.
    fusion.normPrologue = false;
    pm.addPass(createRotorFuseLinear(fusion));
  }
  // The plan is built per entry function: private helper functions (one
  // per layer kind in models) are inlined and dropped.
  pm.addPass(createInlinerPass());
  pm.addPass(createSymbolDCEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // A Givens chain and a matrix in a row: one cuBLAS product with their
  // composed matrix instead of a Givens kernel and a product. After CSE, so
  // that q and k rotated alike share the composition.
  if (options.composeRotations) {
    RotorComposeRotationsOptions compose;
    compose.report = options.fusionReport;
    pm.addPass(createRotorComposeRotations(compose));
    pm.addPass(createCSEPass());
  }
}

std::string mlir::rotor::findNvcc() {
  if (const char *env = std::getenv("ROTOR_NVCC"))
    return env;
  if (auto path = llvm::sys::findProgramByName("nvcc"))
    return *path;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/nvcc"))
    return "/usr/local/cuda/bin/nvcc";
  return "";
}

static llvm::Error writeText(llvm::StringRef path, llvm::StringRef text) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return llvm::createStringError(ec, "cannot write %s: %s",
                                   path.str().c_str(), ec.message().c_str());
  os << text;
  os.close();
  if (os.has_error())
    return llvm::createStringError(os.error(), "cannot write %s",
                                   path.str().c_str());
  return llvm::Error::success();
}

llvm::Error mlir::rotor::writeCudaFiles(
    llvm::StringRef dir, const CudaProgram &program, llvm::StringRef nvcc,
    llvm::StringRef arch, llvm::function_ref<void(llvm::StringRef)> progress) {
  llvm::SmallString<128> source(dir), plan(dir), include(dir);
  llvm::sys::path::append(source, "kernels.cu");
  llvm::sys::path::append(plan, "plan.json");
  llvm::sys::path::append(include, "include");
  if (llvm::Error err = writeText(source, program.source))
    return err;
  for (const EmbeddedHeader &h : kEmbeddedHeaders) {
    llvm::SmallString<128> path(include);
    llvm::sys::path::append(path, h.path);
    if (std::error_code ec = llvm::sys::fs::create_directories(
            llvm::sys::path::parent_path(path)))
      return llvm::createStringError(ec, "cannot create %s",
                                     path.str().str().c_str());
    if (llvm::Error err = writeText(path, h.text))
      return err;
  }
  std::string planText = program.plan;
  if (!nvcc.empty()) {
    progress(("compiling " + llvm::Twine(program.numKernels) +
              " kernels with nvcc for " + arch)
                 .str());
    llvm::SmallString<128> cubin(dir), log(dir);
    llvm::sys::path::append(cubin, "kernels.cubin");
    llvm::sys::path::append(log, "nvcc.log");
    std::string includeFlag = ("-I" + include).str();
    std::string archFlag = ("-arch=" + arch).str();
    llvm::SmallVector<llvm::StringRef> args = {
        nvcc,       "-cubin", archFlag, "-std=c++17", "-O3",
        includeFlag, "-o",    cubin,    source};
    std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.str(),
                                                  log.str()};
    std::string message;
    int rc = llvm::sys::ExecuteAndWait(nvcc, args, std::nullopt, redirects,
                                       /*SecondsToWait=*/0, /*MemoryLimit=*/0,
                                       &message);
    if (rc != 0) {
      std::string output;
      if (auto buffer = llvm::MemoryBuffer::getFile(log))
        output = (*buffer)->getBuffer().take_back(8000).str();
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "nvcc failed to compile the generated kernels (%s, exit %d): %s\n%s",
          source.c_str(), rc, message.c_str(), output.c_str());
    }
    llvm::sys::fs::remove(log);
    // Name the cubin in the plan.
    size_t pos = planText.find("\"format_version\"");
    planText.insert(pos, "\"cubin\": \"kernels.cubin\",\n \"cubin_arch\": \"" +
                             arch.str() + "\",\n ");
  }
  return writeText(plan, planText);
}
