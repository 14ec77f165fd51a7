//===- CudaPlan.cpp - The launch plan of a CUDA artifact ------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "cuda/CudaPlan.h"
#include "Error.h"
#include "support/Json.h"

#include <set>

using namespace rotor;
using namespace rotor::cuda;
using json::Value;

namespace {

/// Reads fields of JSON objects, failing with the file name and the field
/// path, e.g. "art/plan.json: entries[0].steps[3].grid[1]: ...".
class Reader {
public:
  explicit Reader(const std::string &fileName) : fileName(fileName) {}

  template <typename... Ts>
  rotor_status error(const std::string &path, const Ts &...parts) {
    return fail(ROTOR_ERR_FORMAT, fileName, ": ", path, ": ", parts...);
  }

  rotor_status member(const Value &object, const std::string &path,
                      const char *key, const Value *&out) {
    out = object.find(key);
    if (!out)
      return error(path, "missing field '", key, "'");
    return ROTOR_OK;
  }

  rotor_status integer(const Value &v, const std::string &path, int64_t lo,
                       int64_t hi, int64_t &out) {
    if (!v.isInteger())
      return error(path, "expected an integer, got ",
                   json::describeKind(v.kind()));
    out = v.getInteger();
    if (out < lo || out > hi)
      return error(path, "value ", out, " is outside [", lo, ", ", hi, "]");
    return ROTOR_OK;
  }

  rotor_status index(const Value &v, const std::string &path, size_t limit,
                     const char *what, int &out) {
    if (limit == 0)
      return error(path, "refers to a ", what, " but there are none");
    int64_t i;
    if (rotor_status s = integer(v, path, 0, int64_t(limit) - 1, i))
      return fail(s, rotor_last_error(), " (", limit, " ", what, "s)");
    out = static_cast<int>(i);
    return ROTOR_OK;
  }

  rotor_status indexList(const Value &v, const std::string &path,
                         size_t limit, size_t maxCount, const char *what,
                         std::vector<int> &out) {
    if (!v.isArray())
      return error(path, "expected an array of ", what, " indices");
    if (v.getArray().size() > maxCount)
      return error(path, v.getArray().size(), " ", what,
                   "s given, at most ", maxCount, " allowed");
    out.clear();
    for (size_t i = 0; i < v.getArray().size(); ++i) {
      int x;
      if (rotor_status s = index(v.getArray()[i], strCat(path, "[", i, "]"),
                                 limit, what, x))
        return s;
      out.push_back(x);
    }
    return ROTOR_OK;
  }

  rotor_status string(const Value &object, const std::string &path,
                      const char *key, bool required, std::string &out) {
    const Value *v = object.find(key);
    if (!v) {
      if (required)
        return error(path, "missing field '", key, "'");
      return ROTOR_OK;
    }
    if (!v->isString())
      return error(path + "." + key, "expected a string");
    out = v->getString();
    return ROTOR_OK;
  }

  /// Checks that `object` has no members other than `known`.
  rotor_status onlyKnown(const Value &object, const std::string &path,
                         std::initializer_list<const char *> known) {
    for (const auto &[key, value] : object.getObject()) {
      bool found = false;
      for (const char *k : known)
        found |= key == k;
      if (!found)
        return error(path, "unknown field '", key, "'");
    }
    return ROTOR_OK;
  }

private:
  const std::string &fileName;
};

/// A file name inside the artifact directory (no separators, no "..").
bool isPlainFileName(const std::string &name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.size() <= 256;
}

rotor_status parseSymbol(Reader &r, const Value &v, const std::string &path,
                         size_t index, size_t numInputs, size_t numKernels,
                         Symbol &out) {
  if (!v.isArray() || v.getArray().empty() || !v.getArray()[0].isString())
    return r.error(path, "expected [\"op\", operands...]");
  const std::vector<Value> &a = v.getArray();
  const std::string &op = a[0].getString();
  static const std::pair<const char *, SymbolOp> binary[] = {
      {"add", SymbolOp::Add},         {"sub", SymbolOp::Sub},
      {"mul", SymbolOp::Mul},         {"ceildiv", SymbolOp::CeilDiv},
      {"floordiv", SymbolOp::FloorDiv}, {"max", SymbolOp::Max},
      {"min", SymbolOp::Min}};
  auto arity = [&](size_t n) -> rotor_status {
    if (a.size() != n + 1)
      return r.error(path, "'", op, "' takes ", n, " operands, got ",
                     a.size() - 1);
    return ROTOR_OK;
  };
  if (op == "const") {
    if (rotor_status s = arity(1))
      return s;
    out.op = SymbolOp::Const;
    return r.integer(a[1], path + "[1]", INT64_MIN / 4, INT64_MAX / 4, out.a);
  }
  if (op == "dim") {
    if (rotor_status s = arity(2))
      return s;
    out.op = SymbolOp::Dim;
    int input, axis;
    if (rotor_status s = r.index(a[1], path + "[1]", numInputs, "input", input))
      return s;
    if (rotor_status s = r.index(a[2], path + "[2]", ROTOR_MAX_RANK, "axis",
                                 axis))
      return s;
    out.a = input;
    out.b = axis;
    return ROTOR_OK;
  }
  if (op == "cfg") {
    if (rotor_status s = arity(2))
      return s;
    out.op = SymbolOp::Cfg;
    int kernel, slot;
    if (rotor_status s =
            r.index(a[1], path + "[1]", numKernels, "kernel", kernel))
      return s;
    if (rotor_status s =
            r.index(a[2], path + "[2]", kernelConfigSlots, "slot", slot))
      return s;
    out.a = kernel;
    out.b = slot;
    return ROTOR_OK;
  }
  for (const auto &[name, kind] : binary) {
    if (op != name)
      continue;
    if (rotor_status s = arity(2))
      return s;
    out.op = kind;
    int x, y;
    if (rotor_status s = r.index(a[1], path + "[1]", index, "earlier symbol", x))
      return s;
    if (rotor_status s = r.index(a[2], path + "[2]", index, "earlier symbol", y))
      return s;
    out.a = x;
    out.b = y;
    return ROTOR_OK;
  }
  return r.error(path, "unknown symbol op '", op, "'");
}

rotor_status parseStep(Reader &r, const Value &v, const std::string &path,
                       const PlanEntry &entry, size_t numKernels, Step &out) {
  if (!v.isObject())
    return r.error(path, "expected an object");
  std::string op;
  if (rotor_status s = r.string(v, path, "op", true, op))
    return s;
  size_t nsym = entry.symbols.size(), nval = entry.values.size();
  auto sym = [&](const char *key, int &field) -> rotor_status {
    const Value *f;
    if (rotor_status s = r.member(v, path, key, f))
      return s;
    return r.index(*f, path + "." + key, nsym, "symbol", field);
  };
  auto val = [&](const char *key, int &field) -> rotor_status {
    const Value *f;
    if (rotor_status s = r.member(v, path, key, f))
      return s;
    return r.index(*f, path + "." + key, nval, "value", field);
  };
  auto list = [&](const char *key, size_t limit, size_t maxCount,
                  const char *what, std::vector<int> &field) -> rotor_status {
    const Value *f;
    if (rotor_status s = r.member(v, path, key, f))
      return s;
    return r.indexList(*f, path + "." + key, limit, maxCount, what, field);
  };
  auto number = [&](const char *key, float &field) -> rotor_status {
    const Value *f;
    if (rotor_status s = r.member(v, path, key, f))
      return s;
    if (!f->isNumber())
      return r.error(path + "." + key, "expected a number");
    field = static_cast<float>(f->getNumber());
    return ROTOR_OK;
  };
  auto flag = [&](const char *key, bool &field) -> rotor_status {
    const Value *f;
    if (rotor_status s = r.member(v, path, key, f))
      return s;
    if (!f->isBool())
      return r.error(path + "." + key, "expected true or false");
    field = f->getBool();
    return ROTOR_OK;
  };
#define TRY(x)                                                                 \
  if (rotor_status s = (x))                                                    \
  return s
  if (op == "launch") {
    out.kind = StepKind::Launch;
    TRY(r.onlyKnown(v, path,
                    {"op", "kernel", "grid", "ptrs", "dims", "floats",
                     "writes"}));
    const Value *f;
    TRY(r.member(v, path, "kernel", f));
    TRY(r.index(*f, path + ".kernel", numKernels, "kernel", out.kernel));
    std::vector<int> grid;
    TRY(list("grid", nsym, 3, "symbol", grid));
    if (grid.size() != 3)
      return r.error(path + ".grid", "expected 3 symbols, got ", grid.size());
    for (int i = 0; i < 3; ++i)
      out.grid[i] = grid[i];
    TRY(list("ptrs", nval, 16, "value", out.ptrs));
    TRY(list("dims", nsym, 24, "symbol", out.dims));
    TRY(list("writes", nval, 16, "value", out.writes));
    TRY(r.member(v, path, "floats", f));
    if (!f->isArray() || f->getArray().size() > 8)
      return r.error(path + ".floats", "expected an array of at most 8 numbers");
    for (const Value &x : f->getArray()) {
      if (!x.isNumber())
        return r.error(path + ".floats", "expected numbers");
      out.floats.push_back(static_cast<float>(x.getNumber()));
    }
    for (int w : out.writes) {
      bool passed = false;
      for (int p : out.ptrs)
        passed |= p == w;
      if (!passed)
        return r.error(path + ".writes", "value ", w,
                       " is written but not passed in ptrs");
    }
    return ROTOR_OK;
  }
  if (op == "gemm") {
    out.kind = StepKind::Gemm;
    TRY(r.onlyKnown(v, path,
                    {"op", "a", "b", "c", "m", "n", "k", "batch", "offset_a",
                     "offset_b", "offset_c", "stride_a", "stride_b",
                     "stride_c", "trans_a", "trans_b", "alpha", "beta"}));
    TRY(val("a", out.a));
    TRY(val("b", out.b));
    TRY(val("c", out.c));
    TRY(sym("m", out.m));
    TRY(sym("n", out.n));
    TRY(sym("k", out.k));
    TRY(sym("batch", out.batch));
    TRY(sym("offset_a", out.offsetA));
    TRY(sym("offset_b", out.offsetB));
    TRY(sym("offset_c", out.offsetC));
    TRY(sym("stride_a", out.strideA));
    TRY(sym("stride_b", out.strideB));
    TRY(sym("stride_c", out.strideC));
    TRY(flag("trans_a", out.transA));
    TRY(flag("trans_b", out.transB));
    TRY(number("alpha", out.alpha));
    TRY(number("beta", out.beta));
    rotor_dtype t = entry.values[out.c].dtype;
    if (entry.values[out.a].dtype != t || entry.values[out.b].dtype != t)
      return r.error(path, "gemm operands must share one dtype");
    if (t == ROTOR_I32 || t == ROTOR_I64)
      return r.error(path, "gemm needs floating-point operands");
    return ROTOR_OK;
  }
  if (op == "copy2d") {
    out.kind = StepKind::Copy2D;
    TRY(r.onlyKnown(v, path,
                    {"op", "src", "dst", "src_offset", "dst_offset",
                     "src_pitch", "dst_pitch", "width", "height"}));
    TRY(val("src", out.src));
    TRY(val("dst", out.dst));
    TRY(sym("src_offset", out.srcOffset));
    TRY(sym("dst_offset", out.dstOffset));
    TRY(sym("src_pitch", out.srcPitch));
    TRY(sym("dst_pitch", out.dstPitch));
    TRY(sym("width", out.width));
    TRY(sym("height", out.height));
    return ROTOR_OK;
  }
  if (op == "view") {
    out.kind = StepKind::View;
    TRY(r.onlyKnown(v, path, {"op", "src", "dst", "offset"}));
    TRY(val("src", out.src));
    TRY(val("dst", out.dst));
    TRY(sym("offset", out.srcOffset));
    return ROTOR_OK;
  }
  if (op == "fill") {
    out.kind = StepKind::Fill;
    TRY(r.onlyKnown(v, path, {"op", "dst"}));
    TRY(val("dst", out.dst));
    return ROTOR_OK;
  }
  if (op == "free") {
    out.kind = StepKind::Free;
    TRY(r.onlyKnown(v, path, {"op", "values"}));
    TRY(list("values", nval, nval, "value", out.values));
    return ROTOR_OK;
  }
  return r.error(path + ".op", "unknown step '", op, "'");
#undef TRY
}

rotor_status parseEntry(Reader &r, const Value &v, const std::string &path,
                        size_t numKernels, PlanEntry &out) {
  if (!v.isObject())
    return r.error(path, "expected an object");
  if (rotor_status s = r.onlyKnown(v, path,
                                   {"name", "num_inputs", "symbols", "values",
                                    "inputs", "outputs", "mutated_inputs",
                                    "steps"}))
    return s;
  if (rotor_status s = r.string(v, path, "name", true, out.name))
    return s;
  const Value *f;
  int64_t numInputs;
  if (rotor_status s = r.member(v, path, "num_inputs", f))
    return s;
  if (rotor_status s = r.integer(*f, path + ".num_inputs", 0, 1 << 20,
                                 numInputs))
    return s;

  if (rotor_status s = r.member(v, path, "symbols", f))
    return s;
  if (!f->isArray())
    return r.error(path + ".symbols", "expected an array");
  for (size_t i = 0; i < f->getArray().size(); ++i) {
    Symbol sym;
    if (rotor_status s =
            parseSymbol(r, f->getArray()[i], strCat(path, ".symbols[", i, "]"),
                        i, size_t(numInputs), numKernels, sym))
      return s;
    out.symbols.push_back(sym);
  }

  if (rotor_status s = r.member(v, path, "values", f))
    return s;
  if (!f->isArray())
    return r.error(path + ".values", "expected an array");
  for (size_t i = 0; i < f->getArray().size(); ++i) {
    std::string vp = strCat(path, ".values[", i, "]");
    const Value &x = f->getArray()[i];
    if (!x.isArray() || x.getArray().size() != 2 ||
        !x.getArray()[0].isString())
      return r.error(vp, "expected [\"dtype\", [shape symbols]]");
    ValueSpec spec;
    if (rotor_dtype_from_name(x.getArray()[0].getString().c_str(),
                              &spec.dtype) != ROTOR_OK)
      return r.error(vp, "unknown dtype '", x.getArray()[0].getString(), "'");
    if (rotor_status s =
            r.indexList(x.getArray()[1], vp + "[1]", out.symbols.size(),
                        ROTOR_MAX_RANK, "symbol", spec.shape))
      return s;
    out.values.push_back(std::move(spec));
  }

  if (rotor_status s = r.member(v, path, "inputs", f))
    return s;
  if (rotor_status s = r.indexList(*f, path + ".inputs", out.values.size(),
                                   out.values.size(), "value", out.inputs))
    return s;
  if (out.inputs.size() != size_t(numInputs))
    return r.error(path + ".inputs", "lists ", out.inputs.size(),
                   " values but num_inputs is ", numInputs);
  if (std::set<int>(out.inputs.begin(), out.inputs.end()).size() !=
      out.inputs.size())
    return r.error(path + ".inputs", "lists a value twice");
  if (rotor_status s = r.member(v, path, "outputs", f))
    return s;
  if (rotor_status s = r.indexList(*f, path + ".outputs", out.values.size(),
                                   out.values.size(), "value", out.outputs))
    return s;

  if (const Value *mutated = v.find("mutated_inputs")) {
    if (rotor_status s = r.indexList(*mutated, path + ".mutated_inputs",
                                     size_t(numInputs), size_t(numInputs),
                                     "input", out.mutatedInputs))
      return s;
    if (std::set<int>(out.mutatedInputs.begin(), out.mutatedInputs.end())
            .size() != out.mutatedInputs.size())
      return r.error(path + ".mutated_inputs", "lists an input twice");
  }

  if (rotor_status s = r.member(v, path, "steps", f))
    return s;
  if (!f->isArray())
    return r.error(path + ".steps", "expected an array");
  for (size_t i = 0; i < f->getArray().size(); ++i) {
    Step step;
    if (rotor_status s =
            parseStep(r, f->getArray()[i], strCat(path, ".steps[", i, "]"),
                      out, numKernels, step))
      return s;
    out.steps.push_back(std::move(step));
  }
  return ROTOR_OK;
}

} // namespace

rotor_status rotor::cuda::parsePlan(std::string_view text,
                                    const std::string &fileName, Plan &out) {
  Value root;
  if (rotor_status s = json::parse(text, fileName, root))
    return s;
  Reader r(fileName);
  if (!root.isObject())
    return r.error("(root)", "expected an object");
  if (rotor_status s = r.onlyKnown(root, "(root)",
                                   {"format", "format_version", "cubin",
                                    "cubin_arch", "source", "include_dir",
                                    "kernels", "entries"}))
    return s;
  std::string format;
  if (rotor_status s = r.string(root, "(root)", "format", true, format))
    return s;
  if (format != "rotor-cuda-plan")
    return r.error("format", "expected \"rotor-cuda-plan\", got \"", format,
                   "\"");
  const Value *f;
  if (rotor_status s = r.member(root, "(root)", "format_version", f))
    return s;
  if (!f->isInteger() || f->getInteger() != 1)
    return fail(ROTOR_ERR_UNSUPPORTED, fileName,
                ": format_version: this runtime reads CUDA plans of version 1");
  if (rotor_status s = r.string(root, "(root)", "cubin", false, out.cubin))
    return s;
  if (rotor_status s =
          r.string(root, "(root)", "cubin_arch", !out.cubin.empty(),
                   out.cubinArch))
    return s;
  if (rotor_status s = r.string(root, "(root)", "source", true, out.source))
    return s;
  if (rotor_status s =
          r.string(root, "(root)", "include_dir", true, out.includeDir))
    return s;
  for (const std::string *name : {&out.source, &out.includeDir})
    if (!isPlainFileName(*name))
      return r.error("(root)", "'", *name,
                     "' is not a file name inside the artifact directory");
  if (!out.cubin.empty() && !isPlainFileName(out.cubin))
    return r.error("cubin", "'", out.cubin,
                   "' is not a file name inside the artifact directory");

  if (rotor_status s = r.member(root, "(root)", "kernels", f))
    return s;
  if (!f->isArray())
    return r.error("kernels", "expected an array of kernel names");
  std::set<std::string> seen;
  for (size_t i = 0; i < f->getArray().size(); ++i) {
    const Value &k = f->getArray()[i];
    if (!k.isString() || k.getString().empty() || k.getString().size() > 200)
      return r.error(strCat("kernels[", i, "]"), "expected a kernel name");
    if (!seen.insert(k.getString()).second)
      return r.error(strCat("kernels[", i, "]"), "kernel '", k.getString(),
                     "' is listed twice");
    out.kernels.push_back(k.getString());
  }

  if (rotor_status s = r.member(root, "(root)", "entries", f))
    return s;
  if (!f->isArray())
    return r.error("entries", "expected an array");
  for (size_t i = 0; i < f->getArray().size(); ++i) {
    PlanEntry entry;
    if (rotor_status s = parseEntry(r, f->getArray()[i],
                                    strCat("entries[", i, "]"),
                                    out.kernels.size(), entry))
      return s;
    out.entries.push_back(std::move(entry));
  }
  return ROTOR_OK;
}
