//===- Autodiff.cpp - Reverse-mode differentiation of rotor functions -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The rotor-autodiff pass (Passes.td describes its interface). It builds the
// gradient function in four steps:
//
// 1. Forward: the body of the differentiated function is cloned into the
//    new function, with every call of a function defined in the module
//    inlined (recursively). Each op remembers which top-level call it came
//    from, its "segment" (0: the function's own ops; k: the k-th call),
//    which the layer checkpointing policy works on.
// 2. Activity: the values that depend on a differentiated argument.
// 3. Backward: the forward ops are visited in reverse; for each op with an
//    active operand and a cotangent on some result, its
//    DifferentiableOpInterface builds the operand cotangents, which are
//    accumulated (rotor.add) per value. With checkpoint=layers, before the
//    first op of a segment k >= 1 is visited, the whole segment is cloned
//    (recomputed from its inputs), and the rules are applied to the clones,
//    so that the backward pass uses only the segment's inputs from the
//    forward pass.
// 4. The result: the forward results and the gradient of every
//    differentiated argument (zeros when the result does not depend on it);
//    dead ops are erased.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORAUTODIFF
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

constexpr llvm::StringLiteral kNameAttr = "rotor.name";

enum class Checkpoint { None, Layers };

bool isFloatTensor(Type t) {
  auto rt = dyn_cast<RankedTensorType>(t);
  return rt && isa<FloatType>(rt.getElementType());
}

/// The manifest name of argument `i` of `fn`: its rotor.name or `argN`.
std::string getArgName(func::FuncOp fn, unsigned i) {
  if (auto n = fn.getArgAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  return "arg" + std::to_string(i);
}

std::string getResultName(func::FuncOp fn, unsigned i) {
  if (auto n = fn.getResultAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  return "result" + std::to_string(i);
}

/// The bytes of a tensor type with its dynamic dimensions counted as 1.
int64_t getBytesPerDynamicUnit(Type t) {
  auto rt = cast<RankedTensorType>(t);
  int64_t n = (rt.getElementTypeBitWidth() + 7) / 8;
  for (int64_t d : rt.getShape())
    if (!ShapedType::isDynamic(d))
      n *= d;
  return n;
}

/// Builds one gradient function.
/// `op` in the form the backward pass differentiates: the fused rope of the
/// queries and keys and the fused query rotation as separate rotor.rope,
/// rotor.givens and rotor.rotate ops (returned first, in the order the
/// fused op applies them: rope, Givens chain, matrix), and an attention
/// without them that returns its log-sum-exp.
std::pair<SmallVector<Operation *>, AttentionOp>
unfuseAttention(OpBuilder &b, AttentionOp op) {
  Location loc = op.getLoc();
  SmallVector<Operation *> prologue;
  auto rotate = [&](Value x, Value positions) -> Value {
    if (!positions)
      return x;
    auto rope = RopeOp::create(
        b, loc, x.getType(), x, positions, op.getRopeLearnedBase(),
        RopeLayoutAttr::get(b.getContext(), op.getEffectiveRopeLayout()),
        op.getRopeRotaryDimAttr(), op.getRopeBaseAttr(),
        op.getRopeScalingAttr(), /*transpose=*/UnitAttr());
    prologue.push_back(rope);
    return rope;
  };
  Value query = rotate(op.getQuery(), op.getQueryPositions());
  Value key = rotate(op.getKey(), op.getKeyPositions());
  if (Value angles = op.getQueryGivensAngles()) {
    auto givens =
        GivensOp::create(b, loc, query, angles, op.getGivensQPairsAttr());
    prologue.push_back(givens);
    query = givens;
  }
  if (Value r = op.getQueryRotation()) {
    auto rotation = RotateOp::create(b, loc, query, r);
    prologue.push_back(rotation);
    query = rotation;
  }
  auto plain = AttentionOp::create(
      b, loc, query, key, op.getValue(), op.getBias(),
      /*query_positions=*/Value(), /*key_positions=*/Value(),
      /*rope_learned_base=*/Value(), /*query_givens_angles=*/Value(),
      /*query_rotation=*/Value(), op.getQueryStart(), op.getMaskAttr(),
      op.getScaleAttr(),
      op.getSoftcapAttr(), op.getBiasMaxDistanceAttr(), b.getUnitAttr(),
      /*rope_layout=*/RopeLayoutAttr(), /*rope_rotary_dim=*/IntegerAttr(),
      /*rope_base=*/FloatAttr(), /*rope_scaling=*/RopeScalingAttr(),
      /*givens_q_pairs=*/DenseI64ArrayAttr());
  return {prologue, plain};
}

class GradientBuilder {
public:
  GradientBuilder(ModuleOp module, func::FuncOp source, Checkpoint policy,
                  bool seedArgs, bool lossScale)
      : module(module), source(source), policy(policy), seedArgs(seedArgs),
        lossScale(lossScale) {}

  /// Builds `name` differentiating the arguments `wrt` (indices), or
  /// returns failure after emitting an error.
  FailureOr<func::FuncOp> build(StringRef name, ArrayRef<unsigned> wrt);

  /// The forward values (not arguments) that the backward ops use, after
  /// build().
  SmallVector<Value> getSavedValues();

private:
  LogicalResult cloneBody(OpBuilder &b, Region &body, IRMapping &map,
                          int segment, SmallVectorImpl<Value> &returned,
                          llvm::SmallPtrSetImpl<Operation *> &inlining);
  LogicalResult accumulate(OpBuilder &b, Value primal, Value cotangent);
  LogicalResult differentiate(OpBuilder &b, Operation *primal,
                              Operation *rule);

  ModuleOp module;
  func::FuncOp source;
  Checkpoint policy;
  bool seedArgs;
  /// The loss cotangent is a last argument `loss_scale` instead of 1.
  bool lossScale;

  func::FuncOp fn;
  int segmentCount = 0;
  /// The forward ops, in order, and their segments.
  SmallVector<Operation *> forward;
  DenseMap<Operation *, int> segmentOf;
  llvm::DenseSet<Value> active;
  DenseMap<Value, Value> cotangents;
};

LogicalResult
GradientBuilder::cloneBody(OpBuilder &b, Region &body, IRMapping &map,
                           int segment, SmallVectorImpl<Value> &returned,
                           llvm::SmallPtrSetImpl<Operation *> &inlining) {
  if (!body.hasOneBlock())
    return body.getParentOp()->emitError()
           << "rotor-autodiff differentiates single-block functions only";
  for (Operation &op : body.front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands())
        returned.push_back(map.lookupOrDefault(v));
      continue;
    }
    if (auto call = dyn_cast<func::CallOp>(op)) {
      auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
      if (callee && !callee.isExternal()) {
        if (!inlining.insert(callee).second)
          return call.emitError()
                 << "rotor-autodiff cannot inline the recursive call of @"
                 << callee.getSymName();
        IRMapping inner;
        for (auto [arg, operand] :
             llvm::zip(callee.getArguments(), call.getOperands()))
          inner.map(arg, map.lookupOrDefault(operand));
        SmallVector<Value> results;
        // Calls inside a segment stay in it; top-level calls start one.
        int callSegment = segment ? segment : ++segmentCount;
        if (failed(cloneBody(b, callee.getBody(), inner, callSegment,
                             results, inlining)))
          return failure();
        inlining.erase(callee);
        for (auto [r, v] : llvm::zip(call.getResults(), results))
          map.map(r, v);
        continue;
      }
    }
    if (op.getNumRegions() != 0 &&
        !isa<tensor::GenerateOp, linalg::LinalgOp>(op))
      return op.emitError()
             << "rotor-autodiff cannot differentiate through '"
             << op.getName() << "', an op with regions";
    Operation *clone = b.clone(op, map);
    // The backward of attention needs the log-sum-exp of the forward op, and
    // differentiates a fused rope or query rotation as the separate ops.
    if (auto attention = dyn_cast<AttentionOp>(clone);
        attention &&
        (!attention.getReturnLse() || attention.hasPrologue())) {
      auto [prologue, plain] = unfuseAttention(b, attention);
      for (Operation *pre : prologue) {
        forward.push_back(pre);
        segmentOf[pre] = segment;
      }
      for (auto [from, to] : llvm::zip(op.getResults(), plain->getResults()))
        map.map(from, to);
      attention.erase();
      clone = plain;
    }
    forward.push_back(clone);
    segmentOf[clone] = segment;
  }
  return success();
}

LogicalResult GradientBuilder::accumulate(OpBuilder &b, Value primal,
                                          Value cotangent) {
  Location loc = primal.getLoc();
  Type type = primal.getType();
  if (cotangent.getType() != type) {
    auto from = dyn_cast<RankedTensorType>(cotangent.getType());
    auto to = dyn_cast<RankedTensorType>(type);
    if (!from || !to || from.getElementType() != to.getElementType() ||
        failed(verifyCompatibleShape(from, to)))
      return emitError(loc) << "rotor-autodiff: a rule produced a cotangent "
                               "of type "
                            << cotangent.getType() << " for a value of type "
                            << type;
    cotangent = tensor::CastOp::create(b, loc, type, cotangent);
  }
  auto [it, inserted] = cotangents.try_emplace(primal, cotangent);
  if (!inserted)
    it->second = AddOp::create(b, loc, it->second, cotangent);
  return success();
}

LogicalResult GradientBuilder::differentiate(OpBuilder &b, Operation *primal,
                                             Operation *rule) {
  bool anyActive = llvm::any_of(primal->getOperands(),
                                [&](Value v) { return active.contains(v); });
  SmallVector<Value> resultCotangents;
  bool anyCotangent = false;
  for (Value r : primal->getResults()) {
    resultCotangents.push_back(cotangents.lookup(r));
    anyCotangent |= static_cast<bool>(resultCotangents.back());
  }
  if (!anyActive || !anyCotangent)
    return success();

  auto iface = dyn_cast<DifferentiableOpInterface>(rule);
  auto describeActive = [&](InFlightDiagnostic &diag) {
    for (auto [i, v] : llvm::enumerate(primal->getOperands()))
      if (active.contains(v)) {
        diag << " (operand #" << i
             << " depends on a differentiated argument)";
        break;
      }
  };
  if (!iface) {
    InFlightDiagnostic diag =
        primal->emitError()
        << "rotor-autodiff: '" << primal->getName()
        << "' is not differentiable (it implements no "
           "DifferentiableOpInterface rule)";
    describeActive(diag);
    return diag;
  }
  SmallVector<Value> operandCotangents;
  if (failed(iface.buildVjp(b, resultCotangents, operandCotangents)))
    return failure();
  if (operandCotangents.size() != primal->getNumOperands())
    return primal->emitError()
           << "rotor-autodiff: the rule of '" << primal->getName()
           << "' returned " << operandCotangents.size()
           << " operand cotangents for " << primal->getNumOperands()
           << " operands";
  for (auto [i, v] : llvm::enumerate(primal->getOperands())) {
    if (!active.contains(v))
      continue;
    if (!operandCotangents[i])
      return primal->emitError()
             << "rotor-autodiff: '" << primal->getName()
             << "' has no gradient for operand #" << i
             << ", which depends on a differentiated argument";
    if (failed(accumulate(b, v, operandCotangents[i])))
      return failure();
  }
  return success();
}

FailureOr<func::FuncOp> GradientBuilder::build(StringRef name,
                                               ArrayRef<unsigned> wrt) {
  MLIRContext *ctx = module.getContext();
  Location loc = source.getLoc();
  OpBuilder b(ctx);
  FunctionType srcType = source.getFunctionType();

  if (!seedArgs) {
    if (srcType.getNumResults() != 1 ||
        !isFloatTensor(srcType.getResult(0)) ||
        cast<RankedTensorType>(srcType.getResult(0)).getRank() != 0)
      return source.emitError()
             << "rotor-autodiff: @" << source.getSymName()
             << " must return one 0-D float tensor (the loss) unless "
                "seed-args is set; it returns "
             << srcType.getNumResults() << " value(s)";
  }
  SmallVector<Type> argTypes(srcType.getInputs());
  SmallVector<unsigned> seeded;
  if (seedArgs)
    for (auto [i, t] : llvm::enumerate(srcType.getResults())) {
      if (!isFloatTensor(t))
        continue;
      seeded.push_back(i);
      argTypes.push_back(t);
    }
  if (lossScale)
    argTypes.push_back(srcType.getResult(0));
  SmallVector<Type> resultTypes(srcType.getResults());
  for (unsigned i : wrt)
    resultTypes.push_back(srcType.getInput(i));

  b.setInsertionPointAfter(source);
  fn = func::FuncOp::create(b, loc, name,
                            b.getFunctionType(argTypes, resultTypes));
  // Keep the source's attributes (linkage, inlining hints, ...).
  for (NamedAttribute attr : source->getDiscardableAttrs())
    fn->setAttr(attr.getName(), attr.getValue());
  fn.setVisibility(source.getVisibility());
  for (unsigned i = 0; i < srcType.getNumInputs(); ++i)
    fn.setArgAttrs(i, source.getArgAttrDict(i));
  for (auto [k, i] : llvm::enumerate(seeded))
    fn.setArgAttr(srcType.getNumInputs() + k, kNameAttr,
                  b.getStringAttr("d." + getResultName(source, i)));
  if (lossScale)
    fn.setArgAttr(argTypes.size() - 1, kNameAttr,
                  b.getStringAttr("loss_scale"));
  for (unsigned i = 0; i < srcType.getNumResults(); ++i) {
    std::string n = getResultName(source, i);
    if (!seedArgs && !source.getResultAttrOfType<StringAttr>(i, kNameAttr))
      n = "loss";
    fn.setResultAttr(i, kNameAttr, b.getStringAttr(n));
  }
  for (auto [k, i] : llvm::enumerate(wrt))
    fn.setResultAttr(srcType.getNumResults() + k, kNameAttr,
                     b.getStringAttr("grad." + getArgName(source, i)));

  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  IRMapping map;
  for (unsigned i = 0; i < srcType.getNumInputs(); ++i)
    map.map(source.getArgument(i), entry->getArgument(i));
  SmallVector<Value> returned;
  llvm::SmallPtrSet<Operation *, 4> inlining;
  inlining.insert(source);
  if (failed(cloneBody(b, source.getBody(), map, 0, returned, inlining)))
    return failure();

  // Activity.
  for (unsigned i : wrt)
    active.insert(entry->getArgument(i));
  for (Operation *op : forward)
    if (llvm::any_of(op->getOperands(),
                     [&](Value v) { return active.contains(v); }))
      for (Value r : op->getResults())
        if (isFloatTensor(r.getType()))
          active.insert(r);

  // Seeds.
  if (seedArgs) {
    for (auto [k, i] : llvm::enumerate(seeded))
      if (failed(accumulate(b, returned[i],
                            entry->getArgument(srcType.getNumInputs() + k))))
        return failure();
  } else if (lossScale) {
    if (failed(accumulate(b, returned[0], entry->getArguments().back())))
      return failure();
  } else {
    auto lossType = cast<RankedTensorType>(returned[0].getType());
    Value one = arith::ConstantOp::create(
        b, loc, lossType,
        DenseElementsAttr::get(
            lossType, ArrayRef<Attribute>{
                          b.getFloatAttr(lossType.getElementType(), 1.0)}));
    if (failed(accumulate(b, returned[0], one)))
      return failure();
  }

  // Backward.
  int recomputed = 0;
  DenseMap<Operation *, Operation *> recomputedOps;
  for (Operation *op : llvm::reverse(forward)) {
    int segment = segmentOf.lookup(op);
    Operation *rule = op;
    if (policy == Checkpoint::Layers && segment > 0) {
      if (segment != recomputed) {
        // Recompute the whole segment from its inputs.
        IRMapping remap;
        recomputedOps.clear();
        for (Operation *f : forward)
          if (segmentOf.lookup(f) == segment)
            recomputedOps[f] = b.clone(*f, remap);
        recomputed = segment;
      }
      rule = recomputedOps.lookup(op);
    }
    if (failed(differentiate(b, op, rule)))
      return failure();
  }

  SmallVector<Value> results(returned);
  for (unsigned i : wrt) {
    Value arg = entry->getArgument(i);
    Value g = cotangents.lookup(arg);
    if (!g) {
      auto type = cast<RankedTensorType>(arg.getType());
      SmallVector<Value> dynamic;
      for (int64_t d = 0; d < type.getRank(); ++d)
        if (type.isDynamicDim(d))
          dynamic.push_back(tensor::DimOp::create(b, loc, arg, d));
      Value empty = tensor::EmptyOp::create(b, loc, type, dynamic);
      Value zero = arith::ConstantOp::create(
          b, loc, b.getFloatAttr(type.getElementType(), 0.0));
      g = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
    }
    results.push_back(g);
  }
  func::ReturnOp::create(b, loc, results);

  // Dead code: rules build every operand cotangent, used or not, and the
  // recomputed segments are cloned whole.
  for (Operation &op :
       llvm::make_early_inc_range(llvm::reverse(entry->getOperations())))
    if (isOpTriviallyDead(&op))
      op.erase();
  return fn;
}

SmallVector<Value> GradientBuilder::getSavedValues() {
  llvm::DenseSet<Operation *> live;
  for (Operation &op : fn.getBody().front())
    live.insert(&op);
  // Forward ops that survived dead-code elimination.
  llvm::DenseSet<Operation *> forwardOps;
  for (Operation *op : forward)
    if (live.contains(op))
      forwardOps.insert(op);
  SmallVector<Value> saved;
  for (Operation *op : forward) {
    if (!forwardOps.contains(op))
      continue;
    for (Value r : op->getResults()) {
      if (!isa<RankedTensorType>(r.getType()))
        continue;
      bool usedBackward = llvm::any_of(r.getUsers(), [&](Operation *user) {
        return !forwardOps.contains(user) && !isa<func::ReturnOp>(user);
      });
      if (usedBackward)
        saved.push_back(r);
    }
  }
  return saved;
}

struct RotorAutodiffPass
    : rotor::impl::RotorAutodiffBase<RotorAutodiffPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto source = module.lookupSymbol<func::FuncOp>(function);
    if (!source || source.isExternal()) {
      module.emitError() << "rotor-autodiff: no function @" << function
                         << " with a body to differentiate";
      return signalPassFailure();
    }
    Checkpoint policy;
    if (checkpoint == "none")
      policy = Checkpoint::None;
    else if (checkpoint == "layers")
      policy = Checkpoint::Layers;
    else {
      module.emitError() << "rotor-autodiff: unknown checkpoint policy '"
                         << checkpoint << "' (expected none or layers)";
      return signalPassFailure();
    }
    std::string name = output.empty() ? function + "_grad" : output;
    if (module.lookupSymbol(name)) {
      module.emitError() << "rotor-autodiff: the module already has a symbol @"
                         << name;
      return signalPassFailure();
    }

    // The differentiated arguments.
    llvm::StringMap<unsigned> byName;
    for (unsigned i = 0; i < source.getNumArguments(); ++i)
      byName[getArgName(source, i)] = i;
    auto checkNames = [&](ArrayRef<std::string> names,
                          StringRef option) -> LogicalResult {
      for (const std::string &n : names)
        if (!byName.count(n))
          return source.emitError()
                 << "rotor-autodiff: " << option << " names '" << n
                 << "', which is not an argument of @" << function;
      return success();
    };
    if (failed(checkNames(wrt, "wrt")) || failed(checkNames(noGrad, "no-grad")))
      return signalPassFailure();
    llvm::StringSet<> excluded;
    for (const std::string &n : noGrad)
      excluded.insert(n);
    SmallVector<unsigned> args;
    if (!wrt.empty()) {
      for (const std::string &n : wrt) {
        unsigned i = byName[n];
        if (!isFloatTensor(source.getArgument(i).getType())) {
          source.emitError() << "rotor-autodiff: argument '" << n
                             << "' is not a float tensor and cannot be "
                                "differentiated";
          return signalPassFailure();
        }
        args.push_back(i);
      }
    } else {
      for (unsigned i = 0; i < source.getNumArguments(); ++i)
        if (isFloatTensor(source.getArgument(i).getType()) &&
            !excluded.contains(getArgName(source, i)))
          args.push_back(i);
    }

    if (seedArgs && lossScale) {
      module.emitError() << "rotor-autodiff: loss-scale applies to a loss "
                            "function, not with seed-args";
      return signalPassFailure();
    }
    GradientBuilder builder(module, source, policy, seedArgs, lossScale);
    FailureOr<func::FuncOp> fn = builder.build(name, args);
    if (failed(fn)) {
      if (auto partial = module.lookupSymbol<func::FuncOp>(name))
        partial.erase();
      return signalPassFailure();
    }
    if (!report)
      return;
    auto describe = [](ArrayRef<Value> saved) {
      int64_t bytes = 0;
      for (Value v : saved)
        bytes += getBytesPerDynamicUnit(v.getType());
      return std::make_pair(static_cast<int64_t>(saved.size()), bytes);
    };
    auto [count, bytes] = describe(builder.getSavedValues());
    llvm::errs() << "rotor-autodiff: @" << name << " (checkpoint="
                 << checkpoint << ") keeps " << count
                 << " forward values for the backward pass: " << bytes
                 << " bytes per unit of the dynamic dimensions\n";
    if (policy != Checkpoint::None) {
      // The same function without checkpointing, for comparison.
      std::string tmpName = name + ".no_checkpoint";
      GradientBuilder plain(module, source, Checkpoint::None, seedArgs,
                            lossScale);
      FailureOr<func::FuncOp> other = plain.build(tmpName, args);
      if (failed(other))
        return signalPassFailure();
      auto [plainCount, plainBytes] = describe(plain.getSavedValues());
      other->erase();
      llvm::errs() << "rotor-autodiff: without checkpointing it would keep "
                   << plainCount << " values, " << plainBytes
                   << " bytes: checkpointing saves "
                   << plainBytes - bytes << " bytes per unit ("
                   << llvm::format("%.1f", plainBytes
                                               ? 100.0 * (plainBytes - bytes) /
                                                     plainBytes
                                               : 0.0)
                   << "%)\n";
    }
  }
};

} // namespace
