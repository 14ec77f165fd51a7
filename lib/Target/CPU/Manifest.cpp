//===- Manifest.cpp - Entry signatures and the artifact manifest ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Target/CPU/CpuTarget.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::rotor;

/// The manifest name of an element type, or "" when unsupported.
std::string mlir::rotor::artifactDTypeName(Type t) {
  if (t.isF32())
    return "f32";
  if (t.isF64())
    return "f64";
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "f16";
  if (t.isSignlessInteger(32))
    return "i32";
  if (t.isSignlessInteger(64))
    return "i64";
  return "";
}

FailureOr<std::vector<EntrySignature>>
mlir::rotor::collectEntrySignatures(ModuleOp module) {
  std::vector<EntrySignature> entries;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn.isPrivate() || fn.isExternal())
      continue;
    EntrySignature entry;
    entry.name = fn.getSymName().str();
    auto describe = [&](Type t, std::string name,
                        std::vector<TensorSignature> &into) -> LogicalResult {
      auto rt = dyn_cast<RankedTensorType>(t);
      std::string dtype = rt ? artifactDTypeName(rt.getElementType()) : "";
      if (dtype.empty())
        return fn.emitError()
               << "entry point '" << entry.name << "': '" << name
               << "' has type " << t
               << "; entry points take and return ranked tensors of f16, "
                  "bf16, f32, f64, i32 or i64";
      TensorSignature sig{std::move(name), dtype, {}};
      for (int64_t d : rt.getShape())
        sig.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
      into.push_back(std::move(sig));
      return success();
    };
    for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes())) {
      std::string name = "arg" + std::to_string(i);
      if (auto n = fn.getArgAttrOfType<StringAttr>(i, "rotor.name"))
        name = n.str();
      if (failed(describe(t, name, entry.inputs)))
        return failure();
    }
    for (auto [i, t] : llvm::enumerate(fn.getResultTypes())) {
      std::string name = "result" + std::to_string(i);
      if (auto n = fn.getResultAttrOfType<StringAttr>(i, "rotor.name"))
        name = n.str();
      if (failed(describe(t, name, entry.outputs)))
        return failure();
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty())
    return module.emitError()
           << "the module has no public function to serve as an entry point";
  return entries;
}

static llvm::json::Array tensorsJson(const std::vector<TensorSignature> &ts) {
  llvm::json::Array out;
  for (const TensorSignature &t : ts) {
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d < 0 ? llvm::json::Value(nullptr)
                            : llvm::json::Value(d));
    out.push_back(llvm::json::Object{
        {"name", t.name}, {"dtype", t.dtype}, {"shape", std::move(shape)}});
  }
  return out;
}

llvm::Error
mlir::rotor::writeManifest(llvm::StringRef dir, llvm::StringRef library,
                           const std::vector<EntrySignature> &entries,
                           llvm::StringRef weights,
                           llvm::StringRef target) {
  llvm::json::Array entriesJson;
  for (const EntrySignature &e : entries)
    entriesJson.push_back(llvm::json::Object{
        {"name", e.name},
        {"symbol", "rotor_entry_" + e.name},
        {"inputs", tensorsJson(e.inputs)},
        {"outputs", tensorsJson(e.outputs)}});
  llvm::json::Object manifest{{"format", "rotor-artifact"},
                              {"format_version", 1},
                              {"target", target.str()},
                              {"library", library.str()},
                              {"entries", std::move(entriesJson)}};
  if (!weights.empty())
    manifest["weights"] = weights.str();
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, "manifest.json");
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return llvm::createStringError(ec, "cannot write %s: %s", path.c_str(),
                                   ec.message().c_str());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  return llvm::Error::success();
}
