//===- GenericKernel.cpp - linalg.generic as a CUDA kernel ----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "GenericKernel.h"
#include "CudaNames.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AffineExpr.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"


using namespace mlir;
using namespace mlir::rotor;

namespace {

/// LaunchArgs' capacities (runtime/cuda/kernels/rotor/cuda/common.cuh).
constexpr unsigned kMaxPtrs = 16, kMaxDims = 24;

/// The C++ type of an element in memory (CudaNames.h's, and the integer
/// types of generic bodies), or "" if unsupported.
std::string storageType(Type t) {
  if (t.isInteger(1))
    return "bool";
  if (t.isInteger(8))
    return "signed char";
  if (t.isIndex())
    return "long long";
  return cudagen::cType(t);
}

/// The C++ type a scalar is computed in: 16-bit floats in float.
std::string computeType(Type t) {
  if (t.isBF16() || t.isF16())
    return "float";
  return storageType(t);
}

bool isHalf(Type t) { return t.isBF16() || t.isF16(); }

/// An affine expression over the loop indices d0, d1, ... as C++.
FailureOr<std::string> affineText(AffineExpr e) {
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return "d" + std::to_string(d.getPosition());
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return "(" + std::to_string(c.getValue()) + "LL)";
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return failure();
  FailureOr<std::string> l = affineText(bin.getLHS()),
                         r = affineText(bin.getRHS());
  if (failed(l) || failed(r))
    return failure();
  auto floorDiv = [](const std::string &a, const std::string &b) {
    return "(" + a + " >= 0 ? " + a + " / " + b + " : -((-" + a + " + " + b +
           " - 1) / " + b + "))";
  };
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return "(" + *l + " + " + *r + ")";
  case AffineExprKind::Mul:
    return "(" + *l + " * " + *r + ")";
  case AffineExprKind::FloorDiv:
    return floorDiv(*l, *r);
  case AffineExprKind::CeilDiv:
    return "(-" + floorDiv("(-" + *l + ")", *r) + ")";
  case AffineExprKind::Mod:
    return "((" + *l + " % " + *r + " + " + *r + ") % " + *r + ")";
  default:
    return failure();
  }
}

/// Writes the scalar ops of a generic's body as C++ statements.
class BodyWriter {
public:
  BodyWriter(linalg::GenericOp op, llvm::raw_ostream &os) : op(op), os(os) {
    Block &block = op.getRegion().front();
    unsigned inputs = op.getNumDpsInputs();
    for (BlockArgument arg : block.getArguments())
      names[arg] = arg.getArgNumber() < inputs
                       ? "x" + std::to_string(arg.getArgNumber())
                       : "acc" + std::to_string(arg.getArgNumber() - inputs);
  }

  /// The statements of the body; `yields` receives the yielded values.
  LogicalResult write(const std::string &indent,
                      SmallVectorImpl<std::string> &yields) {
    Block &block = op.getRegion().front();
    for (Operation &o : block.without_terminator()) {
      if (o.getNumResults() != 1)
        return unsupported(o);
      std::string type = computeType(o.getResult(0).getType());
      if (type.empty())
        return unsupported(o);
      FailureOr<std::string> expr = expression(o);
      if (failed(expr))
        return failure();
      std::string name = "v" + std::to_string(next++);
      os << indent << "const " << type << " " << name << " = " << *expr
         << ";\n";
      names[o.getResult(0)] = name;
    }
    for (Value v : block.getTerminator()->getOperands()) {
      FailureOr<std::string> n = nameOf(v, *block.getTerminator());
      if (failed(n))
        return failure();
      yields.push_back(*n);
    }
    return success();
  }

private:
  LogicalResult unsupported(Operation &o) {
    return op.emitError() << "the CUDA target cannot generate a kernel for '"
                          << o.getName() << "' in the body of a linalg.generic";
  }

  FailureOr<std::string> nameOf(Value v, Operation &user) {
    auto it = names.find(v);
    if (it != names.end())
      return it->second;
    // Scalar constants defined outside the body are folded in.
    Attribute attr;
    if (auto c = v.getDefiningOp<arith::ConstantOp>())
      attr = c.getValue();
    if (auto f = dyn_cast_or_null<FloatAttr>(attr))
      return "((" + computeType(f.getType()) + ")" +
             cudagen::floatLiteral(f.getValueAsDouble()) + ")";
    if (auto i = dyn_cast_or_null<IntegerAttr>(attr)) {
      if (i.getType().isInteger(1))
        return std::string(i.getValue().isZero() ? "false" : "true");
      return "(" + std::to_string(i.getValue().getSExtValue()) + "LL)";
    }
    return op.emitError() << "the CUDA target cannot generate a kernel for a "
                             "linalg.generic whose body ('"
                          << user.getName()
                          << "') uses a value defined outside it that is not "
                             "a scalar constant";
  }

  FailureOr<std::string> expression(Operation &o) {
    SmallVector<std::string> a;
    for (Value v : o.getOperands()) {
      FailureOr<std::string> n = nameOf(v, o);
      if (failed(n))
        return failure();
      a.push_back(*n);
    }
    Type resultType = o.getResult(0).getType();
    std::string rt = computeType(resultType);
    auto call = [&](llvm::StringRef fn) {
      std::string s = fn.str() + "(";
      for (size_t i = 0; i < a.size(); ++i)
        s += (i ? ", " : "") + a[i];
      return s + ")";
    };
    auto binary = [&](llvm::StringRef sym) {
      return "(" + a[0] + " " + sym.str() + " " + a[1] + ")";
    };
    llvm::StringRef name = o.getName().getStringRef();

    if (auto c = dyn_cast<arith::ConstantOp>(o)) {
      FailureOr<std::string> n = nameOf(c.getResult(), o);
      return n;
    }
    if (auto index = dyn_cast<linalg::IndexOp>(o))
      return "d" + std::to_string(index.getDim());
    if (auto cmp = dyn_cast<arith::CmpFOp>(o)) {
      const std::string &l = a[0], &r = a[1];
      std::string unord = "(" + l + " != " + l + " || " + r + " != " + r + ")";
      switch (cmp.getPredicate()) {
      case arith::CmpFPredicate::AlwaysFalse: return std::string("false");
      case arith::CmpFPredicate::AlwaysTrue: return std::string("true");
      case arith::CmpFPredicate::OEQ: return binary("==");
      case arith::CmpFPredicate::OGT: return binary(">");
      case arith::CmpFPredicate::OGE: return binary(">=");
      case arith::CmpFPredicate::OLT: return binary("<");
      case arith::CmpFPredicate::OLE: return binary("<=");
      case arith::CmpFPredicate::ONE: return "(" + l + " < " + r + " || " + l + " > " + r + ")";
      case arith::CmpFPredicate::ORD: return "!" + unord;
      case arith::CmpFPredicate::UEQ: return "!(" + l + " < " + r + " || " + l + " > " + r + ")";
      case arith::CmpFPredicate::UGT: return "!(" + l + " <= " + r + ")";
      case arith::CmpFPredicate::UGE: return "!(" + l + " < " + r + ")";
      case arith::CmpFPredicate::ULT: return "!(" + l + " >= " + r + ")";
      case arith::CmpFPredicate::ULE: return "!(" + l + " > " + r + ")";
      case arith::CmpFPredicate::UNE: return binary("!=");
      case arith::CmpFPredicate::UNO: return unord;
      }
    }
    if (auto cmp = dyn_cast<arith::CmpIOp>(o)) {
      auto u = [&](const std::string &x) {
        return "(unsigned long long)" + x;
      };
      switch (cmp.getPredicate()) {
      case arith::CmpIPredicate::eq: return binary("==");
      case arith::CmpIPredicate::ne: return binary("!=");
      case arith::CmpIPredicate::slt: return binary("<");
      case arith::CmpIPredicate::sle: return binary("<=");
      case arith::CmpIPredicate::sgt: return binary(">");
      case arith::CmpIPredicate::sge: return binary(">=");
      case arith::CmpIPredicate::ult: return "(" + u(a[0]) + " < " + u(a[1]) + ")";
      case arith::CmpIPredicate::ule: return "(" + u(a[0]) + " <= " + u(a[1]) + ")";
      case arith::CmpIPredicate::ugt: return "(" + u(a[0]) + " > " + u(a[1]) + ")";
      case arith::CmpIPredicate::uge: return "(" + u(a[0]) + " >= " + u(a[1]) + ")";
      }
    }
    // A float cast rounds like its result type: 16-bit results through it.
    auto floatCast = [&](const std::string &x) {
      if (isHalf(resultType))
        return "rotor::cuda::toF32(rotor::cuda::fromF32<" +
               storageType(resultType) + ">((float)(" + x + ")))";
      return "(" + rt + ")(" + x + ")";
    };
    std::optional<std::string> e;
    if (a.size() == 1) {
      if (name == "arith.negf")
        e = "(-" + a[0] + ")";
      else if (llvm::StringSwitch<bool>(name)
                   .Cases({"arith.sitofp", "arith.extf", "arith.truncf"}, true)
                   .Default(false))
        e = floatCast(a[0]);
      else if (llvm::StringSwitch<bool>(name)
                   .Cases({"arith.fptosi", "arith.extsi", "arith.trunci",
                           "arith.index_cast"},
                          true)
                   .Default(false))
        e = "(" + rt + ")(" + a[0] + ")";
      else if (const char *fn =
                   llvm::StringSwitch<const char *>(name)
                       .Case("math.exp", "exp")
                       .Case("math.exp2", "exp2")
                       .Case("math.expm1", "expm1")
                       .Case("math.log", "log")
                       .Case("math.log2", "log2")
                       .Case("math.log1p", "log1p")
                       .Case("math.sqrt", "sqrt")
                       .Case("math.rsqrt", "rsqrt")
                       .Case("math.tanh", "tanh")
                       .Case("math.erf", "erf")
                       .Case("math.sin", "sin")
                       .Case("math.cos", "cos")
                       .Case("math.absf", "fabs")
                       .Case("math.floor", "floor")
                       .Case("math.ceil", "ceil")
                       .Default(nullptr))
        e = call(fn);
    } else if (a.size() == 2) {
      if (const char *sym = llvm::StringSwitch<const char *>(name)
                                .Cases({"arith.addf", "arith.addi"}, "+")
                                .Cases({"arith.subf", "arith.subi"}, "-")
                                .Cases({"arith.mulf", "arith.muli"}, "*")
                                .Cases({"arith.divf", "arith.divsi"}, "/")
                                .Case("arith.remsi", "%")
                                .Case("arith.andi", "&")
                                .Case("arith.ori", "|")
                                .Case("arith.xori", "^")
                                .Default(nullptr))
        e = binary(sym);
      else if (name == "arith.maximumf" || name == "arith.minimumf")
        // NaN-propagating, unlike fmax/fmin.
        e = "(" + a[0] + " != " + a[0] + " ? " + a[0] + " : " + a[1] +
            " != " + a[1] + " ? " + a[1] + " : " +
            (name == "arith.maximumf" ? "fmax(" : "fmin(") + a[0] + ", " +
            a[1] + "))";
      else if (name == "arith.maxsi" || name == "arith.minsi")
        e = "(" + a[0] + (name == "arith.maxsi" ? " > " : " < ") + a[1] +
            " ? " + a[0] + " : " + a[1] + ")";
      else if (const char *fn = llvm::StringSwitch<const char *>(name)
                                    .Case("arith.remf", "fmod")
                                    .Case("arith.maxnumf", "fmax")
                                    .Case("arith.minnumf", "fmin")
                                    .Case("math.powf", "pow")
                                    .Case("math.copysign", "copysign")
                                    .Default(nullptr))
        e = call(fn);
    } else if (a.size() == 3) {
      if (name == "arith.select")
        e = "(" + a[0] + " ? " + a[1] + " : " + a[2] + ")";
      else if (name == "math.fma")
        e = call("fma");
    }
    if (!e)
      return unsupported(o);
    // Integer ops are typed by their result (arith.divsi on i64, ...).
    if (!isa<FloatType>(resultType) && !resultType.isInteger(1))
      return "(" + rt + ")" + *e;
    return *e;
  }

  linalg::GenericOp op;
  llvm::raw_ostream &os;
  llvm::DenseMap<Value, std::string> names;
  int next = 0;
};

} // namespace

FailureOr<GenericKernel> mlir::rotor::buildGenericKernel(linalg::GenericOp op) {
  auto fail = [&](const llvm::Twine &why) {
    return op.emitError() << "the CUDA target cannot generate a kernel for "
                             "this linalg.generic: "
                          << why;
  };
  if (!op.hasPureTensorSemantics())
    return fail("it is not on tensors");
  unsigned nIn = op.getNumDpsInputs(), nOut = op.getNumDpsInits();
  SmallVector<RankedTensorType> types;
  for (Value v : op->getOperands()) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t)
      return fail("an operand is not a ranked tensor");
    if (storageType(t.getElementType()).empty())
      return fail("an operand's element type is not supported");
    types.push_back(t);
  }
  unsigned dimsNeeded = op.getNumLoops();
  for (RankedTensorType t : types)
    dimsNeeded += t.getRank();
  if (nIn + 2 * nOut > kMaxPtrs || dimsNeeded > kMaxDims)
    return fail(llvm::formatv("it needs {0} buffers and {1} sizes, more than "
                              "a launch holds ({2} and {3})",
                              nIn + 2 * nOut, dimsNeeded, kMaxPtrs, kMaxDims)
                    .str());

  GenericKernel kernel;
  // Loop bounds from the operands' sizes.
  AffineMap shapesToLoops = op.getShapesToLoopsMap();
  if (!shapesToLoops)
    return fail("its loop bounds do not follow from its operands' sizes");
  SmallVector<std::pair<unsigned, unsigned>> flat;
  for (auto [k, t] : llvm::enumerate(types))
    for (int64_t d = 0; d < t.getRank(); ++d)
      flat.push_back({static_cast<unsigned>(k), static_cast<unsigned>(d)});
  for (AffineExpr e : shapesToLoops.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || d.getPosition() >= flat.size())
      return fail("its loop bounds do not follow from its operands' sizes");
    kernel.loopBounds.push_back(flat[d.getPosition()]);
  }
  unsigned nLoops = op.getNumLoops();
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  SmallVector<unsigned> reductions;
  for (unsigned l = 0; l < nLoops; ++l)
    (iters[l] == utils::IteratorType::parallel ? kernel.parallelLoops
                                               : reductions)
        .push_back(l);
  // Each thread writes its own elements: every output map is a permutation
  // of the parallel loops.
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  for (unsigned j = 0; j < nOut; ++j) {
    AffineMap m = maps[nIn + j];
    bool ok = m.isProjectedPermutation() &&
              m.getNumResults() == kernel.parallelLoops.size();
    for (AffineExpr e : m.getResults()) {
      auto d = dyn_cast<AffineDimExpr>(e);
      ok = ok && d && iters[d.getPosition()] == utils::IteratorType::parallel;
    }
    if (!ok)
      return fail("an output's indexing map is not a permutation of the "
                  "parallel loops");
  }

  std::string body;
  llvm::raw_string_ostream os(body);
  os << "// linalg.generic: " << nLoops << " loops (";
  for (unsigned l = 0; l < nLoops; ++l)
    os << (l ? ", " : "")
       << (iters[l] == utils::IteratorType::parallel ? "parallel"
                                                     : "reduction");
  os << "), " << nIn << " inputs, " << nOut << " outputs\n"
     << "extern \"C\" __global__ void __launch_bounds__(256)\n"
     << "@NAME@(const __grid_constant__ rotor::cuda::LaunchArgs a) {\n";
  for (unsigned l = 0; l < nLoops; ++l)
    os << "  const long long b" << l << " = a.dim[" << l << "];\n";
  unsigned dim = nLoops;
  for (auto [k, t] : llvm::enumerate(types))
    for (int64_t d = 0; d < t.getRank(); ++d)
      os << "  const long long s" << k << "_" << d << " = a.dim[" << dim++
         << "];\n";
  os << "  const long long n = 1LL";
  for (unsigned l : kernel.parallelLoops)
    os << " * b" << l;
  os << ";\n"
     << "  for (long long i = (long long)blockIdx.x * 256 + threadIdx.x; i < "
        "n; i += (long long)gridDim.x * 256) {\n"
     << "    long long rem = i;\n";
  for (unsigned l : llvm::reverse(kernel.parallelLoops))
    os << "    const long long d" << l << " = rem % b" << l << ";\n"
       << "    rem /= b" << l << ";\n";

  // The linear offset of operand k's element at the current loop indices.
  auto offset = [&](unsigned k) -> FailureOr<std::string> {
    AffineMap m = maps[k];
    if (m.getNumResults() == 0)
      return std::string("0");
    std::string off;
    for (auto [d, e] : llvm::enumerate(m.getResults())) {
      FailureOr<std::string> idx = affineText(e);
      if (failed(idx))
        return failure();
      off = d == 0 ? *idx
                   : "(" + off + ") * s" + std::to_string(k) + "_" +
                         std::to_string(d) + " + " + *idx;
    }
    return off;
  };
  auto load = [&](unsigned k, const std::string &off) {
    Type t = types[k].getElementType();
    std::string x =
        "((const " + storageType(t) + " *)a.ptr[" + std::to_string(k) +
        "])[" + off + "]";
    return isHalf(t) ? "rotor::cuda::toF32(" + x + ")" : x;
  };
  Block &block = op.getRegion().front();
  SmallVector<std::string> outOffsets;
  for (unsigned j = 0; j < nOut; ++j) {
    FailureOr<std::string> off = offset(nIn + j);
    if (failed(off))
      return fail("an output's indexing map is not supported");
    outOffsets.push_back(*off);
    Type t = types[nIn + j].getElementType();
    os << "    " << computeType(t) << " acc" << j << " = ";
    if (block.getArgument(nIn + j).use_empty())
      os << computeType(t) << "();\n";
    else
      os << load(nIn + j, *off) << ";\n";
  }
  std::string indent = "    ";
  for (unsigned l : reductions) {
    os << indent << "for (long long d" << l << " = 0; d" << l << " < b" << l
       << "; ++d" << l << ")\n";
    indent += "  ";
  }
  os << indent.substr(2) << "  {\n";
  std::string inner = indent + "  ";
  if (reductions.empty())
    inner = "      ";
  for (unsigned k = 0; k < nIn; ++k) {
    if (block.getArgument(k).use_empty())
      continue;
    FailureOr<std::string> off = offset(k);
    if (failed(off))
      return fail("an input's indexing map is not supported");
    os << inner << "const " << computeType(types[k].getElementType()) << " x"
       << k << " = " << load(k, *off) << ";\n";
  }
  SmallVector<std::string> yields;
  BodyWriter writer(op, os);
  if (failed(writer.write(inner, yields)))
    return failure();
  for (unsigned j = 0; j < nOut; ++j)
    os << inner << "acc" << j << " = " << yields[j] << ";\n";
  os << indent.substr(2) << "  }\n";
  for (unsigned j = 0; j < nOut; ++j) {
    Type t = types[nIn + j].getElementType();
    std::string st = storageType(t);
    os << "    ((" << st << " *)a.ptr[" << nIn + nOut + j << "])["
       << outOffsets[j] << "] = "
       << (isHalf(t) ? "rotor::cuda::fromF32<" + st + ">(acc" +
                           std::to_string(j) + ")"
                     : "(" + st + ")acc" + std::to_string(j))
       << ";\n";
  }
  os << "  }\n}\n"
     << "extern \"C\" __constant__ int @NAME@_cfg[4] = {256, 0, 1024, 1};\n";
  kernel.body = std::move(body);
  return kernel;
}
