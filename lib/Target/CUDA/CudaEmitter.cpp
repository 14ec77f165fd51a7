//===- CudaEmitter.cpp - Rotor IR to CUDA kernels and a launch plan -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Walks each entry function in order and, for every op, appends steps to the
// entry's launch plan:
//
//  * rotor ops become kernel launches of generated `extern "C"` wrappers that
//    instantiate the device library's templates with the op's static
//    parameters (dtype, head dim, mask, rope layout, ...), or cuBLAS products
//    (linear, rotate) followed by an epilogue kernel;
//  * elementwise ops (add, mul, activations, float casts) become generated
//    kernels with broadcasting, and other linalg.generic ops generated
//    kernels of their own (GenericKernel.h);
//  * views (tensor.cast, contiguous slices) alias buffers; concatenations
//    and strided slices are 2-D copies.
//
// Every tensor value gets a symbolic shape: a static size is a constant, a
// dynamic one an expression over the entry's input dimensions, so that the
// plan serves every batch and sequence length. Identical wrappers are
// emitted once (a 32-layer model has as many kernels as one layer), and
// buffers are freed after their last use.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Target/CPU/CpuTarget.h"
#include "rotor/Target/CUDA/CudaTarget.h"

#include "CudaNames.h"
#include "GenericKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <map>
#include <set>

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// The largest grid of the grid-stride kernels: enough blocks to fill any
/// GPU many times over.
constexpr int64_t kMaxStrideBlocks = 65535 * 8;

using cudagen::cType;
using cudagen::floatLiteral;

int64_t byteWidth(Type t) { return t.getIntOrFloatBitWidth() / 8; }

std::string boolLiteral(bool b) { return b ? "true" : "false"; }

/// The kernels of a module: generated wrappers, deduplicated by text.
class KernelTable {
public:
  /// Returns the index of the kernel whose wrapper is `body` with @NAME@
  /// standing for the kernel's name, adding it if new.
  int get(const std::string &body) {
    auto it = index.find(body);
    if (it != index.end())
      return it->second;
    int k = static_cast<int>(names.size());
    std::string name = "rotor_k" + std::to_string(k);
    std::string text = body;
    for (size_t pos; (pos = text.find("@NAME@")) != std::string::npos;)
      text.replace(pos, 6, name);
    source += text + "\n";
    names.push_back(name);
    index[body] = k;
    return k;
  }
  /// Adds a kernel under a fixed name (`body` uses it literally).
  void addNamed(const std::string &name, const std::string &body) {
    source += body + "\n";
    names.push_back(name);
  }
  std::vector<std::string> names;
  std::string source;

private:
  std::map<std::string, int> index;
};

/// Builds the wrapper of one library kernel: the template instantiation,
/// and the Params fields filled from the launch arguments.
class Wrapper {
public:
  explicit Wrapper(std::string type) : type(std::move(type)) {}

  /// p.FIELD = pointer argument `value` (a plan value) as `ctype*`.
  void ptr(llvm::StringRef field, int value, llvm::StringRef ctype,
           bool isConst = true) {
    assigns += llvm::formatv("  p.{0} = ({1}{2} *)a.ptr[{3}];\n", field,
                             isConst ? "const " : "", ctype, ptrs.size())
                   .str();
    ptrs.push_back(value);
  }
  /// p.FIELD = dimension argument `symbol`.
  void dim(llvm::StringRef field, int symbol) {
    assigns +=
        llvm::formatv("  p.{0} = a.dim[{1}];\n", field, dims.size()).str();
    dims.push_back(symbol);
  }
  /// p.FIELD = a literal.
  void literal(llvm::StringRef field, const std::string &value) {
    assigns += llvm::formatv("  p.{0} = {1};\n", field, value).str();
  }

  std::string body() const {
    return llvm::formatv(
               "// {0}\n"
               "using @NAME@_t = {0};\n"
               "extern \"C\" __global__ void __launch_bounds__("
               "@NAME@_t::kThreads, @NAME@_t::kMinBlocksPerSM)\n"
               "@NAME@(const __grid_constant__ rotor::cuda::LaunchArgs a) {{\n"
               "  @NAME@_t::Params p{{};\n{1}"
               "  @NAME@_t::run(p);\n}\n"
               "extern \"C\" __constant__ int @NAME@_cfg[4] = {{"
               "@NAME@_t::kThreads, @NAME@_t::kSmemBytes, @NAME@_t::kTile, "
               "@NAME@_t::kMinBlocksPerSM};\n",
               type, assigns)
        .str();
  }

  std::string type, assigns;
  std::vector<int> ptrs, dims;
};

/// The plan of one entry function.
class EntryEmitter {
public:
  EntryEmitter(func::FuncOp fn, KernelTable &kernels)
      : fn(fn), kernels(kernels) {}

  LogicalResult emit();
  llvm::json::Object toJson();

private:
  //===--- Symbols --------------------------------------------------------===//
  int symbol(llvm::StringRef op, int64_t a, int64_t b, bool hasB) {
    std::string key = (op + ":" + llvm::Twine(a) + ":" + llvm::Twine(b)).str();
    auto it = symbolIndex.find(key);
    if (it != symbolIndex.end())
      return it->second;
    llvm::json::Array entry{op.str(), a};
    if (hasB)
      entry.push_back(b);
    symbols.push_back(std::move(entry));
    int id = static_cast<int>(symbols.size()) - 1;
    symbolIndex[key] = id;
    if (op == "const")
      constants[id] = a;
    return id;
  }
  int cst(int64_t v) { return symbol("const", v, 0, false); }
  std::optional<int64_t> constantOf(int s) const {
    auto it = constants.find(s);
    if (it == constants.end())
      return std::nullopt;
    return it->second;
  }
  int binary(llvm::StringRef op, int x, int y) {
    auto cx = constantOf(x), cy = constantOf(y);
    if (cx && cy) {
      int64_t a = *cx, b = *cy;
      if (op == "add")
        return cst(a + b);
      if (op == "sub")
        return cst(a - b);
      if (op == "mul")
        return cst(a * b);
      if (op == "max")
        return cst(std::max(a, b));
      if (op == "min")
        return cst(std::min(a, b));
      if (op == "ceildiv" && b > 0)
        return cst((a + b - 1) / b);
      if (op == "floordiv" && b > 0)
        return cst(a >= 0 ? a / b : -((-a + b - 1) / b));
    }
    if ((op == "mul" || op == "ceildiv" || op == "floordiv") && cy == 1)
      return x;
    if (op == "mul" && cx == 1)
      return y;
    if ((op == "add" || op == "sub") && cy == 0)
      return x;
    if (op == "add" && cx == 0)
      return y;
    return symbol(op, x, y, true);
  }
  int mul(int x, int y) { return binary("mul", x, y); }
  int add(int x, int y) { return binary("add", x, y); }
  int product(llvm::ArrayRef<int> syms) {
    int p = cst(1);
    for (int s : syms)
      p = mul(p, s);
    return p;
  }
  /// The grid of a grid-stride kernel over `units` work units.
  int strideGrid(int kernel, int units) {
    return binary("min",
                  binary("ceildiv", units, symbol("cfg", kernel, 2, true)),
                  cst(kMaxStrideBlocks));
  }

  //===--- Values ---------------------------------------------------------===//
  int newValue(Type elementType, SmallVector<int> shape) {
    values.push_back({elementType, std::move(shape)});
    return static_cast<int>(values.size()) - 1;
  }
  /// The plan value of SSA tensor `v` (which must have been defined).
  int valueOf(Value v) { return valueIds.lookup(v); }
  llvm::ArrayRef<int> shapeOf(Value v) { return values[valueOf(v)].shape; }
  int dimOf(Value v, int64_t d) { return shapeOf(v)[d]; }
  /// Defines the result `v` of an op: a new plan value whose dynamic sizes
  /// are given by `dynamicSizes` (one per dynamic dimension, in order) or
  /// `fullShape` (one per dimension).
  int define(Value v, SmallVector<int> fullShape) {
    auto type = cast<RankedTensorType>(v.getType());
    for (auto [i, d] : llvm::enumerate(type.getShape()))
      if (!ShapedType::isDynamic(d))
        fullShape[i] = cst(d);
    int id = newValue(type.getElementType(), std::move(fullShape));
    valueIds[v] = id;
    return id;
  }
  /// Defines `v` with the shape of `like` where `v` is dynamic.
  int defineLike(Value v, Value like) {
    return define(v, SmallVector<int>(shapeOf(like)));
  }
  /// The symbol of an SSA index value.
  FailureOr<int> indexSymbol(Value v);

  //===--- Steps ----------------------------------------------------------===//
  void launch(const Wrapper &w, std::array<int, 3> grid,
              llvm::ArrayRef<int> writes);
  /// A launch of generated kernel `kernel`; grid entries below 0 stand for
  /// a grid-stride over `-entry - 1` units (strideOver).
  void addLaunch(int kernel, std::array<int, 3> grid, llvm::ArrayRef<int> ptrs,
                 llvm::ArrayRef<int> dims, llvm::ArrayRef<int> writes);
  /// A generated grid-stride kernel writing element i of value `out`, of C
  /// type `t`, as `expr`: dims[0] elements, `expr` may read a.dim[1..] and
  /// what `prelude` declares; `// comment` heads it in the source.
  void launchPerElement(llvm::StringRef comment, llvm::StringRef prelude,
                        llvm::StringRef t, llvm::StringRef expr, int out,
                        llvm::ArrayRef<int> dims);
  /// The kernel index of a library wrapper.
  int kernelOf(const Wrapper &w) { return kernels.get(w.body()); }
  void gemm(int a, int b, int c, int m, int n, int k, bool transB,
            int batch = -1, int strideA = -1, int strideB = -1,
            int strideC = -1, int offsetB = -1, bool transA = false);
  void addStep(llvm::json::Object step, llvm::ArrayRef<int> uses) {
    steps.push_back(std::move(step));
    stepUses.emplace_back(uses.begin(), uses.end());
  }
  /// A scratch value, freed after the step that next uses it.
  int scratch(Type elementType, SmallVector<int> shape) {
    return newValue(elementType, std::move(shape));
  }

  //===--- Ops ------------------------------------------------------------===//
  LogicalResult emitOp(Operation *op);
  LogicalResult emitAttention(AttentionOp op);
  LogicalResult emitAttentionGrad(AttentionGradOp op);
  LogicalResult emitRope(RopeOp op);
  FailureOr<int> emitRopeApply(Operation *op, Value input, Value positions,
                               RopeLayout layout, int64_t rotaryDim,
                               std::optional<double> base, Value learnedBase,
                               RopeScalingAttr scaling, Value result,
                               bool transpose = false);
  /// The plan value of rope's frequency table (RopeInvFreq: inv_freq and
  /// the attention factor) for these parameters: launched at the first
  /// request of the entry, the same value for every later one.
  int emitRopeTable(Operation *op, int64_t rotaryDim, RopeScalingAttr scaling,
                    std::optional<double> base, Value learnedBase,
                    Value positions);
  LogicalResult emitGivens(GivensOp op);
  LogicalResult emitRopeBaseGrad(RopeBaseGradOp op);
  /// The Givens kernel: the chain (`angles`, `pairs`) on the rows of plan
  /// value `input` (a tensor of `type`) into plan value `out`.
  LogicalResult emitGivensApply(Operation *op, RankedTensorType type,
                                int input, Value angles,
                                ArrayRef<int64_t> pairs, int out);
  LogicalResult emitGivensGrad(GivensGradOp op);
  /// A product (and epilogue) reading `input`'s plan value, or
  /// `inputValue` when given (a normalized copy of it).
  LogicalResult emitMatmul(Operation *op, Value input, Value weight,
                           Value bias, Value residual, Activation act,
                           Value result, bool transB, int inputValue = -1);
  LogicalResult emitFusedGateUp(FusedGateUpOp op);
  /// The input of a linear with an RMSNorm prologue (`rms_norm(g)`): the
  /// RmsNorm kernel into a scratch buffer, bound to the op's input value for
  /// the product that follows; `input` itself without a prologue.
  int normalizedInput(Value input, Value normWeight,
                      std::optional<llvm::APFloat> eps);
  LogicalResult emitRowKernel(Operation *op, llvm::StringRef kernel,
                              Value input, Value weight, Value bias,
                              std::optional<double> eps);
  /// A row kernel (norms, softmax) of `input` writing plan value `out`.
  void rowKernel(llvm::StringRef kernel, Value input, Value weight, Value bias,
                 std::optional<double> eps, int out);
  LogicalResult emitEmbedding(EmbeddingOp op);
  LogicalResult emitCacheWrite(CacheWriteOp op);
  LogicalResult emitConv1d(Conv1dOp op);
  LogicalResult emitSinusoidal(SinusoidalEmbeddingOp op);
  LogicalResult emitCrossEntropy(CrossEntropyOp op);
  LogicalResult emitCrossEntropyGrad(CrossEntropyGradOp op);
  LogicalResult emitRmsNormGrad(RmsNormGradOp op);
  LogicalResult emitEmbeddingGrad(EmbeddingGradOp op);
  LogicalResult emitLinearWeightGrad(LinearWeightGradOp op);
  LogicalResult emitActivationGrad(ActivationGradOp op);
  LogicalResult emitTranspose(linalg::TransposeOp op);
  /// The 2-D matrix that `weight` transposes when it is a transpose that
  /// only feeds linear weights (the product then reads it untransposed).
  Value foldedTranspose(Value weight);
  /// True when `v` is a tensor.empty used only as the init of ops that
  /// overwrite it (transposes, fills): it needs no buffer of its own.
  bool onlyTransposeInit(Value v) {
    if (!v.getDefiningOp<tensor::EmptyOp>() || v.use_empty())
      return false;
    return llvm::all_of(v.getUses(), [](OpOperand &use) {
      if (auto t = dyn_cast<linalg::TransposeOp>(use.getOwner()))
        return use.get() == t.getInit();
      if (auto f = dyn_cast<linalg::FillOp>(use.getOwner()))
        return use.get() == f.getOutputs()[0];
      return false;
    });
  }
  LogicalResult emitLinalgFill(linalg::FillOp op);
  /// A sum over every dimension but the last: ColumnSum; any other
  /// linalg.generic: a generated kernel (buildGenericKernel).
  LogicalResult emitGeneric(linalg::GenericOp op);
  /// ColumnSum for `op`, or failure (no diagnostic) when it is not a sum
  /// over every dimension but the last.
  LogicalResult emitColumnSum(linalg::GenericOp op);
  /// out = in converted element by element (n elements) through f32.
  void convert(int in, Type inElem, int out, Type outElem, int n);
  /// `table` as an f32 value: itself, or an f32 copy of a 16-bit table.
  int asF32(Value table);
  LogicalResult emitHeads(Operation *op, bool split);
  LogicalResult emitElementwise(Operation *op, llvm::StringRef expr,
                                ValueRange operands);
  LogicalResult emitConcat(tensor::ConcatOp op);
  /// A unit-stride slice of a tensor of shape `fullShape` that is one
  /// contiguous piece per row of the dimensions before `axis`: `height`
  /// pieces of `width` bytes, `fullPitch` bytes apart in the full tensor,
  /// the first at byte `offset`.
  struct SliceGeometry {
    SmallVector<int> offsets, sizes;
    int64_t axis = 0;
    int inner = -1, offset = -1, fullPitch = -1, width = -1, height = -1;
  };
  FailureOr<SliceGeometry> sliceGeometry(Operation *op,
                                         RankedTensorType fullType,
                                         ArrayRef<int> fullShape,
                                         SmallVector<int> offsets,
                                         SmallVector<int> sizes);
  /// The symbols of a slice's offsets and sizes (its strides must be 1).
  LogicalResult sliceSymbols(Operation *op, ArrayRef<OpFoldResult> mixedOffsets,
                             ArrayRef<OpFoldResult> mixedSizes,
                             ArrayRef<OpFoldResult> mixedStrides,
                             SmallVector<int> &offsets,
                             SmallVector<int> &sizes);
  /// Copies all of value `src` into value `dst` (of the same size).
  void copyWhole(int src, int dst) {
    int bytes = mul(product(values[src].shape),
                    cst(byteWidth(values[src].elementType)));
    addStep(llvm::json::Object{{"op", "copy2d"},
                               {"src", src},
                               {"dst", dst},
                               {"src_offset", cst(0)},
                               {"dst_offset", cst(0)},
                               {"src_pitch", bytes},
                               {"dst_pitch", bytes},
                               {"width", bytes},
                               {"height", cst(1)}},
            {src, dst});
  }
  /// Copies `source` over the slice `g` of `out` (copy2d).
  void insertInto(int source, int out, const SliceGeometry &g);
  LogicalResult emitInsertSlice(tensor::InsertSliceOp op);
  LogicalResult emitPad(tensor::PadOp op);
  /// Fills value `out` with `value` (0 for a null attribute).
  void fill(int out, Type elementType, Attribute value);
  /// `result` as a view of `source`'s buffer with shape `shape` (static
  /// sizes of `result`'s type take precedence, as in define()).
  LogicalResult emitReshape(Value source, Value result, SmallVector<int> shape);
  LogicalResult emitExtractSlice(tensor::ExtractSliceOp op);
  LogicalResult emitFill(Value result, Attribute value, ValueRange sizes);
  LogicalResult emitGenerate(tensor::GenerateOp op);
  LogicalResult emitConstant(arith::ConstantOp op);

  func::FuncOp fn;
  KernelTable &kernels;
  std::vector<llvm::json::Value> symbols;
  llvm::StringMap<int> symbolIndex;
  llvm::DenseMap<int, int64_t> constants;
  struct ValueRec {
    Type elementType;
    SmallVector<int> shape;
  };
  std::vector<ValueRec> values;
  llvm::DenseMap<Value, int> valueIds;
  llvm::DenseMap<Value, int> indexSyms;
  std::vector<llvm::json::Object> steps;
  std::vector<SmallVector<int>> stepUses;
  SmallVector<int> inputs, outputs;
  /// The rope frequency tables computed so far in this entry: every rope of
  /// a model (q and k of each layer, their transposes and base gradients in
  /// the backward) with the same rotary dim, scaling, base and positions
  /// reads one table, computed once.
  struct RopeTable {
    int64_t rotaryDim;
    Attribute scaling;
    double base;
    Value learnedBase, positions;
    int table;
  };
  SmallVector<RopeTable> ropeTables;
  /// Entry inputs whose buffer a step writes in place (cache_write): the
  /// runtime gives them a buffer of their own on every call.
  std::set<int> mutatedInputs;
};

FailureOr<int> EntryEmitter::indexSymbol(Value v) {
  auto it = indexSyms.find(v);
  if (it != indexSyms.end())
    return it->second;
  Operation *def = v.getDefiningOp();
  std::optional<int> result;
  if (!def) {
    // An index block argument (of a tensor.generate body) has no symbol.
  } else if (auto c = dyn_cast<arith::ConstantIndexOp>(def)) {
    result = cst(c.value());
  } else if (auto d = dyn_cast<tensor::DimOp>(def)) {
    std::optional<int64_t> axis = d.getConstantIndex();
    if (axis && valueIds.count(d.getSource()))
      result = dimOf(d.getSource(), *axis);
  } else if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(def)) {
    FailureOr<int> x = indexSymbol(def->getOperand(0));
    FailureOr<int> y = indexSymbol(def->getOperand(1));
    if (succeeded(x) && succeeded(y))
      result = binary(isa<arith::AddIOp>(def)   ? "add"
                      : isa<arith::SubIOp>(def) ? "sub"
                                                : "mul",
                      *x, *y);
  }
  if (!result) {
    if (def)
      def->emitError() << "the CUDA target cannot compute this index value "
                          "from the entry's input shapes";
    return failure();
  }
  indexSyms[v] = *result;
  return *result;
}

void EntryEmitter::launch(const Wrapper &w, std::array<int, 3> grid,
                          llvm::ArrayRef<int> writes) {
  addLaunch(kernelOf(w), grid, w.ptrs, w.dims, writes);
}

void EntryEmitter::addLaunch(int kernel, std::array<int, 3> grid,
                             llvm::ArrayRef<int> ptrs,
                             llvm::ArrayRef<int> dims,
                             llvm::ArrayRef<int> writes) {
  for (int &g : grid)
    if (g < 0)
      g = strideGrid(kernel, -g - 1);
  auto array = [](llvm::ArrayRef<int> xs) {
    llvm::json::Array out;
    for (int x : xs)
      out.push_back(x);
    return out;
  };
  addStep(llvm::json::Object{{"op", "launch"},
                             {"kernel", kernel},
                             {"grid", array(grid)},
                             {"ptrs", array(ptrs)},
                             {"dims", array(dims)},
                             {"floats", llvm::json::Array{}},
                             {"writes", array(writes)}},
          ptrs);
}

/// The grid entry meaning "grid-stride over `units`": resolved in launch().
int strideOver(int units) { return -units - 1; }

void EntryEmitter::gemm(int a, int b, int c, int m, int n, int k, bool transB,
                        int batch, int strideA, int strideB, int strideC,
                        int offsetB, bool transA) {
  int zero = cst(0);
  addStep(
      llvm::json::Object{{"op", "gemm"},
                         {"a", a},
                         {"b", b},
                         {"c", c},
                         {"m", m},
                         {"n", n},
                         {"k", k},
                         {"batch", batch < 0 ? cst(1) : batch},
                         {"offset_a", zero},
                         {"offset_b", offsetB < 0 ? zero : offsetB},
                         {"offset_c", zero},
                         {"stride_a", strideA < 0 ? zero : strideA},
                         {"stride_b", strideB < 0 ? zero : strideB},
                         {"stride_c", strideC < 0 ? zero : strideC},
                         {"trans_a", transA},
                         {"trans_b", transB},
                         {"alpha", 1.0},
                         {"beta", 0.0}},
      {a, b, c});
}

LogicalResult EntryEmitter::emit() {
  // Inputs.
  for (auto [i, arg] : llvm::enumerate(fn.getArguments())) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type || cType(type.getElementType()).empty())
      return fn.emitError() << "entry argument " << i
                            << " is not a ranked tensor of a supported dtype";
    SmallVector<int> shape;
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      shape.push_back(ShapedType::isDynamic(size)
                          ? symbol("dim", static_cast<int64_t>(i),
                                   static_cast<int64_t>(d), true)
                          : cst(size));
    int id = newValue(type.getElementType(), shape);
    valueIds[arg] = id;
    inputs.push_back(id);
  }
  for (Operation &op : fn.getBody().front().without_terminator())
    if (failed(emitOp(&op)))
      return failure();
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  for (Value v : ret.getOperands())
    outputs.push_back(valueOf(v));
  return success();
}

llvm::json::Object EntryEmitter::toJson() {
  // Free every value after the step that uses it last (never the outputs;
  // views keep their buffer alive through the runtime's reference counts).
  llvm::DenseSet<int> keep(outputs.begin(), outputs.end());
  std::vector<int> lastUse(values.size(), -1);
  for (auto [s, uses] : llvm::enumerate(stepUses))
    for (int v : uses)
      lastUse[v] = static_cast<int>(s);
  std::vector<SmallVector<int>> freesAfter(steps.size());
  for (auto [v, s] : llvm::enumerate(lastUse))
    if (s >= 0 && !keep.count(static_cast<int>(v)))
      freesAfter[s].push_back(static_cast<int>(v));

  llvm::json::Array stepList;
  for (auto [s, step] : llvm::enumerate(steps)) {
    stepList.push_back(llvm::json::Object(step));
    if (!freesAfter[s].empty()) {
      llvm::json::Array list;
      for (int v : freesAfter[s])
        list.push_back(v);
      stepList.push_back(
          llvm::json::Object{{"op", "free"}, {"values", std::move(list)}});
    }
  }
  llvm::json::Array valueList, inputList, outputList;
  for (const ValueRec &v : values) {
    llvm::json::Array shape;
    for (int s : v.shape)
      shape.push_back(s);
    valueList.push_back(
        llvm::json::Array{artifactDTypeName(v.elementType), std::move(shape)});
  }
  for (int v : inputs)
    inputList.push_back(v);
  for (int v : outputs)
    outputList.push_back(v);
  llvm::json::Object entry{
      {"name", ("rotor_entry_" + fn.getSymName()).str()},
      {"num_inputs", static_cast<int64_t>(inputs.size())},
      {"symbols", llvm::json::Array(symbols)},
      {"values", std::move(valueList)},
      {"inputs", std::move(inputList)},
      {"outputs", std::move(outputList)},
      {"steps", std::move(stepList)}};
  if (!mutatedInputs.empty()) {
    llvm::json::Array mutated;
    for (int i : mutatedInputs)
      mutated.push_back(i);
    entry["mutated_inputs"] = std::move(mutated);
  }
  return entry;
}

//===----------------------------------------------------------------------===//
// Op emission
//===----------------------------------------------------------------------===//

LogicalResult EntryEmitter::emitOp(Operation *op) {
  // Index arithmetic is evaluated on demand (indexSymbol); scalar constants
  // are folded into the kernels that use them.
  if (isa<arith::ConstantIndexOp, tensor::DimOp, arith::AddIOp,
          arith::SubIOp, arith::MulIOp>(op) &&
      op->getResult(0).getType().isIndex())
    return success();
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    if (!isa<RankedTensorType>(c.getType()))
      return success();
    return emitConstant(c);
  }
  for (Value operand : op->getOperands())
    if (isa<RankedTensorType>(operand.getType()) && !valueIds.count(operand) &&
        !foldedTranspose(operand) && !onlyTransposeInit(operand))
      return op->emitError()
             << "the CUDA target cannot place an operand of type "
             << operand.getType() << " (defined by an unsupported op)";

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](AttentionOp o) { return emitAttention(o); })
      .Case([&](AttentionGradOp o) { return emitAttentionGrad(o); })
      .Case([&](RopeOp o) { return emitRope(o); })
      .Case([&](GivensOp o) { return emitGivens(o); })
      .Case([&](GivensGradOp o) { return emitGivensGrad(o); })
      .Case([&](RopeBaseGradOp o) { return emitRopeBaseGrad(o); })
      .Case([&](RotateOp o) {
        return emitMatmul(o, o.getInput(), o.getRotation(), Value(), Value(),
                          Activation::none, o.getResult(), /*transB=*/false);
      })
      .Case([&](LinearOp o) {
        // x · (Wᵀ)ᵀ = x · W: the backward's products read W as it is.
        if (Value w = foldedTranspose(o.getWeight()))
          return emitMatmul(o, o.getInput(), w, o.getBias(), Value(),
                            Activation::none, o.getResult(), false);
        return emitMatmul(o, o.getInput(), o.getWeight(), o.getBias(),
                          Value(), Activation::none, o.getResult(), true);
      })
      .Case([&](linalg::TransposeOp o) { return emitTranspose(o); })
      .Case([&](CrossEntropyGradOp o) { return emitCrossEntropyGrad(o); })
      .Case([&](RmsNormGradOp o) { return emitRmsNormGrad(o); })
      .Case([&](EmbeddingGradOp o) { return emitEmbeddingGrad(o); })
      .Case([&](LinearWeightGradOp o) { return emitLinearWeightGrad(o); })
      .Case([&](ActivationGradOp o) { return emitActivationGrad(o); })
      .Case([&](FusedLinearOp o) {
        int input = normalizedInput(o.getInput(), o.getNormWeight(),
                                    o.getNormEpsilon());
        if (Value w = foldedTranspose(o.getWeight()))
          return emitMatmul(o, o.getInput(), w, o.getBias(), o.getResidual(),
                            o.getActivation(), o.getResult(), false, input);
        return emitMatmul(o, o.getInput(), o.getWeight(), o.getBias(),
                          o.getResidual(), o.getActivation(), o.getResult(),
                          true, input);
      })
      .Case([&](linalg::FillOp o) { return emitLinalgFill(o); })
      .Case([&](linalg::GenericOp o) { return emitGeneric(o); })
      .Case([&](FusedGateUpOp o) { return emitFusedGateUp(o); })
      .Case([&](RmsNormOp o) {
        return emitRowKernel(o, "RmsNorm", o.getInput(), o.getWeight(),
                             Value(), o.getEpsilon().convertToDouble());
      })
      .Case([&](LayerNormOp o) {
        return emitRowKernel(o, "LayerNorm", o.getInput(), o.getWeight(),
                             o.getBias(), o.getEpsilon().convertToDouble());
      })
      .Case([&](L2NormalizeOp o) {
        return emitRowKernel(o, "L2Normalize", o.getInput(), Value(), Value(),
                             o.getEpsilon().convertToDouble());
      })
      .Case([&](SoftmaxOp o) -> LogicalResult {
        auto type = cast<RankedTensorType>(o.getInput().getType());
        int64_t axis = o.getNormalizedAxis();
        if (axis != type.getRank() - 1)
          return o.emitError() << "the CUDA target supports softmax over the "
                                  "last axis only (axis "
                               << o.getAxis() << " of a rank-"
                               << type.getRank() << " tensor)";
        return emitRowKernel(o, "Softmax", o.getInput(), Value(), Value(),
                             std::nullopt);
      })
      .Case([&](EmbeddingOp o) { return emitEmbedding(o); })
      .Case([&](CacheWriteOp o) { return emitCacheWrite(o); })
      .Case([&](Conv1dOp o) { return emitConv1d(o); })
      .Case([&](SinusoidalEmbeddingOp o) { return emitSinusoidal(o); })
      .Case([&](CrossEntropyOp o) { return emitCrossEntropy(o); })
      .Case([&](SplitHeadsOp o) { return emitHeads(o, true); })
      .Case([&](MergeHeadsOp o) { return emitHeads(o, false); })
      .Case([&](AddOp o) {
        return emitElementwise(o, "x0 + x1", o->getOperands());
      })
      .Case([&](MulOp o) {
        return emitElementwise(o, "x0 * x1", o->getOperands());
      })
      .Case([&](ReluOp o) {
        return emitElementwise(
            o, "rotor::cuda::activate<rotor::cuda::Act::relu>(x0)",
            o->getOperands());
      })
      .Case([&](SiluOp o) {
        return emitElementwise(o, "x0 / (1 + exp(-x0))", o->getOperands());
      })
      .Case([&](GeluOp o) {
        return emitElementwise(
            o,
            o.getApproximate() == GeluApproximation::tanh
                ? "0.5 * x0 * (1 + tanh(0.7978845608028654 * (x0 + 0.044715 "
                  "* x0 * x0 * x0)))"
                : "0.5 * x0 * (1 + erf(x0 * 0.7071067811865476))",
            o->getOperands());
      })
      .Case([&](SwigluOp o) {
        return emitElementwise(o, "x0 / (1 + exp(-x0)) * x1",
                               o->getOperands());
      })
      .Case<arith::ExtFOp, arith::TruncFOp>([&](Operation *o) {
        return emitElementwise(o, "x0", o->getOperands());
      })
      .Case([&](tensor::CastOp o) {
        // A cast only refines static sizes: the same buffer.
        return emitReshape(o.getSource(), o.getResult(),
                           SmallVector<int>(shapeOf(o.getSource())));
      })
      .Case([&](tensor::ConcatOp o) { return emitConcat(o); })
      .Case([&](tensor::ExpandShapeOp o) -> LogicalResult {
        // A reshape of a dense buffer: a view of it.
        SmallVector<int> shape;
        for (OpFoldResult size : o.getMixedOutputShape()) {
          if (std::optional<int64_t> c = getConstantIntValue(size)) {
            shape.push_back(cst(*c));
            continue;
          }
          FailureOr<int> sym = indexSymbol(cast<Value>(size));
          if (failed(sym))
            return failure();
          shape.push_back(*sym);
        }
        return emitReshape(o.getSrc(), o.getResult(), shape);
      })
      .Case([&](tensor::CollapseShapeOp o) -> LogicalResult {
        SmallVector<int> shape;
        ArrayRef<int> src = shapeOf(o.getSrc());
        for (const ReassociationIndices &group : o.getReassociationIndices()) {
          SmallVector<int> sizes;
          for (int64_t d : group)
            sizes.push_back(src[d]);
          shape.push_back(product(sizes));
        }
        return emitReshape(o.getSrc(), o.getResult(), shape);
      })
      .Case([&](tensor::ExtractSliceOp o) { return emitExtractSlice(o); })
      .Case([&](tensor::InsertSliceOp o) { return emitInsertSlice(o); })
      .Case([&](tensor::PadOp o) { return emitPad(o); })
      .Case([&](tensor::EmptyOp o) -> LogicalResult {
        if (onlyTransposeInit(o.getResult()))
          return success(); // the transpose writes a buffer of its own
        return emitFill(o.getResult(), Attribute(), o.getDynamicSizes());
      })
      .Case([&](tensor::SplatOp o) -> LogicalResult {
        Attribute value;
        if (!matchPattern(o.getInput(), m_Constant(&value)))
          return o.emitError()
                 << "the CUDA target needs a constant splat value";
        return emitFill(o.getResult(), value, o.getDynamicSizes());
      })
      .Case([&](tensor::GenerateOp o) { return emitGenerate(o); })
      .Default([&](Operation *o) {
        return o->emitError() << "the CUDA target does not support '"
                              << o->getName() << "'";
      });
}

/// The device library's Mask<...> of a mask attribute.
std::string maskTypeOf(MaskAttr mask) {
  auto optionalInt = [](std::optional<int64_t> v) -> std::string {
    return v ? std::to_string(*v) : "-1";
  };
  return llvm::formatv("rotor::cuda::Mask<{0}, {1}, {2}, {3}, {4}, {5}>",
                       boolLiteral(mask.getCausal()),
                       optionalInt(mask.getWindowLeft()),
                       optionalInt(mask.getWindowRight()), mask.getDilation(),
                       mask.getChunk() ? *mask.getChunk() : 0,
                       mask.getGlobal());
}

/// The device library's bias type of an attention op's relative bias table.
/// The kernels read an f32 table; a bf16/f16 one is widened first (asF32)
/// and its gradient accumulated in f32 and rounded after.
FailureOr<std::string> biasTypeOf(Operation *op, Value bias,
                                  int64_t maxDistance) {
  if (!bias)
    return std::string("rotor::cuda::NoBias");
  auto bType = cast<RankedTensorType>(bias.getType());
  Type elem = bType.getElementType();
  if (!elem.isF32() && !elem.isBF16() && !elem.isF16())
    return op->emitError() << "the CUDA target needs an f32, bf16 or f16 "
                              "relative bias table, not "
                           << elem;
  return std::string(llvm::formatv("rotor::cuda::T5Bias<{0}, {1}>",
                                   bType.getDimSize(1), maxDistance));
}

LogicalResult EntryEmitter::emitAttentionGrad(AttentionGradOp op) {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  Type elem = qType.getElementType();
  int64_t headDim = qType.getDimSize(3);
  if (ShapedType::isDynamic(headDim) ||
      headDim != cast<RankedTensorType>(op.getValue().getType()).getDimSize(3))
    return op.emitError() << "the CUDA target needs a static head dim shared "
                             "by queries and values";
  if (elem.isF64())
    return op.emitError()
           << "the CUDA target has no f64 attention kernel; use f32, bf16 "
              "or f16";
  FailureOr<std::string> biasType = biasTypeOf(
      op, op.getBias(), static_cast<int64_t>(op.getBiasMaxDistance()));
  if (failed(biasType))
    return failure();
  std::string maskType = maskTypeOf(op.getEffectiveMask());
  bool softcap = op.getSoftcap().has_value();
  std::string t = cType(elem);
  Type f32 = Float32Type::get(op.getContext());

  // Outputs and scratch: delta (B, Hq, Sq), and an f32 dq accumulator (dq
  // itself for f32).
  int dq = defineLike(op.getQueryGrad(), op.getQuery());
  int dk = defineLike(op.getKeyGrad(), op.getKey());
  int dv = defineLike(op.getValueGrad(), op.getValue());
  SmallVector<int> rowShape(shapeOf(op.getQuery()).take_front(3));
  int delta = scratch(f32, rowShape);
  int dqAcc = elem.isF32() ? dq
                           : scratch(f32, SmallVector<int>(shapeOf(op.getQuery())));
  // The kernels read an f32 bias table and accumulate dbias in f32.
  int bias = -1, dbias = -1, dbiasAcc = -1;
  if (Value b = op.getBias()) {
    bias = asF32(b);
    dbias = defineLike(op.getBiasGrad(), b);
    dbiasAcc = cast<RankedTensorType>(b.getType()).getElementType().isF32()
                   ? dbias
                   : scratch(f32, SmallVector<int>(shapeOf(b)));
  }

  auto params = [&](Wrapper &w) {
    w.ptr("q", valueOf(op.getQuery()), t);
    w.ptr("k", valueOf(op.getKey()), t);
    w.ptr("v", valueOf(op.getValue()), t);
    w.ptr("o", valueOf(op.getOutput()), t);
    w.ptr("lse", valueOf(op.getLse()), "float");
    w.ptr("dout", valueOf(op.getGrad()), t);
    w.ptr("dq", dq, t, false);
    w.ptr("dk", dk, t, false);
    w.ptr("dv", dv, t, false);
    w.ptr("dq_acc", dqAcc, "float", false);
    w.ptr("delta", delta, "float", false);
    if (bias >= 0) {
      w.ptr("bias", bias, "float");
      w.ptr("dbias", dbiasAcc, "float", false);
    }
    w.dim("batch", dimOf(op.getQuery(), 0));
    w.dim("hq", dimOf(op.getQuery(), 1));
    w.dim("hkv", dimOf(op.getKey(), 1));
    w.dim("sq", dimOf(op.getQuery(), 2));
    w.dim("sk", dimOf(op.getKey(), 2));
    w.literal("scale", floatLiteral(op.getEffectiveScale()) + "f");
    if (softcap)
      w.literal("softcap",
                floatLiteral(op.getSoftcap()->convertToDouble()) + "f");
  };
  // Every launch gets every pointer, so each one lists all the buffers it
  // may write (allocated before the first launch).
  SmallVector<int> writes = {delta, dqAcc, dq, dk, dv};
  if (dbiasAcc >= 0)
    writes.push_back(dbiasAcc);

  // 1. delta = rowsum(dout * o), dq_acc = 0 (and dbias = 0).
  Wrapper pre(llvm::formatv("rotor::cuda::AttentionBwdPre<{0}, {1}, {2}>", t,
                            headDim, *biasType));
  params(pre);
  int preKernel = kernelOf(pre);
  int rows = product(rowShape);
  launch(pre, {binary("max", strideGrid(preKernel, rows), cst(1)), cst(1),
               cst(1)},
         writes);
  // 2. One block per (key tile, kv head, batch row): dK, dV, dq_acc, dbias;
  // on tensor cores for 16-bit types and the head dims they tile.
  bool tensorCores = (elem.isBF16() || elem.isF16()) && headDim % 16 == 0 &&
                     headDim <= 128;
  Wrapper main(llvm::formatv(
      "rotor::cuda::{0}<{1}, {2}, {3}, {4}, {5}>",
      tensorCores ? "AttentionBwd" : "AttentionBwdSimple", t, headDim,
      maskType, *biasType, boolLiteral(softcap)));
  params(main);
  int mainKernel = kernelOf(main);
  launch(main,
         {binary("ceildiv", dimOf(op.getKey(), 2),
                 symbol("cfg", mainKernel, 2, true)),
          dimOf(op.getKey(), 1), dimOf(op.getKey(), 0)},
         writes);
  // 3. dq = dq_acc rounded to the element type.
  if (dqAcc != dq) {
    Wrapper convert(llvm::formatv("rotor::cuda::AttentionBwdConvert<{0}, {1}>",
                                  t, headDim));
    params(convert);
    launch(convert,
           {strideOver(product(shapeOf(op.getQuery()))), cst(1), cst(1)},
           writes);
  }
  // 4. dbias rounded to the table's type.
  if (dbiasAcc != dbias) {
    Value b = op.getBias();
    convert(dbiasAcc, f32, dbias,
            cast<RankedTensorType>(b.getType()).getElementType(),
            product(shapeOf(b)));
  }
  return success();
}

LogicalResult EntryEmitter::emitAttention(AttentionOp op) {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  Type elem = qType.getElementType();
  int64_t headDim = qType.getDimSize(3);
  if (ShapedType::isDynamic(headDim) || headDim != vType.getDimSize(3))
    return op.emitError() << "the CUDA target needs a static head dim shared "
                             "by queries and values";
  if (elem.isF64())
    return op.emitError()
           << "the CUDA target has no f64 attention kernel; use f32, bf16 "
              "or f16";
  std::string maskType = maskTypeOf(op.getEffectiveMask());
  FailureOr<std::string> biasType =
      biasTypeOf(op, op.getBias(), op.getBiasMaxDistance());
  if (failed(biasType))
    return failure();
  bool softcap = op.getSoftcap().has_value();
  bool lse = op.getReturnLse();
  // Tensor cores for 16-bit types and head dims they tile; the CUDA-core
  // kernel for f32 and for short query blocks (decoding), where a 128-row
  // tile would be mostly idle.
  bool tensorCores = (elem.isBF16() || elem.isF16()) && headDim % 16 == 0 &&
                     headDim <= 128;
  int64_t staticSq = qType.getDimSize(2);
  if (!ShapedType::isDynamic(staticSq) && staticSq <= 16)
    tensorCores = false;
  std::string type = llvm::formatv(
      "rotor::cuda::{0}<{1}, {2}, {3}, {4}, {5}, {6}>",
      tensorCores ? "AttentionFwd" : "AttentionSimple", cType(elem), headDim,
      maskType, *biasType, boolLiteral(softcap), boolLiteral(lse));
  // A rope fused into the op (rotor-fuse-attention-rope) is applied by the
  // Rope kernel into scratch buffers: the device library's rope prologue
  // measured 3x slower than Rope + attention on the H100
  // (bench/results/cuda-kernels-2026-11-22.md), so the CUDA pipeline does
  // not form the fusion itself.
  int qValue = valueOf(op.getQuery()), kValue = valueOf(op.getKey());
  if (op.hasRope()) {
    std::optional<double> base;
    if (op.getRopeBase())
      base = op.getRopeBase()->convertToDouble();
    auto rotate = [&](Value x, Value positions, int &into) -> LogicalResult {
      if (!positions)
        return success();
      FailureOr<int> rotated = emitRopeApply(
          op, x, positions, op.getEffectiveRopeLayout(),
          op.getEffectiveRopeRotaryDim(), base, op.getRopeLearnedBase(),
          op.getRopeScalingAttr(), Value());
      if (failed(rotated))
        return failure();
      into = *rotated;
      return success();
    };
    if (failed(rotate(op.getQuery(), op.getQueryPositions(), qValue)) ||
        failed(rotate(op.getKey(), op.getKeyPositions(), kValue)))
      return failure();
  }
  // A fused query rotation (rotor-fuse-attention-rotations) likewise: the
  // Givens kernel, then a gemm with the matrix, each into a scratch copy
  // of q, after the rope, as the op's order says.
  if (Value angles = op.getQueryGivensAngles()) {
    int rotated = scratch(elem, SmallVector<int>(values[qValue].shape));
    if (failed(emitGivensApply(op, qType, qValue, angles,
                               *op.getGivensQPairs(), rotated)))
      return failure();
    qValue = rotated;
  }
  if (Value r = op.getQueryRotation()) {
    SmallVector<int> shape(values[qValue].shape);
    int rotated = scratch(elem, shape);
    int rows = product(llvm::ArrayRef<int>(shape).drop_back());
    gemm(qValue, valueOf(r), rotated, rows, cst(headDim), cst(headDim),
         /*transB=*/false);
    qValue = rotated;
  }
  Wrapper w(type);
  std::string t = cType(elem);
  w.ptr("q", qValue, t);
  w.ptr("k", kValue, t);
  w.ptr("v", valueOf(op.getValue()), t);
  int out = defineLike(op.getOutput(), op.getQuery());
  w.ptr("out", out, t, false);
  SmallVector<int> writes = {out};
  if (lse) {
    SmallVector<int> shape(shapeOf(op.getQuery()).take_front(3));
    int l = define(op.getLse(), shape);
    w.ptr("lse", l, "float", false);
    writes.push_back(l);
  }
  if (Value bias = op.getBias())
    w.ptr("bias", asF32(bias), "float");
  if (Value start = op.getQueryStart()) {
    // Read by the kernel on the device (AttentionParams::keyCount).
    Type st = cast<RankedTensorType>(start.getType()).getElementType();
    w.ptr("query_start", valueOf(start), "void");
    w.literal("query_start_is_i64", boolLiteral(st.isInteger(64)));
  }
  w.dim("batch", dimOf(op.getQuery(), 0));
  w.dim("hq", dimOf(op.getQuery(), 1));
  w.dim("hkv", dimOf(op.getKey(), 1));
  w.dim("sq", dimOf(op.getQuery(), 2));
  w.dim("sk", dimOf(op.getKey(), 2));
  w.literal("scale", floatLiteral(op.getEffectiveScale()) + "f");
  if (softcap)
    w.literal("softcap", floatLiteral(op.getSoftcap()->convertToDouble()) + "f");
  int k = kernelOf(w);
  launch(w,
         {binary("ceildiv", dimOf(op.getQuery(), 2), symbol("cfg", k, 2, true)),
          dimOf(op.getQuery(), 1), dimOf(op.getQuery(), 0)},
         writes);
  return success();
}

int EntryEmitter::emitRopeTable(Operation *op, int64_t rotaryDim,
                                RopeScalingAttr scaling,
                                std::optional<double> base, Value learnedBase,
                                Value positions) {
  double staticBase = base.value_or(10000.0);
  for (const RopeTable &t : ropeTables)
    if (t.rotaryDim == rotaryDim && t.scaling == scaling &&
        t.learnedBase == learnedBase && t.positions == positions &&
        (learnedBase || t.base == staticBase))
      return t.table;
  Type posType = cast<RankedTensorType>(positions.getType()).getElementType();
  static const char *kinds[] = {"none", "linear", "dynamic_ntk", "yarn",
                                "llama3"};
  RopeScalingKind kind = scaling ? scaling.getKind() : RopeScalingKind::none;
  std::string baseType =
      learnedBase
          ? cType(cast<RankedTensorType>(learnedBase.getType()).getElementType())
          : "void";
  Wrapper w(llvm::formatv("rotor::cuda::RopeInvFreq<{0}, "
                          "rotor::cuda::RopeScaling::{1}, {2}, {3}>",
                          rotaryDim, kinds[static_cast<int>(kind)],
                          cType(posType), baseType));
  Type f64 = Float64Type::get(op->getContext());
  int table = scratch(f64, {cst(rotaryDim / 2 + 1)});
  w.ptr("inv_freq", table, "double", false);
  if (learnedBase)
    w.ptr("learned_base", valueOf(learnedBase), baseType);
  else
    w.literal("base", floatLiteral(staticBase));
  w.ptr("positions", valueOf(positions), cType(posType));
  w.dim("num_positions", product(shapeOf(positions)));
  if (scaling) {
    w.literal("factor", floatLiteral(scaling.getFactor().convertToDouble()));
    w.literal("beta_fast",
              floatLiteral(scaling.getBetaFast().convertToDouble()));
    w.literal("beta_slow",
              floatLiteral(scaling.getBetaSlow().convertToDouble()));
    w.literal("low_freq_factor",
              floatLiteral(scaling.getLowFreqFactor().convertToDouble()));
    w.literal("high_freq_factor",
              floatLiteral(scaling.getHighFreqFactor().convertToDouble()));
    w.literal("attention_factor",
              floatLiteral(scaling.getAttentionFactor().convertToDouble()));
    w.literal("original_max_position",
              std::to_string(scaling.getOriginalMaxPosition()) + "LL");
  }
  launch(w, {cst(1), cst(1), cst(1)}, {table});
  ropeTables.push_back({rotaryDim, scaling, staticBase, learnedBase, positions, table});
  return table;
}

/// Rotates `input` (B, H, S, D) by rope: returns the plan value of the
/// result, `result` if given (an op result), else a new scratch value.
FailureOr<int> EntryEmitter::emitRopeApply(Operation *op, Value input,
                                           Value positions, RopeLayout layout,
                                           int64_t rotaryDim,
                                           std::optional<double> base,
                                           Value learnedBase,
                                           RopeScalingAttr scaling,
                                           Value result, bool transpose) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t headDim = type.getDimSize(3);
  if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(rotaryDim))
    return op->emitError() << "the CUDA target needs a static head dim";
  auto posType = cast<RankedTensorType>(positions.getType());
  int table = emitRopeTable(op, rotaryDim, scaling, base, learnedBase,
                            positions);
  std::string t = cType(type.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::Rope<{0}, {1}, {2}, {3}, {4}, {5}>", t,
                          cType(posType.getElementType()), headDim, rotaryDim,
                          boolLiteral(layout == RopeLayout::interleaved),
                          boolLiteral(posType.getRank() == 2)));
  w.ptr("x", valueOf(input), t);
  int out = result ? defineLike(result, input)
                   : scratch(type.getElementType(),
                             SmallVector<int>(shapeOf(input)));
  w.ptr("out", out, t, false);
  w.ptr("pos", valueOf(positions), cType(posType.getElementType()));
  w.ptr("inv_freq", table, "double");
  w.dim("batch", dimOf(input, 0));
  w.dim("heads", dimOf(input, 1));
  w.dim("seq", dimOf(input, 2));
  if (transpose)
    w.literal("transpose", "true");
  // One work unit per (batch, position): the angles are shared by the heads.
  int units = mul(dimOf(input, 0), dimOf(input, 2));
  launch(w, {strideOver(units), cst(1), cst(1)}, {out});
  return out;
}

LogicalResult EntryEmitter::emitRope(RopeOp op) {
  std::optional<double> base;
  if (op.getBase())
    base = op.getBase()->convertToDouble();
  return emitRopeApply(op, op.getInput(), op.getPositions(), op.getLayout(),
                       op.getEffectiveRotaryDim(), base, op.getLearnedBase(),
                       op.getScalingAttr(), op.getResult(),
                       op.getTranspose());
}

/// The blocks of RopeBaseGrad's first pass (its partial sums' count).
constexpr int64_t kRopeBaseGradBlocks = 264;

LogicalResult EntryEmitter::emitRopeBaseGrad(RopeBaseGradOp op) {
  Value input = op.getInput(), positions = op.getPositions();
  auto type = cast<RankedTensorType>(input.getType());
  int64_t headDim = type.getDimSize(3), rotaryDim = op.getEffectiveRotaryDim();
  if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(rotaryDim))
    return op.emitError() << "the CUDA target needs a static head dim";
  auto posType = cast<RankedTensorType>(positions.getType());
  int table = emitRopeTable(op, rotaryDim, op.getScalingAttr(), std::nullopt,
                            op.getBase(), positions);
  std::string t = cType(type.getElementType());
  std::string pt = cType(posType.getElementType());
  std::string bt =
      cType(cast<RankedTensorType>(op.getBase().getType()).getElementType());
  int blocks = cst(kRopeBaseGradBlocks);
  int partial = scratch(Float32Type::get(op.getContext()), {blocks});
  Wrapper w(llvm::formatv(
      "rotor::cuda::RopeBaseGrad<{0}, {1}, {2}, {3}, {4}, {5}, {6}>", t, pt, bt,
      headDim, rotaryDim, boolLiteral(op.getLayout() == RopeLayout::interleaved),
      boolLiteral(posType.getRank() == 2)));
  w.ptr("x", valueOf(input), t);
  w.ptr("dy", valueOf(op.getGrad()), t);
  w.ptr("pos", valueOf(positions), pt);
  w.ptr("inv_freq", table, "double");
  w.ptr("base", valueOf(op.getBase()), bt);
  w.ptr("partial", partial, "float", false);
  w.dim("batch", dimOf(input, 0));
  w.dim("heads", dimOf(input, 1));
  w.dim("seq", dimOf(input, 2));
  launch(w, {blocks, cst(1), cst(1)}, {partial});
  // The partials added in order (deterministic).
  Wrapper reduce(llvm::formatv("rotor::cuda::GivensGradReduce<{0}>", bt));
  int out = define(op.getResult(), {});
  reduce.ptr("partial", partial, "float");
  reduce.ptr("out", out, bt, false);
  reduce.dim("blocks", blocks);
  reduce.dim("n", cst(1));
  launch(reduce, {cst(1), cst(1), cst(1)}, {out});
  return success();
}

/// The C types of a Givens chain's rows (`t`) and angles (`at`), and the
/// template arguments `T, AngleT, D, GivensPairs<...>` of its kernels.
struct GivensKernelTypes {
  std::string t, at, args;
};

/// The kernel types of a chain on rows of `type` with `angles`, or an error
/// when the row does not fit the kernels' registers.
static FailureOr<GivensKernelTypes>
givensKernelTypes(Operation *op, RankedTensorType type, Value angles,
                  ArrayRef<int64_t> pairs) {
  int64_t dim = type.getShape().back();
  if (ShapedType::isDynamic(dim) || dim > 256)
    return op->emitError() << "the CUDA target applies Givens chains to "
                              "static rows of at most 256 features";
  std::string list;
  for (int64_t p : pairs)
    list += (list.empty() ? "" : ", ") + std::to_string(p);
  GivensKernelTypes k;
  k.t = cType(type.getElementType());
  k.at = cType(cast<RankedTensorType>(angles.getType()).getElementType());
  k.args = llvm::formatv("{0}, {1}, {2}, rotor::cuda::GivensPairs<{3}>", k.t,
                         k.at, dim, list)
               .str();
  return k;
}

LogicalResult EntryEmitter::emitGivens(GivensOp op) {
  int input = valueOf(op.getInput());
  return emitGivensApply(op, op.getInput().getType(), input, op.getAngles(),
                         op.getPairs(),
                         defineLike(op.getResult(), op.getInput()));
}

LogicalResult EntryEmitter::emitGivensApply(Operation *op,
                                            RankedTensorType type, int input,
                                            Value angles,
                                            ArrayRef<int64_t> pairs, int out) {
  FailureOr<GivensKernelTypes> k = givensKernelTypes(op, type, angles, pairs);
  if (failed(k))
    return failure();
  Wrapper w("rotor::cuda::Givens<" + k->args + ">");
  w.ptr("x", input, k->t);
  w.ptr("out", out, k->t, false);
  w.ptr("angles", valueOf(angles), k->at);
  int rows = product(llvm::ArrayRef<int>(values[input].shape).drop_back());
  w.dim("rows", rows);
  launch(w, {strideOver(rows), cst(1), cst(1)}, {out});
  return success();
}

/// The grid of rotor::cuda::GivensGrad: a fixed number of blocks, so that
/// its per-block angle sums fit a scratch buffer sized at compile time.
constexpr int64_t kGivensGradBlocks = 264;

/// givens_grad => GivensGrad (dx, per-block angle sums into a
/// (kGivensGradBlocks, N) f32 scratch), then GivensGradReduce (the angles'
/// cotangents, summed over the blocks in order).
LogicalResult EntryEmitter::emitGivensGrad(GivensGradOp op) {
  FailureOr<GivensKernelTypes> k =
      givensKernelTypes(op, op.getInput().getType(), op.getAngles(), op.getPairs());
  if (failed(k))
    return failure();
  const std::string &t = k->t, &at = k->at;
  int64_t n = op.getNumRotations();
  int blocks = cst(kGivensGradBlocks);
  int partial = scratch(Float32Type::get(op.getContext()),
                        {blocks, cst(std::max<int64_t>(n, 1))});
  Wrapper w("rotor::cuda::GivensGrad<" + k->args + ">");
  w.ptr("x", valueOf(op.getInput()), t);
  w.ptr("dy", valueOf(op.getGrad()), t);
  int dx = defineLike(op.getInputGrad(), op.getInput());
  w.ptr("dx", dx, t, false);
  w.ptr("angles", valueOf(op.getAngles()), at);
  w.ptr("partial", partial, "float", false);
  w.dim("rows", product(shapeOf(op.getInput()).drop_back()));
  launch(w, {blocks, cst(1), cst(1)}, {dx, partial});

  Wrapper reduce(llvm::formatv("rotor::cuda::GivensGradReduce<{0}>", at));
  int dAngles = defineLike(op.getAnglesGrad(), op.getAngles());
  reduce.ptr("partial", partial, "float");
  reduce.ptr("out", dAngles, at, false);
  reduce.dim("blocks", blocks);
  reduce.dim("n", cst(n));
  launch(reduce, {cst(1), cst(1), cst(1)}, {dAngles});
  return success();
}

LogicalResult EntryEmitter::emitMatmul(Operation *op, Value input,
                                       Value weight, Value bias,
                                       Value residual, Activation act,
                                       Value result, bool transB,
                                       int inputValue) {
  if (inputValue < 0)
    inputValue = valueOf(input);
  auto inType = cast<RankedTensorType>(input.getType());
  auto wType = cast<RankedTensorType>(weight.getType());
  if (inType.getElementType() != wType.getElementType())
    return op->emitError() << "the CUDA target needs the input and the "
                              "weight in one dtype (cuBLAS), got "
                           << inType.getElementType() << " and "
                           << wType.getElementType();
  SmallVector<int> shape(shapeOf(input));
  int kSym = shape.back();
  int nSym = dimOf(weight, transB ? 0 : 1);
  shape.back() = nSym;
  int out = define(result, shape);
  int m = product(llvm::ArrayRef<int>(shape).drop_back());
  gemm(inputValue, valueOf(weight), out, m, nSym, kSym, transB);
  if (!bias && !residual && act == Activation::none)
    return success();
  static const char *acts[] = {"none", "relu", "silu", "gelu", "gelu_tanh"};
  std::string t = cType(inType.getElementType());
  std::string bt =
      bias ? cType(cast<RankedTensorType>(bias.getType()).getElementType())
           : t;
  Wrapper w(llvm::formatv(
      "rotor::cuda::Epilogue<{0}, {1}, rotor::cuda::Act::{2}, {3}, {4}>", t,
      bt, acts[static_cast<int>(act)], boolLiteral(bool(bias)),
      boolLiteral(bool(residual))));
  w.ptr("x", out, t);
  if (bias)
    w.ptr("bias", valueOf(bias), bt);
  if (residual)
    w.ptr("residual", valueOf(residual), t);
  w.ptr("out", out, t, false);
  w.dim("m", m);
  w.dim("n", nSym);
  launch(w, {strideOver(mul(m, nSym)), cst(1), cst(1)}, {out});
  return success();
}

int EntryEmitter::normalizedInput(Value input, Value normWeight,
                                  std::optional<llvm::APFloat> eps) {
  if (!normWeight)
    return valueOf(input);
  int out = scratch(cast<RankedTensorType>(input.getType()).getElementType(),
                    SmallVector<int>(shapeOf(input)));
  rowKernel("RmsNorm", input, normWeight, Value(),
            eps ? eps->convertToDouble() : 1e-6, out);
  return out;
}

LogicalResult EntryEmitter::emitFusedGateUp(FusedGateUpOp op) {
  int input =
      normalizedInput(op.getInput(), op.getNormWeight(), op.getNormEpsilon());
  auto inType = cast<RankedTensorType>(op.getInput().getType());
  Type elem = inType.getElementType();
  SmallVector<int> shape(values[input].shape);
  int kSym = shape.back();
  int nSym = dimOf(op.getGateWeight(), 0);
  shape.back() = nSym;
  int m = product(llvm::ArrayRef<int>(shape).drop_back());
  for (Value w : {op.getGateWeight(), op.getUpWeight()})
    if (cast<RankedTensorType>(w.getType()).getElementType() != elem)
      return op.emitError() << "the CUDA target needs the input and the "
                               "weights in one dtype";
  int gate = scratch(elem, shape);
  int up = scratch(elem, shape);
  gemm(input, valueOf(op.getGateWeight()), gate, m, nSym,
       kSym, true);
  gemm(input, valueOf(op.getUpWeight()), up, m, nSym, kSym,
       true);
  std::string t = cType(elem);
  Wrapper w(llvm::formatv("rotor::cuda::Swiglu<{0}>", t));
  int out = define(op.getResult(), shape);
  w.ptr("gate", gate, t);
  w.ptr("up", up, t);
  w.ptr("out", out, t, false);
  int n = mul(m, nSym);
  w.dim("n", n);
  launch(w, {strideOver(n), cst(1), cst(1)}, {out});
  return success();
}

LogicalResult EntryEmitter::emitRowKernel(Operation *op,
                                          llvm::StringRef kernel, Value input,
                                          Value weight, Value bias,
                                          std::optional<double> eps) {
  rowKernel(kernel, input, weight, bias, eps,
            defineLike(op->getResult(0), input));
  return success();
}

void EntryEmitter::rowKernel(llvm::StringRef kernel, Value input,
                             Value weight, Value bias,
                             std::optional<double> eps, int out) {
  auto type = cast<RankedTensorType>(input.getType());
  std::string t = cType(type.getElementType());
  std::string args = t;
  if (weight)
    args += ", " + cType(cast<RankedTensorType>(weight.getType())
                             .getElementType());
  if (kernel == "LayerNorm")
    args += bias ? ", true" : ", false";
  Wrapper w(llvm::formatv("rotor::cuda::{0}<{1}>", kernel, args));
  w.ptr("x", valueOf(input), t);
  if (weight)
    w.ptr("w", valueOf(weight),
          cType(cast<RankedTensorType>(weight.getType()).getElementType()));
  if (bias)
    w.ptr("b", valueOf(bias),
          cType(cast<RankedTensorType>(bias.getType()).getElementType()));
  w.ptr("out", out, t, false);
  int rows = product(shapeOf(input).drop_back());
  w.dim("rows", rows);
  w.dim("cols", shapeOf(input).back());
  if (eps)
    w.literal("eps", floatLiteral(*eps));
  launch(w, {strideOver(rows), cst(1), cst(1)}, {out});
}

LogicalResult EntryEmitter::emitEmbedding(EmbeddingOp op) {
  auto idType = cast<RankedTensorType>(op.getIds().getType());
  auto tableType = cast<RankedTensorType>(op.getTable().getType());
  std::string it = cType(idType.getElementType());
  std::string t = cType(tableType.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::Embedding<{0}, {1}>", it, t));
  SmallVector<int> shape(shapeOf(op.getIds()));
  shape.push_back(dimOf(op.getTable(), 1));
  int out = define(op.getResult(), shape);
  w.ptr("ids", valueOf(op.getIds()), it);
  w.ptr("table", valueOf(op.getTable()), t);
  w.ptr("out", out, t, false);
  int n = product(shapeOf(op.getIds()));
  w.dim("n", n);
  w.dim("vocab", dimOf(op.getTable(), 0));
  w.dim("hidden", dimOf(op.getTable(), 1));
  launch(w, {strideOver(n), cst(1), cst(1)}, {out});
  return success();
}

/// True when writing into `cache`'s buffer cannot be seen by any other op:
/// the value and every view it is made from (casts, slices: the emitter's
/// views) have this one use.
static bool writableInPlace(Value cache) {
  for (Value v = cache;;) {
    if (!v.hasOneUse())
      return false;
    if (auto cast = v.getDefiningOp<tensor::CastOp>())
      v = cast.getSource();
    else if (auto slice = v.getDefiningOp<tensor::ExtractSliceOp>())
      v = slice.getSource();
    else
      return true;
  }
}

/// cache_write: the result is the cache's buffer (a view) and CacheWrite
/// writes the update's rows into it, so that a decoding step moves O(rows)
/// data, not the cache. A cache whose buffer something else still reads is
/// copied first.
LogicalResult EntryEmitter::emitCacheWrite(CacheWriteOp op) {
  auto type = op.getCache().getType();
  std::string t = cType(type.getElementType());
  std::string st = cType(op.getStart().getType().getElementType());
  int64_t axis = op.getAxis();
  int cache = valueOf(op.getCache());
  int out = defineLike(op.getResult(), op.getCache());
  if (writableInPlace(op.getCache())) {
    addStep(llvm::json::Object{{"op", "view"},
                               {"src", cache},
                               {"dst", out},
                               {"offset", cst(0)}},
            {cache, out});
    if (auto arg = dyn_cast<BlockArgument>(op.getCache()))
      mutatedInputs.insert(static_cast<int>(arg.getArgNumber()));
  } else {
    copyWhole(cache, out);
  }
  llvm::ArrayRef<int> shape = shapeOf(op.getCache());
  Wrapper w(llvm::formatv("rotor::cuda::CacheWrite<{0}, {1}>", t, st));
  w.ptr("update", valueOf(op.getUpdate()), t);
  w.ptr("cache", out, t, false);
  w.ptr("start", valueOf(op.getStart()), st);
  int outer = product(shape.take_front(axis));
  int rows = dimOf(op.getUpdate(), axis);
  w.dim("outer", outer);
  w.dim("rows", rows);
  w.dim("capacity", shape[axis]);
  w.dim("inner", product(shape.drop_front(axis + 1)));
  launch(w, {strideOver(mul(outer, rows)), cst(1), cst(1)}, {out});
  return success();
}

LogicalResult EntryEmitter::emitConv1d(Conv1dOp op) {
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  int64_t kernelSize = wType.getDimSize(2);
  if (ShapedType::isDynamic(kernelSize))
    return op.emitError() << "the CUDA target needs a static kernel size";
  std::string t = cType(
      cast<RankedTensorType>(op.getInput().getType()).getElementType());
  std::string wt = cType(wType.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::Conv1d<{0}, {1}, {2}, {3}, {4}>", t,
                          wt, kernelSize,
                          boolLiteral(op.getPadding() == ConvPadding::causal),
                          boolLiteral(bool(op.getBias()))));
  SmallVector<int> shape(shapeOf(op.getInput()));
  shape[2] = dimOf(op.getWeight(), 0);
  int out = define(op.getResult(), shape);
  w.ptr("x", valueOf(op.getInput()), t);
  w.ptr("w", valueOf(op.getWeight()), wt);
  if (op.getBias())
    w.ptr("bias", valueOf(op.getBias()), wt);
  w.ptr("out", out, t, false);
  w.dim("batch", shape[0]);
  w.dim("seq", shape[1]);
  w.dim("cin", dimOf(op.getInput(), 2));
  w.dim("cout", shape[2]);
  w.literal("groups", std::to_string(op.getGroups()) + "LL");
  launch(w, {strideOver(product(shape)), cst(1), cst(1)}, {out});
  return success();
}

LogicalResult EntryEmitter::emitSinusoidal(SinusoidalEmbeddingOp op) {
  auto posType = cast<RankedTensorType>(op.getPositions().getType());
  auto fType = cast<RankedTensorType>(op.getFreqs().getType());
  std::string pt = cType(posType.getElementType());
  std::string t = cType(fType.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::SinusoidalEmbedding<{0}, {1}>", pt, t));
  SmallVector<int> shape(shapeOf(op.getPositions()));
  int f = dimOf(op.getFreqs(), 0);
  shape.push_back(mul(f, cst(2)));
  int out = define(op.getResult(), shape);
  w.ptr("pos", valueOf(op.getPositions()), pt);
  w.ptr("freqs", valueOf(op.getFreqs()), t);
  w.ptr("out", out, t, false);
  int n = product(shapeOf(op.getPositions()));
  w.dim("n", n);
  w.dim("nfreq", f);
  launch(w, {strideOver(product(shape)), cst(1), cst(1)}, {out});
  return success();
}

LogicalResult EntryEmitter::emitCrossEntropy(CrossEntropyOp op) {
  auto lType = cast<RankedTensorType>(op.getLogits().getType());
  auto labelType = cast<RankedTensorType>(op.getLabels().getType());
  std::string t = cType(lType.getElementType());
  std::string lt = cType(labelType.getElementType());
  Type f32 = Float32Type::get(op.getContext());
  int n = product(shapeOf(op.getLabels()));
  int rowLoss = scratch(f32, {n});
  Wrapper rows(llvm::formatv("rotor::cuda::CrossEntropyRows<{0}, {1}>", t, lt));
  rows.ptr("logits", valueOf(op.getLogits()), t);
  rows.ptr("labels", valueOf(op.getLabels()), lt);
  rows.ptr("row_loss", rowLoss, "float", false);
  rows.dim("n", n);
  rows.dim("vocab", shapeOf(op.getLogits()).back());
  rows.literal("ignore_index", std::to_string(static_cast<int64_t>(op.getIgnoreIndex())) + "LL");
  launch(rows, {strideOver(n), cst(1), cst(1)}, {rowLoss});
  std::string ot = cType(
      cast<RankedTensorType>(op.getLoss().getType()).getElementType());
  Wrapper mean(
      llvm::formatv("rotor::cuda::CrossEntropyMean<{0}, {1}>", lt, ot));
  int loss = define(op.getLoss(), {});
  mean.ptr("row_loss", rowLoss, "float");
  mean.ptr("labels", valueOf(op.getLabels()), lt);
  mean.ptr("loss", loss, ot, false);
  mean.dim("n", n);
  mean.literal("ignore_index", std::to_string(static_cast<int64_t>(op.getIgnoreIndex())) + "LL");
  launch(mean, {cst(1), cst(1), cst(1)}, {loss});
  return success();
}

//===--- Backward ops ----------------------------------------------------===//

Value EntryEmitter::foldedTranspose(Value weight) {
  auto t = weight.getDefiningOp<linalg::TransposeOp>();
  if (!t || t.getPermutation() != ArrayRef<int64_t>{1, 0} ||
      t->getNumResults() != 1)
    return Value();
  for (OpOperand &use : t->getResult(0).getUses()) {
    Operation *user = use.getOwner();
    if (auto linear = dyn_cast<LinearOp>(user)) {
      if (use.get() == linear.getWeight() &&
          linear.getInput() != linear.getWeight())
        continue;
    } else if (auto fused = dyn_cast<FusedLinearOp>(user)) {
      if (use.getOperandNumber() == 1 &&
          fused.getInput() != fused.getWeight() &&
          fused.getResidual() != fused.getWeight())
        continue;
    }
    return Value();
  }
  return t.getInput();
}

LogicalResult EntryEmitter::emitTranspose(linalg::TransposeOp op) {
  if (foldedTranspose(op->getResult(0)))
    return success(); // every user reads the source (see LinearOp)
  auto type = cast<RankedTensorType>(op.getInput().getType());
  if (type.getRank() != 2 || op.getPermutation() != ArrayRef<int64_t>{1, 0})
    return op.emitError() << "the CUDA target transposes 2-D tensors only";
  std::string t = cType(type.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::Transpose2D<{0}>", t));
  int rows = dimOf(op.getInput(), 0), cols = dimOf(op.getInput(), 1);
  int out = define(op->getResult(0), {cols, rows});
  w.ptr("in", valueOf(op.getInput()), t);
  w.ptr("out", out, t, false);
  w.dim("rows", rows);
  w.dim("cols", cols);
  int k = kernelOf(w);
  int tile = symbol("cfg", k, 2, true);
  launch(w, {binary("ceildiv", cols, tile), binary("ceildiv", rows, tile),
             cst(1)},
         {out});
  return success();
}

void EntryEmitter::convert(int in, Type inElem, int out, Type outElem, int n) {
  std::string inT = cType(inElem), outT = cType(outElem);
  Wrapper w(llvm::formatv("rotor::cuda::Convert<{0}, {1}>", inT, outT));
  w.ptr("in", in, inT);
  w.ptr("out", out, outT, false);
  w.dim("n", n);
  launch(w, {strideOver(n), cst(1), cst(1)}, {out});
}

int EntryEmitter::asF32(Value table) {
  Type elem = cast<RankedTensorType>(table.getType()).getElementType();
  int id = valueOf(table);
  if (elem.isF32())
    return id;
  SmallVector<int> shape(shapeOf(table));
  int copy = scratch(Float32Type::get(table.getContext()), shape);
  convert(id, elem, copy, Float32Type::get(table.getContext()), product(shape));
  return copy;
}

LogicalResult EntryEmitter::emitCrossEntropyGrad(CrossEntropyGradOp op) {
  auto lType = cast<RankedTensorType>(op.getLogits().getType());
  std::string t = cType(lType.getElementType());
  std::string lt = cType(
      cast<RankedTensorType>(op.getLabels().getType()).getElementType());
  std::string gt = cType(
      cast<RankedTensorType>(op.getGradLoss().getType()).getElementType());
  std::string ignore = std::to_string(static_cast<int64_t>(op.getIgnoreIndex())) + "LL";
  Type f32 = Float32Type::get(op.getContext());
  int n = product(shapeOf(op.getLabels()));
  int count = scratch(f32, {});
  Wrapper c(llvm::formatv("rotor::cuda::CountLabels<{0}>", lt));
  c.ptr("labels", valueOf(op.getLabels()), lt);
  c.dim("n", n);
  c.literal("ignore_index", ignore);
  c.ptr("count", count, "float", false);
  launch(c, {cst(1), cst(1), cst(1)}, {count});
  Wrapper w(llvm::formatv("rotor::cuda::CrossEntropyGrad<{0}, {1}, {2}>", t,
                          lt, gt));
  int out = defineLike(op.getResult(), op.getLogits());
  w.ptr("logits", valueOf(op.getLogits()), t);
  w.ptr("labels", valueOf(op.getLabels()), lt);
  w.ptr("grad_loss", valueOf(op.getGradLoss()), gt);
  w.ptr("count", count, "float");
  w.ptr("out", out, t, false);
  w.dim("n", n);
  w.dim("vocab", shapeOf(op.getLogits()).back());
  w.literal("ignore_index", ignore);
  launch(w, {strideOver(n), cst(1), cst(1)}, {out});
  return success();
}

LogicalResult EntryEmitter::emitRmsNormGrad(RmsNormGradOp op) {
  auto type = cast<RankedTensorType>(op.getInput().getType());
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  std::string t = cType(type.getElementType());
  std::string wt = cType(wType.getElementType());
  Type f32 = Float32Type::get(op.getContext());
  int rows = product(shapeOf(op.getInput()).drop_back());
  int cols = shapeOf(op.getInput()).back();
  int rstd = scratch(f32, {rows});
  int dx = defineLike(op.getInputGrad(), op.getInput());
  Wrapper g(llvm::formatv("rotor::cuda::RmsNormGrad<{0}, {1}>", t, wt));
  g.ptr("x", valueOf(op.getInput()), t);
  g.ptr("w", valueOf(op.getWeight()), wt);
  g.ptr("dy", valueOf(op.getGrad()), t);
  g.ptr("dx", dx, t, false);
  g.ptr("rstd", rstd, "float", false);
  g.dim("rows", rows);
  g.dim("cols", cols);
  g.literal("eps", floatLiteral(op.getEpsilon().convertToDouble()));
  launch(g, {strideOver(rows), cst(1), cst(1)}, {dx, rstd});
  Wrapper wg(llvm::formatv("rotor::cuda::RmsNormWeightGrad<{0}, {1}>", t, wt));
  int dw = defineLike(op.getWeightGrad(), op.getWeight());
  wg.ptr("x", valueOf(op.getInput()), t);
  wg.ptr("dy", valueOf(op.getGrad()), t);
  wg.ptr("rstd", rstd, "float");
  wg.ptr("dw", dw, wt, false);
  wg.dim("rows", rows);
  wg.dim("cols", cols);
  int k = kernelOf(wg);
  launch(wg, {binary("ceildiv", cols, symbol("cfg", k, 2, true)), cst(1),
              cst(1)},
         {dw});
  return success();
}

LogicalResult EntryEmitter::emitEmbeddingGrad(EmbeddingGradOp op) {
  auto rType = cast<RankedTensorType>(op.getResult().getType());
  std::string it = cType(
      cast<RankedTensorType>(op.getIds().getType()).getElementType());
  std::string gt = cType(
      cast<RankedTensorType>(op.getGrad().getType()).getElementType());
  Type elem = rType.getElementType();
  Type f32 = Float32Type::get(op.getContext());
  int vocab = cst(rType.getDimSize(0));
  int hidden = shapeOf(op.getGrad()).back();
  int out = define(op.getResult(), {vocab, hidden});
  // The scatter-add accumulates in f32: into the result itself for an f32
  // table, else into a scratch buffer converted afterwards.
  int acc = elem.isF32() ? out : scratch(f32, {vocab, hidden});
  addStep(llvm::json::Object{{"op", "fill"}, {"dst", acc}}, {acc});
  Wrapper w(llvm::formatv("rotor::cuda::EmbeddingGrad<{0}, {1}>", it, gt));
  int n = product(shapeOf(op.getIds()));
  w.ptr("ids", valueOf(op.getIds()), it);
  w.ptr("dy", valueOf(op.getGrad()), gt);
  w.ptr("acc", acc, "float", false);
  w.dim("n", n);
  w.dim("vocab", vocab);
  w.dim("hidden", hidden);
  launch(w, {strideOver(n), cst(1), cst(1)}, {acc});
  if (acc != out)
    convert(acc, f32, out, elem, mul(vocab, hidden));
  return success();
}

LogicalResult EntryEmitter::emitLinearWeightGrad(LinearWeightGradOp op) {
  auto gType = cast<RankedTensorType>(op.getGrad().getType());
  auto iType = cast<RankedTensorType>(op.getInput().getType());
  auto rType = cast<RankedTensorType>(op.getResult().getType());
  if (gType.getElementType() != iType.getElementType() ||
      rType.getElementType() != gType.getElementType())
    return op.emitError() << "the CUDA target needs the cotangent, the input "
                             "and the result in one dtype (cuBLAS)";
  // dW (N, K) = dyᵀ (N, M) · x (M, K), M the product of the leading dims.
  int n = shapeOf(op.getGrad()).back();
  int k = shapeOf(op.getInput()).back();
  int m = product(shapeOf(op.getGrad()).drop_back());
  int out = define(op.getResult(), {n, k});
  gemm(valueOf(op.getGrad()), valueOf(op.getInput()), out, n, k, m,
       /*transB=*/false, -1, -1, -1, -1, -1, /*transA=*/true);
  return success();
}

LogicalResult EntryEmitter::emitActivationGrad(ActivationGradOp op) {
  // x0 = input, x1 = grad.
  const char *expr = "x1";
  switch (op.getActivation()) {
  case Activation::none:
    break;
  case Activation::relu:
    expr = "(x0 > 0 ? x1 : 0)";
    break;
  case Activation::silu:
    expr = "x1 * (1 / (1 + exp(-x0))) * (1 + x0 * (1 - 1 / (1 + exp(-x0))))";
    break;
  case Activation::gelu:
    expr = "x1 * (0.5 * (1 + erf(x0 * 0.7071067811865476)) + "
           "x0 * 0.3989422804014327 * exp(-0.5 * x0 * x0))";
    break;
  case Activation::gelu_tanh:
    expr = "x1 * (0.5 * (1 + tanh(0.7978845608028654 * (x0 + 0.044715 * x0 * "
           "x0 * x0))) + 0.5 * x0 * (1 - tanh(0.7978845608028654 * (x0 + "
           "0.044715 * x0 * x0 * x0)) * tanh(0.7978845608028654 * (x0 + "
           "0.044715 * x0 * x0 * x0))) * 0.7978845608028654 * (1 + 3 * "
           "0.044715 * x0 * x0))";
    break;
  }
  return emitElementwise(op, expr, op->getOperands());
}

LogicalResult EntryEmitter::emitLinalgFill(linalg::FillOp op) {
  Attribute value;
  if (!matchPattern(op.getInputs()[0], m_Constant(&value)))
    return op.emitError() << "the CUDA target needs a constant fill value";
  auto empty = op.getOutputs()[0].getDefiningOp<tensor::EmptyOp>();
  if (!empty)
    return op.emitError()
           << "the CUDA target fills tensors made by tensor.empty only";
  return emitFill(op.getResult(0), value, empty.getDynamicSizes());
}

LogicalResult EntryEmitter::emitGeneric(linalg::GenericOp op) {
  if (succeeded(emitColumnSum(op)))
    return success();
  FailureOr<GenericKernel> kernel = buildGenericKernel(op);
  if (failed(kernel))
    return failure();
  SmallVector<int> dims, ptrs, outs;
  for (auto [operand, d] : kernel->loopBounds)
    dims.push_back(dimOf(op->getOperand(operand), d));
  SmallVector<int> parallel;
  for (unsigned l : kernel->parallelLoops)
    parallel.push_back(dims[l]);
  for (Value v : op->getOperands()) {
    llvm::append_range(dims, shapeOf(v));
    ptrs.push_back(valueOf(v));
  }
  for (auto [result, init] : llvm::zip(op->getResults(), op.getDpsInits()))
    outs.push_back(defineLike(result, init));
  ptrs.append(outs);
  int n = product(parallel);
  addLaunch(kernels.get(kernel->body), {strideOver(n), cst(1), cst(1)}, ptrs,
            dims, outs);
  return success();
}

/// linalg.generic as rotor-autodiff builds the cotangent of a broadcast
/// bias: `out[c] = init[c] + Σ in[..., c]` (every dimension but the last
/// reduced, an addf body).
LogicalResult EntryEmitter::emitColumnSum(linalg::GenericOp op) {
  auto unsupported = [] { return failure(); };
  if (op.getNumDpsInputs() != 1 || op.getNumDpsInits() != 1)
    return unsupported();
  Value input = op.getDpsInputs()[0], init = op.getDpsInits()[0];
  auto inType = dyn_cast<RankedTensorType>(input.getType());
  auto outType = dyn_cast<RankedTensorType>(init.getType());
  if (!inType || !outType || outType.getRank() != 1 || inType.getRank() < 1)
    return unsupported();
  int64_t rank = inType.getRank();
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  for (int64_t d = 0; d < rank; ++d)
    if (iters[d] != (d + 1 == rank ? utils::IteratorType::parallel
                                   : utils::IteratorType::reduction))
      return unsupported();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  MLIRContext *ctx = op.getContext();
  if (maps[0] != AffineMap::getMultiDimIdentityMap(rank, ctx) ||
      maps[1] != AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx)))
    return unsupported();
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (body.getOperations().size() != 2 || !add ||
      !((add.getLhs() == body.getArgument(0) &&
         add.getRhs() == body.getArgument(1)) ||
        (add.getLhs() == body.getArgument(1) &&
         add.getRhs() == body.getArgument(0))))
    return unsupported();
  std::string t = cType(inType.getElementType());
  std::string ot = cType(outType.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::ColumnSum<{0}, {1}>", t, ot));
  int rows = product(shapeOf(input).drop_back());
  int cols = shapeOf(input).back();
  int out = define(op.getResult(0), {cols});
  w.ptr("x", valueOf(input), t);
  w.ptr("init", valueOf(init), ot);
  w.ptr("out", out, ot, false);
  w.dim("rows", rows);
  w.dim("cols", cols);
  int k = kernelOf(w);
  launch(w, {binary("ceildiv", cols, symbol("cfg", k, 2, true)), cst(1),
             cst(1)},
         {out});
  return success();
}

LogicalResult EntryEmitter::emitHeads(Operation *op, bool split) {
  Value input = op->getOperand(0);
  auto type = cast<RankedTensorType>(input.getType());
  std::string t = cType(type.getElementType());
  Wrapper w(llvm::formatv("rotor::cuda::{0}<{1}>",
                          split ? "SplitHeads" : "MergeHeads", t));
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<int> shape;
  int batch, seq, heads, headDim;
  if (split) {
    // (B, S, H·D) -> (B, H, S, D)
    batch = dimOf(input, 0);
    seq = dimOf(input, 1);
    heads = cst(resultType.getDimSize(1));
    headDim = cst(resultType.getDimSize(3));
    shape = {batch, heads, seq, headDim};
  } else {
    batch = dimOf(input, 0);
    heads = dimOf(input, 1);
    seq = dimOf(input, 2);
    headDim = dimOf(input, 3);
    shape = {batch, seq, mul(heads, headDim)};
  }
  if (ShapedType::isDynamic(resultType.getShape().back()) && split)
    return op->emitError() << "the CUDA target needs static head sizes";
  int out = define(op->getResult(0), shape);
  w.ptr("x", valueOf(input), t);
  w.ptr("out", out, t, false);
  w.dim("batch", batch);
  w.dim("seq", seq);
  w.dim("heads", heads);
  w.dim("head_dim", headDim);
  launch(w, {strideOver(product(shape)), cst(1), cst(1)}, {out});
  return success();
}

/// A generated elementwise kernel: `expr` over x0, x1, ... (the operands
/// converted to the compute type), with NumPy broadcasting of operands of
/// lower rank or size-1 dimensions.
LogicalResult EntryEmitter::emitElementwise(Operation *op,
                                            llvm::StringRef expr,
                                            ValueRange operands) {
  Value result = op->getResult(0);
  auto rType = cast<RankedTensorType>(result.getType());
  int64_t rank = rType.getRank();
  bool f64 = rType.getElementType().isF64();
  for (Value v : operands)
    f64 |= cast<RankedTensorType>(v.getType()).getElementType().isF64();
  std::string compute = f64 ? "double" : "float";

  // The result shape: per dimension, an operand's size that is not a
  // broadcast 1 (static sizes are taken from the result type).
  SmallVector<int> shape(rank, -1);
  SmallVector<SmallVector<bool>> broadcast;
  for (Value v : operands) {
    auto t = cast<RankedTensorType>(v.getType());
    int64_t offset = rank - t.getRank();
    SmallVector<bool> bc(rank, true);
    for (int64_t d = 0; d < t.getRank(); ++d) {
      int64_t rd = d + offset;
      bool isOne = t.getDimSize(d) == 1 && rType.getDimSize(rd) != 1;
      bc[rd] = isOne;
      if (!isOne && shape[rd] < 0)
        shape[rd] = dimOf(v, d);
    }
    broadcast.push_back(bc);
  }
  for (int64_t d = 0; d < rank; ++d)
    if (shape[d] < 0)
      shape[d] = cst(1);
  int out = define(result, shape);

  bool anyBroadcast = false;
  for (auto [i, v] : llvm::enumerate(operands))
    anyBroadcast |= cast<RankedTensorType>(v.getType()).getRank() != rank ||
                    llvm::is_contained(broadcast[i], true);

  std::string rt = cType(rType.getElementType());
  std::string body;
  llvm::raw_string_ostream os(body);
  SmallVector<int> dims;
  int n = product(shape);
  dims.push_back(n);
  os << "// elementwise: " << expr << "\n"
     << "extern \"C\" __global__ void __launch_bounds__(256)\n"
     << "@NAME@(const __grid_constant__ rotor::cuda::LaunchArgs a) {\n"
     << "  const long long n = a.dim[0];\n"
     << "  " << rt << " *out = (" << rt << " *)a.ptr[" << operands.size()
     << "];\n"
     << "  for (long long i = (long long)blockIdx.x * 256 + threadIdx.x; "
        "i < n; i += (long long)gridDim.x * 256) {\n";
  if (anyBroadcast) {
    // Dimension sizes in dim[1..rank], then each operand's strides.
    for (int s : shape)
      dims.push_back(s);
    for (auto [i, v] : llvm::enumerate(operands)) {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t offset = rank - t.getRank();
      SmallVector<int> strides(rank, cst(0));
      int stride = cst(1);
      for (int64_t d = t.getRank() - 1; d >= 0; --d) {
        if (!broadcast[i][d + offset])
          strides[d + offset] = stride;
        stride = mul(stride, dimOf(v, d));
      }
      dims.append(strides);
    }
    os << "    long long rem = i;\n";
    for (size_t k = 0; k < operands.size(); ++k)
      os << "    long long o" << k << " = 0;\n";
    os << "    for (int d = " << rank - 1 << "; d >= 0; --d) {\n"
       << "      long long c = rem % a.dim[1 + d];\n"
       << "      rem /= a.dim[1 + d];\n";
    for (size_t k = 0; k < operands.size(); ++k)
      os << "      o" << k << " += c * a.dim[" << 1 + rank * (1 + k)
         << " + d];\n";
    os << "    }\n";
  } else {
    for (size_t k = 0; k < operands.size(); ++k)
      os << "    long long o" << k << " = i;\n";
  }
  for (auto [k, v] : llvm::enumerate(operands)) {
    std::string t =
        cType(cast<RankedTensorType>(v.getType()).getElementType());
    os << "    " << compute << " x" << k << " = (" << compute
       << ")rotor::cuda::toF" << (f64 ? "64" : "32") << "(((const " << t
       << " *)a.ptr[" << k << "])[o" << k << "]);\n";
  }
  if (f64)
    os << "    out[i] = (" << rt << ")(" << expr << ");\n";
  else
    os << "    out[i] = rotor::cuda::fromF32<" << rt << ">(" << expr
       << ");\n";
  os << "  }\n}\n"
     << "extern \"C\" __constant__ int @NAME@_cfg[4] = {256, 0, 1024, 1};\n";
  if (dims.size() > 24)
    return op->emitError() << "the CUDA target broadcasts tensors of rank "
                              "up to "
                           << (24 - 1) / (1 + operands.size()) - 1;
  SmallVector<int> ptrs;
  for (Value v : operands)
    ptrs.push_back(valueOf(v));
  ptrs.push_back(out);
  addLaunch(kernels.get(body), {strideOver(n), cst(1), cst(1)}, ptrs, dims,
            {out});
  return success();
}

LogicalResult EntryEmitter::emitReshape(Value source, Value result,
                                        SmallVector<int> shape) {
  int src = valueOf(source);
  int dst = define(result, std::move(shape));
  addStep(llvm::json::Object{{"op", "view"},
                             {"src", src},
                             {"dst", dst},
                             {"offset", cst(0)}},
          {src, dst});
  return success();
}

LogicalResult EntryEmitter::emitConcat(tensor::ConcatOp op) {
  int64_t axis = op.getDim();
  Value first = op.getInputs().front();
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t es = byteWidth(type.getElementType());
  SmallVector<int> shape(shapeOf(first));
  int total = cst(0);
  for (Value v : op.getInputs())
    total = add(total, dimOf(v, axis));
  shape[axis] = total;
  int out = define(op.getResult(), shape);
  int outer = product(llvm::ArrayRef<int>(shape).take_front(axis));
  int inner = mul(product(llvm::ArrayRef<int>(shape).drop_front(axis + 1)),
                  cst(es));
  int dstPitch = mul(shape[axis], inner);
  int offset = cst(0);
  for (Value v : op.getInputs()) {
    int width = mul(dimOf(v, axis), inner);
    int src = valueOf(v);
    addStep(llvm::json::Object{{"op", "copy2d"},
                               {"src", src},
                               {"dst", out},
                               {"src_offset", cst(0)},
                               {"dst_offset", offset},
                               {"src_pitch", width},
                               {"dst_pitch", dstPitch},
                               {"width", width},
                               {"height", outer}},
            {src, out});
    offset = add(offset, width);
  }
  return success();
}

LogicalResult EntryEmitter::sliceSymbols(Operation *op,
                                         ArrayRef<OpFoldResult> mixedOffsets,
                                         ArrayRef<OpFoldResult> mixedSizes,
                                         ArrayRef<OpFoldResult> mixedStrides,
                                         SmallVector<int> &offsets,
                                         SmallVector<int> &sizes) {
  for (OpFoldResult s : mixedStrides)
    if (getConstantIntValue(s) != 1)
      return op->emitError() << "the CUDA target supports unit-stride "
                                "slices only";
  auto toSymbol = [&](OpFoldResult r) -> FailureOr<int> {
    if (auto c = getConstantIntValue(r))
      return cst(*c);
    return indexSymbol(cast<Value>(r));
  };
  for (auto [o, z] : llvm::zip(mixedOffsets, mixedSizes)) {
    FailureOr<int> os = toSymbol(o), zs = toSymbol(z);
    if (failed(os) || failed(zs))
      return failure();
    offsets.push_back(*os);
    sizes.push_back(*zs);
  }
  return success();
}

FailureOr<EntryEmitter::SliceGeometry>
EntryEmitter::sliceGeometry(Operation *op, RankedTensorType fullType,
                            ArrayRef<int> fullShape, SmallVector<int> offsets,
                            SmallVector<int> sizes) {
  int64_t rank = fullType.getRank();
  SliceGeometry g;
  g.offsets = std::move(offsets);
  g.sizes = std::move(sizes);
  // The innermost dimension that is sliced: every dimension after it is
  // taken whole, so that each piece is contiguous. Dimensions before it must
  // start at 0 and, but for the first, be taken whole; the first may be
  // shorter (equal sizes that come from different inputs cannot be told
  // apart here).
  for (int64_t d = rank - 1; d >= 0; --d)
    if (g.offsets[d] != cst(0) || g.sizes[d] != fullShape[d]) {
      g.axis = d;
      break;
    }
  for (int64_t d = 1; d < g.axis; ++d)
    if (g.offsets[d] != cst(0) || g.sizes[d] != fullShape[d])
      return op->emitError() << "the CUDA target slices one dimension at a "
                                "time (dimensions "
                             << d << " and " << g.axis << " are sliced)";
  if (g.axis > 0 && g.offsets[0] != cst(0))
    return op->emitError() << "the CUDA target slices one dimension at a "
                              "time (dimensions 0 and "
                           << g.axis << " are sliced)";
  int64_t es = byteWidth(fullType.getElementType());
  g.inner = mul(product(fullShape.drop_front(g.axis + 1)), cst(es));
  g.offset = mul(g.offsets[g.axis], g.inner);
  g.fullPitch = mul(fullShape[g.axis], g.inner);
  g.width = mul(g.sizes[g.axis], g.inner);
  g.height = g.axis == 0
                 ? cst(1)
                 : mul(g.sizes[0], product(fullShape.slice(1, g.axis - 1)));
  return g;
}

LogicalResult EntryEmitter::emitExtractSlice(tensor::ExtractSliceOp op) {
  auto srcType = op.getSourceType();
  if (srcType.getRank() != op.getResultType().getRank())
    return op.emitError() << "the CUDA target supports rank-preserving "
                             "slices only";
  Value source = op.getSource();
  SmallVector<int> offsets, sizes;
  if (failed(sliceSymbols(op, op.getMixedOffsets(), op.getMixedSizes(),
                          op.getMixedStrides(), offsets, sizes)))
    return failure();
  FailureOr<SliceGeometry> g = sliceGeometry(op, srcType, shapeOf(source),
                                             offsets, sizes);
  if (failed(g))
    return failure();
  int out = define(op.getResult(), g->sizes);
  int src = valueOf(source);
  if (g->axis == 0) {
    // Whole rows of the outermost dimension: a contiguous view.
    addStep(llvm::json::Object{{"op", "view"},
                               {"src", src},
                               {"dst", out},
                               {"offset", g->offset}},
            {src, out});
    return success();
  }
  addStep(llvm::json::Object{{"op", "copy2d"},
                             {"src", src},
                             {"dst", out},
                             {"src_offset", g->offset},
                             {"dst_offset", cst(0)},
                             {"src_pitch", g->fullPitch},
                             {"dst_pitch", g->width},
                             {"width", g->width},
                             {"height", g->height}},
          {src, out});
  return success();
}

void EntryEmitter::insertInto(int source, int out, const SliceGeometry &g) {
  addStep(llvm::json::Object{{"op", "copy2d"},
                             {"src", source},
                             {"dst", out},
                             {"src_offset", cst(0)},
                             {"dst_offset", g.offset},
                             {"src_pitch", g.width},
                             {"dst_pitch", g.fullPitch},
                             {"width", g.width},
                             {"height", g.height}},
          {source, out});
}

LogicalResult EntryEmitter::emitInsertSlice(tensor::InsertSliceOp op) {
  auto destType = op.getDestType();
  if (destType.getRank() != op.getSourceType().getRank())
    return op.emitError() << "the CUDA target supports rank-preserving "
                             "slices only";
  Value dest = op.getDest();
  SmallVector<int> shape(shapeOf(dest)), offsets, sizes;
  if (failed(sliceSymbols(op, op.getMixedOffsets(), op.getMixedSizes(),
                          op.getMixedStrides(), offsets, sizes)))
    return failure();
  FailureOr<SliceGeometry> g =
      sliceGeometry(op, destType, shape, offsets, sizes);
  if (failed(g))
    return failure();
  // The destination copied whole, then the source over its slice.
  int out = define(op.getResult(), shape);
  copyWhole(valueOf(dest), out);
  insertInto(valueOf(op.getSource()), out, *g);
  return success();
}

LogicalResult EntryEmitter::emitPad(tensor::PadOp op) {
  Attribute value;
  Value padding = op.getConstantPaddingValue();
  if (!padding || !matchPattern(padding, m_Constant(&value)))
    return op.emitError() << "the CUDA target pads with a constant only";
  auto type = op.getResultType();
  SmallVector<int> low, high, srcShape(shapeOf(op.getSource())), shape;
  SmallVector<OpFoldResult> ones(type.getRank(),
                                 OpBuilder(op).getIndexAttr(1));
  if (failed(sliceSymbols(op, op.getMixedLowPad(), op.getMixedHighPad(), ones,
                          low, high)))
    return failure();
  for (int64_t d = 0; d < type.getRank(); ++d)
    shape.push_back(low[d] == cst(0) && high[d] == cst(0)
                        ? srcShape[d]
                        : add(add(srcShape[d], low[d]), high[d]));
  FailureOr<SliceGeometry> g =
      sliceGeometry(op, type, shape, low, srcShape);
  if (failed(g))
    return failure();
  int out = define(op.getResult(), shape);
  fill(out, type.getElementType(), value);
  insertInto(valueOf(op.getSource()), out, *g);
  return success();
}

LogicalResult EntryEmitter::emitFill(Value result, Attribute value,
                                     ValueRange sizes) {
  auto type = cast<RankedTensorType>(result.getType());
  SmallVector<int> shape(type.getRank(), -1);
  size_t next = 0;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (!type.isDynamicDim(d))
      continue;
    FailureOr<int> s = indexSymbol(sizes[next++]);
    if (failed(s))
      return failure();
    shape[d] = *s;
  }
  fill(define(result, shape), type.getElementType(), value);
  return success();
}

void EntryEmitter::fill(int out, Type elementType, Attribute value) {
  double v = 0;
  if (auto f = dyn_cast_or_null<FloatAttr>(value))
    v = f.getValueAsDouble();
  else if (auto i = dyn_cast_or_null<IntegerAttr>(value))
    v = static_cast<double>(i.getInt());
  if (v == 0 && !std::signbit(v)) {
    addStep(llvm::json::Object{{"op", "fill"}, {"dst", out}}, {out});
    return;
  }
  std::string t = cType(elementType);
  launchPerElement("fill", "", t, "(" + t + ")(" + floatLiteral(v) + ")", out,
                   {product(values[out].shape)});
}

void EntryEmitter::launchPerElement(StringRef comment, StringRef prelude,
                                    StringRef t, StringRef expr, int out,
                                    ArrayRef<int> dims) {
  std::string body =
      ("// " + comment + "\n" + prelude +
       "extern \"C\" __global__ void __launch_bounds__(256)\n"
       "@NAME@(const __grid_constant__ rotor::cuda::LaunchArgs a) {\n"
       "  for (long long i = (long long)blockIdx.x * 256 + threadIdx.x; "
       "i < a.dim[0]; i += (long long)gridDim.x * 256)\n"
       "    ((" + t + " *)a.ptr[0])[i] = " + expr + ";\n}\n"
       "extern \"C\" __constant__ int @NAME@_cfg[4] = {256, 0, 1024, 1};\n")
          .str();
  addLaunch(kernels.get(body), {strideOver(dims[0]), cst(1), cst(1)}, {out},
            dims, {out});
}

/// tensor.generate of positions: `index_cast(i + start)` over a 1-D index
/// space, the form the model frontend emits.
LogicalResult EntryEmitter::emitGenerate(tensor::GenerateOp op) {
  auto type = op.getResult().getType();
  Block &body = op.getBody().front();
  auto yield = cast<tensor::YieldOp>(body.getTerminator());
  Value yielded = yield.getValue();
  Value start;
  if (auto cast = yielded.getDefiningOp<arith::IndexCastOp>()) {
    Value in = cast.getIn();
    if (in == body.getArgument(0)) {
      start = Value();
    } else if (auto addOp = in.getDefiningOp<arith::AddIOp>()) {
      if (addOp.getLhs() == body.getArgument(0))
        start = addOp.getRhs();
      else if (addOp.getRhs() == body.getArgument(0))
        start = addOp.getLhs();
    }
    if (type.getRank() != 1 || (!start && in != body.getArgument(0)) ||
        (start && start.getParentBlock() == &body))
      start = nullptr, yielded = nullptr;
  } else {
    yielded = nullptr;
  }
  if (!yielded)
    return op.emitError() << "the CUDA target supports tensor.generate of "
                             "positions (index_cast(i + start)) only";
  int startSym = cst(0);
  if (start) {
    FailureOr<int> s = indexSymbol(start);
    if (failed(s))
      return failure();
    startSym = *s;
  }
  SmallVector<int> shape(1, -1);
  if (type.isDynamicDim(0)) {
    FailureOr<int> s = indexSymbol(op.getDynamicExtents()[0]);
    if (failed(s))
      return failure();
    shape[0] = *s;
  }
  int out = define(op.getResult(), shape);
  int length = values[out].shape[0];
  std::string t = cType(type.getElementType());
  launchPerElement("positions: i + start", "", t, "(" + t + ")(i + a.dim[1])",
                   out, {length, startSym});
  return success();
}

/// A constant tensor: splats are fills, an identity matrix is computed,
/// other constants are copied from a device array in the generated source.
LogicalResult EntryEmitter::emitConstant(arith::ConstantOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  auto dense = dyn_cast<DenseElementsAttr>(op.getValue());
  if (!dense)
    return op.emitError() << "the CUDA target supports dense constants only";
  if (dense.isSplat())
    return emitFill(op.getResult(), dense.getSplatValue<Attribute>(), {});
  std::string t = cType(type.getElementType());
  if (isIdentityMatrix(dense)) {
    // An identity (e.g. of rotor-compose-rotations) is computed, not stored.
    int out = define(op.getResult(), SmallVector<int>(2, -1));
    launchPerElement("the identity: a.dim[0] elements, rows of a.dim[1]", "",
                     t,
                     "rotor::cuda::fromF32<" + t +
                         ">(i / a.dim[1] == i % a.dim[1] ? 1.f : 0.f)",
                     out,
                     {cst(dense.getNumElements()), cst(type.getDimSize(1))});
    return success();
  }
  if (dense.getNumElements() > (1 << 20))
    return op.emitError() << "the CUDA target embeds constants of up to 2^20 "
                             "elements";
  std::string data;
  llvm::raw_string_ostream os(data);
  bool isFloat = isa<FloatType>(type.getElementType());
  bool wide = type.getElementType().isF64() ||
              type.getElementType().isSignlessInteger(64);
  std::string storage = isFloat ? (wide ? "double" : "float") : t;
  size_t i = 0;
  if (isFloat) {
    for (APFloat v : dense.getValues<APFloat>()) {
      bool lossy;
      v.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
                &lossy);
      os << (i++ ? ", " : "") << floatLiteral(v.convertToDouble());
    }
  } else {
    for (APInt v : dense.getValues<APInt>())
      os << (i++ ? ", " : "") << v.getSExtValue() << "LL";
  }
  int out = define(op.getResult(), SmallVector<int>(type.getRank(), -1));
  launchPerElement(
      "constant", "__device__ const " + storage + " @NAME@_data[] = {" + data + "};\n", t,
      isFloat && !type.getElementType().isF32() && !type.getElementType().isF64()
          ? "rotor::cuda::fromF32<" + t + ">((float)@NAME@_data[i])"
          : "(" + t + ")@NAME@_data[i]",
      out, {cst(dense.getNumElements())});
  return success();
}

} // namespace

FailureOr<CudaProgram> mlir::rotor::emitCudaProgram(ModuleOp module) {
  KernelTable kernels;
  llvm::json::Array entries;
  bool any = false;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn.isPrivate() || fn.isExternal())
      continue;
    any = true;
    EntryEmitter entry(fn, kernels);
    if (failed(entry.emit()))
      return failure();
    entries.push_back(entry.toJson());
  }
  if (!any)
    return module.emitError()
           << "the module has no public function to serve as an entry point";
  // A training step's artifact carries the device-resident optimizer's
  // kernels (rotor/cuda/optim.cuh) under fixed names, which the runtime's
  // trainer launches between steps.
  if (auto train = module.lookupSymbol<func::FuncOp>("train_step");
      train && train.isPublic())
    for (auto [name, function] :
         {std::pair<const char *, const char *>{"rotor_train_unscale_sumsq",
                                                "unscaleSumSquares"},
          {"rotor_train_exp", "expValues"},
          {"rotor_train_scale_by", "scaleByValues"},
          {"rotor_train_adamw", "adamw"},
          {"rotor_train_sgd", "sgd"}})
      kernels.addNamed(
          name,
          llvm::formatv(
              "// the trainer's {0}\n"
              "extern \"C\" __global__ void __launch_bounds__(256)\n"
              "{1}(const __grid_constant__ rotor::cuda::LaunchArgs a) {{\n"
              "  rotor::cuda::optim::{0}(a);\n}\n"
              "extern \"C\" __constant__ int {1}_cfg[4] = {{256, 0, 1024, "
              "1};\n",
              function, name)
              .str());
  CudaProgram program;
  program.numKernels = kernels.names.size();
  program.source =
      "// Generated by rotorc: the kernels of one artifact (CUDA target).\n"
      "// Each wrapper instantiates a template of the device library\n"
      "// (rotor/cuda/kernels.cuh) with the static parameters of one op.\n"
      "#include \"rotor/cuda/kernels.cuh\"\n\n" +
      kernels.source;
  llvm::json::Array names;
  for (const std::string &n : kernels.names)
    names.push_back(n);
  llvm::json::Object plan{{"format", "rotor-cuda-plan"},
                          {"format_version", 1},
                          {"source", "kernels.cu"},
                          {"include_dir", "include"},
                          {"kernels", std::move(names)},
                          {"entries", std::move(entries)}};
  llvm::raw_string_ostream os(program.plan);
  os << llvm::formatv("{0:1}", llvm::json::Value(std::move(plan)));
  return program;
}
