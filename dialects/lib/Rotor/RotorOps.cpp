//===- RotorOps.cpp - Verifiers and shape inference of rotor ops ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Verifiers check every static size they are given and defer dynamic ones
// to run time; their messages name the rule and the numbers involved. Shape
// inference is lenient: it only fails when no result type can be formed,
// and leaves the checks to the verifiers so that both the generic and the
// pretty forms report the same diagnostics.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Dialect/Rotor/RotorDiagnostics.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::rotor;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static bool isDyn(int64_t d) { return ShapedType::isDynamic(d); }

/// True when two sizes are both known and differ.
static bool conflict(int64_t a, int64_t b) {
  return !isDyn(a) && !isDyn(b) && a != b;
}

/// A size as text, `?` when dynamic.
static std::string sz(int64_t d) {
  return isDyn(d) ? std::string("?") : std::to_string(d);
}

/// The more static of two compatible sizes.
static int64_t join(int64_t a, int64_t b) { return isDyn(a) ? b : a; }

/// The shape of a type as `AxBx?`.
static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += "x";
    s += sz(d);
  }
  return shape.empty() ? std::string("scalar") : s;
}

static RankedTensorType rankedType(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// The ranked tensor type of an operand during inference, or an error.
static FailureOr<RankedTensorType>
inferOperand(std::optional<Location> loc, Value v, StringRef name,
             std::optional<int64_t> rank = std::nullopt) {
  auto t = rankedType(v);
  if (!t)
    return emitOptionalError(loc, name, " must be a ranked tensor, got ",
                             v.getType());
  if (rank && t.getRank() != *rank)
    return emitOptionalError(loc, name, " must have rank ", *rank, ", got ",
                             t);
  return t;
}

static bool isPositiveFinite(double v) { return std::isfinite(v) && v > 0; }

/// Checks that `operand` (an integer tensor read at run time as a position)
/// holds exactly one element: shape [] or [1].
static LogicalResult verifyOneElement(Operation *op, StringRef what,
                                      Value operand) {
  ArrayRef<int64_t> shape = rankedType(operand).getShape();
  if (shape.empty() || (shape.size() == 1 && shape[0] == 1))
    return success();
  std::string dims;
  for (int64_t d : shape)
    dims += (dims.empty() ? "" : ", ") + sz(d);
  return op->emitOpError() << what
                           << " must hold one integer (shape [] or [1]), got ["
                           << dims << "]";
}

/// Checks that matrix-like operands share the data's element type.
static LogicalResult checkSameElementType(Operation *op, Type expected,
                                          Value operand, StringRef name) {
  Type got = cast<ShapedType>(operand.getType()).getElementType();
  if (got != expected)
    return op->emitOpError() << name << " element type " << got
                             << " differs from the input element type "
                             << expected;
  return success();
}

/// Checks that a 1-D per-feature operand (norm weight, bias) has `n` entries.
static LogicalResult checkFeatureVector(Operation *op, Value operand,
                                        StringRef name, int64_t n,
                                        StringRef what) {
  int64_t got = cast<ShapedType>(operand.getType()).getDimSize(0);
  if (conflict(got, n))
    return op->emitOpError() << name << " has " << got << " entries but "
                             << what << " has " << n;
  return success();
}

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

/// pairs ::= `[` (`(` int `,` int `)` (`,` ...)*)? `]`
static ParseResult parseGivensPairs(OpAsmParser &parser,
                                    DenseI64ArrayAttr &pairs) {
  SmallVector<int64_t> values;
  auto parsePair = [&]() -> ParseResult {
    int64_t i, j;
    if (parser.parseLParen() || parser.parseInteger(i) || parser.parseComma() ||
        parser.parseInteger(j) || parser.parseRParen())
      return failure();
    values.push_back(i);
    values.push_back(j);
    return success();
  };
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, parsePair))
    return failure();
  pairs = DenseI64ArrayAttr::get(parser.getContext(), values);
  return success();
}

static void printGivensPairs(OpAsmPrinter &p, Operation *,
                             DenseI64ArrayAttr pairs) {
  ArrayRef<int64_t> v = pairs.asArrayRef();
  p << "[";
  for (size_t k = 0; k + 1 < v.size(); k += 2) {
    if (k)
      p << ", ";
    p << "(" << v[k] << ", " << v[k + 1] << ")";
  }
  p << "]";
}

#define GET_OP_CLASSES
#include "rotor/Dialect/Rotor/RotorOps.cpp.inc"

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

int64_t RopeOp::getEffectiveRotaryDim() {
  if (auto r = getRotaryDim())
    return static_cast<int64_t>(*r);
  return getInput().getType().getDimSize(3);
}

/// The checks shared by rotor.rope and the fused rope of rotor.attention:
/// `x` is the rotated tensor (B, H, S, D), `what` names it in messages
/// ("" for rotor.rope's input).
static LogicalResult verifyRope(Operation *op, StringRef what,
                                RankedTensorType xType,
                                RankedTensorType posType, bool learnedBase,
                                std::optional<APFloat> base,
                                IntegerAttr rotaryDimAttr,
                                RopeScalingAttr scaling) {
  ArrayRef<int64_t> x = xType.getShape();
  auto err = [&]() { return op->emitOpError() << what; };
  StringRef input = what.empty() ? "the input" : "it";
  if (posType.getRank() != 1 && posType.getRank() != 2)
    return err() << "positions must be (seq) or (batch, seq), got " << posType;
  int64_t posSeq = posType.getDimSize(posType.getRank() - 1);
  if (conflict(posSeq, x[2]))
    return err() << "positions cover " << posSeq << " tokens but " << input
                 << " has a sequence of " << x[2];
  if (posType.getRank() == 2 && conflict(posType.getDimSize(0), x[0]))
    return err() << "positions have a batch of " << posType.getDimSize(0)
                 << " but " << input << " has a batch of " << x[0];
  if (base && learnedBase)
    return op->emitOpError() << "the base is given both as the `base` "
                                "attribute and as a learned_base operand; "
                                "give one";
  if (base && !isPositiveFinite(base->convertToDouble()))
    return op->emitOpError() << "base must be positive and finite, got "
                             << formatNumber(base->convertToDouble());
  int64_t headDim = x[3];
  int64_t rotaryDim = headDim;
  if (rotaryDimAttr) {
    int64_t rd = rotaryDimAttr.getInt();
    rotaryDim = rd;
    if (rd < 0)
      return op->emitOpError() << "rotary_dim must be >= 0, got " << rd;
    if (rd % 2 != 0)
      return op->emitOpError() << "rotary_dim must be even (features rotate "
                                  "in pairs), got "
                               << rd;
    if (!isDyn(headDim) && rd > headDim)
      return op->emitOpError()
             << "rotary_dim " << rd << " exceeds head_dim " << headDim;
  } else if (!isDyn(headDim) && headDim % 2 != 0) {
    return op->emitOpError() << "head_dim " << headDim
                             << " is odd; features rotate in pairs, so give "
                                "an even rotary_dim";
  }
  if (scaling && scaling.getKind() == RopeScalingKind::dynamic_ntk &&
      !isDyn(rotaryDim) && rotaryDim <= 2)
    return op->emitOpError()
           << "dynamic_ntk scaling needs rotary_dim > 2, got " << rotaryDim;
  return success();
}

LogicalResult RopeOp::verify() {
  return verifyRope(*this, "", getInput().getType(), getPositions().getType(),
                    static_cast<bool>(getLearnedBase()), getBase(),
                    getRotaryDimAttr(), getScalingAttr());
}

//===----------------------------------------------------------------------===//
// GivensOp
//===----------------------------------------------------------------------===//

/// The Givens chain `pairs` with `angles` (rank 1) on rows of `dim`
/// features: whole pairs, one angle each, two distinct in-range features.
/// `what` prefixes the messages ("" for rotor.givens).
static LogicalResult verifyGivensChain(Operation *op, StringRef what,
                                       ArrayRef<int64_t> pairs, Value angles,
                                       int64_t dim) {
  if (pairs.size() % 2 != 0)
    return op->emitOpError() << what
                             << "pairs must hold (i, j) index pairs, got an "
                                "odd number ("
                             << pairs.size() << ") of indices";
  int64_t n = pairs.size() / 2;
  int64_t numAngles =
      cast<RankedTensorType>(angles.getType()).getDimSize(0);
  if (conflict(numAngles, n))
    return op->emitOpError() << what << n << " rotations need " << n
                             << " angles, got " << numAngles;
  for (int64_t k = 0; k < n; ++k) {
    int64_t i = pairs[2 * k], j = pairs[2 * k + 1];
    if (i == j)
      return op->emitOpError() << what << "Givens pair " << k
                               << " rotates feature " << i
                               << " against itself";
    for (int64_t idx : {i, j})
      if (idx < 0 || (!isDyn(dim) && idx >= dim))
        return op->emitOpError()
               << what << "Givens pair " << k << " (" << i << ", " << j
               << ") is out of range for a last dimension of " << sz(dim);
  }
  return success();
}

/// rotor.givens and rotor.givens_grad: a chain on the input's last dimension.
template <typename OpTy> static LogicalResult verifyGivensOp(OpTy op) {
  auto type = op.getInput().getType();
  if (type.getRank() < 1)
    return op.emitOpError() << "input must have at least one dimension";
  return verifyGivensChain(op, "", op.getPairs(), op.getAngles(),
                           type.getDimSize(type.getRank() - 1));
}

LogicalResult GivensOp::verify() { return verifyGivensOp(*this); }

LogicalResult GivensGradOp::verify() { return verifyGivensOp(*this); }

//===----------------------------------------------------------------------===//
// RotateOp
//===----------------------------------------------------------------------===//

LogicalResult RotateOp::verify() {
  auto type = getInput().getType();
  if (type.getRank() < 1)
    return emitOpError() << "input must have at least one dimension";
  ArrayRef<int64_t> r = getRotation().getType().getShape();
  if (conflict(r[0], r[1]))
    return emitOpError() << "rotation matrix must be square, got "
                         << shapeStr(r);
  int64_t dim = type.getDimSize(type.getRank() - 1);
  if (conflict(join(r[0], r[1]), dim))
    return emitOpError() << "rotation matrix is " << shapeStr(r)
                         << " but the last dimension of the input is " << dim;
  return checkSameElementType(*this, type.getElementType(), getRotation(),
                              "rotation");
}

//===----------------------------------------------------------------------===//
// SinusoidalEmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult SinusoidalEmbeddingOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto pos = inferOperand(loc, adaptor.getPositions(), "positions");
  auto freqs = inferOperand(loc, adaptor.getFreqs(), "freqs", 1);
  if (failed(pos) || failed(freqs))
    return failure();
  SmallVector<int64_t> shape(pos->getShape());
  int64_t f = freqs->getDimSize(0);
  shape.push_back(isDyn(f) ? f : 2 * f);
  results.push_back(RankedTensorType::get(shape, freqs->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

double AttentionOp::getEffectiveScale() {
  if (auto s = getScale())
    return s->convertToDouble();
  int64_t d = getQuery().getType().getDimSize(3);
  return isDyn(d) ? 1.0 : 1.0 / std::sqrt(static_cast<double>(d));
}

MaskAttr AttentionOp::getEffectiveMask() {
  if (auto m = getMaskAttr())
    return m;
  return MaskAttr::get(getContext(), /*causal=*/false, std::nullopt,
                       std::nullopt, /*dilation=*/1, std::nullopt,
                       /*global=*/0);
}

/// The f32 (f64 for f64 data) type of the log-sum-exp.
static Type lseElementType(Type data) {
  return data.isF64() ? data : Float32Type::get(data.getContext());
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto q = inferOperand(loc, adaptor.getQuery(), "query", 4);
  auto v = inferOperand(loc, adaptor.getValue(), "value", 4);
  if (failed(q) || failed(v))
    return failure();
  ArrayRef<int64_t> qs = q->getShape();
  results.push_back(RankedTensorType::get(
      {qs[0], qs[1], qs[2], v->getDimSize(3)}, q->getElementType()));
  if (adaptor.getReturnLse())
    results.push_back(RankedTensorType::get(
        {qs[0], qs[1], qs[2]}, lseElementType(q->getElementType())));
  return success();
}

LogicalResult AttentionOp::verify() {
  auto qt = getQuery().getType(), kt = getKey().getType(),
       vt = getValue().getType();
  if (kt.getElementType() != qt.getElementType() ||
      vt.getElementType() != qt.getElementType())
    return emitOpError() << "query, key and value must share an element type, "
                            "got "
                         << qt.getElementType() << ", " << kt.getElementType()
                         << " and " << vt.getElementType();
  ArrayRef<int64_t> q = qt.getShape(), k = kt.getShape(), v = vt.getShape();
  if (conflict(q[0], k[0]) || conflict(q[0], v[0]) || conflict(k[0], v[0]))
    return emitOpError() << "batch sizes differ: query " << sz(q[0])
                         << ", key " << sz(k[0]) << ", value " << sz(v[0]);
  if (conflict(k[1], v[1]))
    return emitOpError() << "key has " << k[1] << " heads but value has "
                         << v[1];
  int64_t hkv = join(k[1], v[1]);
  if (hkv == 0)
    return emitOpError() << "there must be at least one key/value head";
  if (!isDyn(q[1]) && !isDyn(hkv) && q[1] % hkv != 0)
    return emitOpError() << q[1] << " query heads are not divisible by " << hkv
                         << " key/value heads";
  if (conflict(q[3], k[3]))
    return emitOpError() << "query head_dim " << q[3]
                         << " differs from key head_dim " << k[3];
  if (conflict(k[2], v[2]))
    return emitOpError() << "key has " << k[2] << " positions but value has "
                         << v[2];
  if (auto s = getScale(); s && !isPositiveFinite(s->convertToDouble()))
    return emitOpError() << "scale must be positive and finite, got "
                         << formatNumber(s->convertToDouble());
  if (auto c = getSoftcap(); c && !isPositiveFinite(c->convertToDouble()))
    return emitOpError() << "softcap must be positive and finite, got "
                         << formatNumber(c->convertToDouble());
  if (Value bias = getBias()) {
    ArrayRef<int64_t> b = cast<RankedTensorType>(bias.getType()).getShape();
    if (conflict(b[0], q[1]))
      return emitOpError() << "relative position bias table has " << b[0]
                           << " rows but there are " << q[1]
                           << " query heads";
    if (b[1] == 0)
      return emitOpError() << "relative position bias table has no buckets";
    int64_t maxDistance = getBiasMaxDistanceAttr().getInt();
    if (maxDistance < 1)
      return emitOpError() << "bias_max_distance must be >= 1, got "
                           << maxDistance;
  }
  if (getReturnLse() != static_cast<bool>(getLse()))
    return emitOpError() << (getReturnLse()
                                 ? "return_lse is set but there is no lse "
                                   "result"
                                 : "an lse result needs return_lse");
  if (failed(verifyQueryRotation()))
    return failure();
  if (Value start = getQueryStart())
    if (failed(verifyOneElement(*this, "query_start", start)))
      return failure();
  if (!hasRope()) {
    if (getRopeLayoutAttr() || getRopeRotaryDimAttr() || getRopeBaseAttr() ||
        getRopeScalingAttr() || getRopeLearnedBase())
      return emitOpError() << "rope attributes and rope_learned_base need "
                              "query_positions or key_positions (rope_q or "
                              "rope_k)";
    return success();
  }
  // Both sides share the rope parameters (query and key head dimensions
  // are equal when both are static).
  std::pair<StringRef, Value> sides[] = {{"query ", getQuery()},
                                         {"key ", getKey()}};
  Value positions[] = {getQueryPositions(), getKeyPositions()};
  for (auto [side, pos] : llvm::zip(sides, positions))
    if (pos && failed(verifyRope(*this, side.first,
                                 cast<RankedTensorType>(side.second.getType()),
                                 cast<RankedTensorType>(pos.getType()),
                                 static_cast<bool>(getRopeLearnedBase()),
                                 getRopeBase(), getRopeRotaryDimAttr(),
                                 getRopeScalingAttr())))
      return failure();
  return success();
}

LogicalResult AttentionOp::verifyQueryRotation() {
  auto qt = getQuery().getType();
  int64_t dim = qt.getDimSize(3);
  if (Value angles = getQueryGivensAngles()) {
    if (!getGivensQPairsAttr())
      return emitOpError() << "query_givens_angles (givens_q) needs "
                              "givens_q_pairs";
    if (failed(verifyGivensChain(*this, "givens_q: ", *getGivensQPairs(),
                                 angles, dim)))
      return failure();
  } else if (getGivensQPairsAttr()) {
    return emitOpError() << "givens_q_pairs needs query_givens_angles "
                            "(givens_q)";
  }
  if (Value r = getQueryRotation()) {
    ArrayRef<int64_t> shape = cast<RankedTensorType>(r.getType()).getShape();
    if (conflict(shape[0], shape[1]) || conflict(join(shape[0], shape[1]), dim))
      return emitOpError() << "rotate_q: the rotation matrix is "
                           << shapeStr(shape)
                           << " but the query head dimension is " << sz(dim);
    if (failed(checkSameElementType(*this, qt.getElementType(), r,
                                    "query_rotation")))
      return failure();
  }
  return success();
}

LogicalResult CacheWriteOp::verify() {
  auto ut = getUpdate().getType(), ct = getCache().getType();
  if (ut.getElementType() != ct.getElementType())
    return emitOpError() << "update has element type " << ut.getElementType()
                         << " but the cache has " << ct.getElementType();
  if (ut.getRank() != ct.getRank())
    return emitOpError() << "update has rank " << ut.getRank()
                         << " but the cache has rank " << ct.getRank();
  int64_t axis = getAxis();
  if (axis < 0 || axis >= ct.getRank())
    return emitOpError() << "axis " << axis << " is out of range for a rank-"
                         << ct.getRank() << " cache";
  ArrayRef<int64_t> u = ut.getShape(), c = ct.getShape();
  for (int64_t d = 0; d < ct.getRank(); ++d) {
    if (d == axis)
      continue;
    if (conflict(u[d], c[d]))
      return emitOpError() << "update is " << shapeStr(u) << " but the cache is "
                           << shapeStr(c) << ": dimension " << d
                           << " must match (only axis " << axis
                           << " may differ)";
  }
  if (!isDyn(u[axis]) && !isDyn(c[axis]) && u[axis] > c[axis])
    return emitOpError() << "update has " << u[axis]
                         << " rows along axis " << axis
                         << " but the cache holds only " << c[axis];
  return verifyOneElement(*this, "start", getStart());
}

OpFoldResult CacheWriteOp::fold(FoldAdaptor) {
  // Writing no rows leaves the cache as it is.
  int64_t axis = getAxis();
  auto ut = getUpdate().getType();
  if (axis >= 0 && axis < ut.getRank() && ut.getDimSize(axis) == 0)
    return getCache();
  return {};
}

int64_t AttentionOp::getEffectiveRopeRotaryDim() {
  if (auto r = getRopeRotaryDim())
    return static_cast<int64_t>(*r);
  return getQuery().getType().getDimSize(3);
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

/// The type of x · Wᵀ: x's shape with the last dimension replaced by W's
/// row count.
static LogicalResult inferLinearResult(std::optional<Location> loc, Value input,
                                       Value weight,
                                       SmallVectorImpl<Type> &results) {
  auto x = inferOperand(loc, input, "input");
  auto w = inferOperand(loc, weight, "weight", 2);
  if (failed(x) || failed(w))
    return failure();
  if (x->getRank() < 1)
    return emitOptionalError(loc, "input must have at least one dimension");
  SmallVector<int64_t> shape(x->getShape());
  shape.back() = w->getDimSize(0);
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

/// The rules of x · Wᵀ + bias, shared by linear and its fused forms.
static LogicalResult verifyLinearLike(Operation *op, RankedTensorType xt,
                                      Value weight, Value bias,
                                      StringRef weightName = "weight") {
  ArrayRef<int64_t> w = cast<RankedTensorType>(weight.getType()).getShape();
  int64_t k = xt.getDimSize(xt.getRank() - 1);
  if (conflict(k, w[1]))
    return op->emitOpError() << "input has " << k << " features but the "
                             << weightName << " expects " << w[1] << " ("
                             << weightName << " is " << shapeStr(w) << ")";
  if (failed(checkSameElementType(op, xt.getElementType(), weight,
                                  weightName)))
    return failure();
  if (bias) {
    if (failed(checkFeatureVector(op, bias, "bias", w[0],
                                  "the weight's output dimension")) ||
        failed(checkSameElementType(op, xt.getElementType(), bias, "bias")))
      return failure();
  }
  return success();
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  return inferLinearResult(loc, adaptor.getInput(), adaptor.getWeight(),
                           results);
}

LogicalResult LinearOp::verify() {
  return verifyLinearLike(*this, getInput().getType(), getWeight(), getBias());
}

static LogicalResult verifyNorm(Operation *op, RankedTensorType input,
                                Value weight, Value bias, double epsilon,
                                StringRef weightName = "weight");

/// The RMS-norm prologue of fused_linear and fused_gate_up: a weight and an
/// epsilon, both or neither, with the rules of rotor.rms_norm.
static LogicalResult verifyNormPrologue(Operation *op, RankedTensorType input,
                                        Value normWeight,
                                        std::optional<llvm::APFloat> epsilon) {
  if (!normWeight && !epsilon)
    return success();
  if (!normWeight || !epsilon)
    return op->emitOpError()
           << "rms_norm weight and norm_epsilon go together; got only the "
           << (normWeight ? "weight" : "epsilon");
  return verifyNorm(op, input, normWeight, Value(),
                    epsilon->convertToDouble(), "rms_norm weight");
}

LogicalResult FusedLinearOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &results) {
  return inferLinearResult(loc, adaptor.getInput(), adaptor.getWeight(),
                           results);
}

LogicalResult FusedLinearOp::verify() {
  if (failed(verifyLinearLike(*this, getInput().getType(), getWeight(),
                              getBias())))
    return failure();
  if (Value r = getResidual()) {
    auto rt = cast<RankedTensorType>(r.getType());
    if (rt != getType())
      return emitOpError() << "residual type " << rt
                           << " differs from the result type " << getType();
  }
  return verifyNormPrologue(*this, getInput().getType(), getNormWeight(),
                            getNormEpsilon());
}

LogicalResult FusedGateUpOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &results) {
  return inferLinearResult(loc, adaptor.getInput(), adaptor.getGateWeight(),
                           results);
}

LogicalResult FusedGateUpOp::verify() {
  auto xt = getInput().getType();
  if (failed(verifyLinearLike(*this, xt, getGateWeight(), Value(),
                              "gate_weight")) ||
      failed(verifyLinearLike(*this, xt, getUpWeight(), Value(), "up_weight")))
    return failure();
  auto g = getGateWeight().getType().getShape();
  auto u = getUpWeight().getType().getShape();
  if (conflict(g[0], u[0]))
    return emitOpError() << "gate_weight has " << g[0]
                         << " output features but up_weight has " << u[0];
  return verifyNormPrologue(*this, xt, getNormWeight(), getNormEpsilon());
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto ids = inferOperand(loc, adaptor.getIds(), "ids");
  auto table = inferOperand(loc, adaptor.getTable(), "table", 2);
  if (failed(ids) || failed(table))
    return failure();
  SmallVector<int64_t> shape(ids->getShape());
  shape.push_back(table->getDimSize(1));
  results.push_back(RankedTensorType::get(shape, table->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Conv1dOp
//===----------------------------------------------------------------------===//

LogicalResult Conv1dOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto x = inferOperand(loc, adaptor.getInput(), "input", 3);
  auto w = inferOperand(loc, adaptor.getWeight(), "weight", 3);
  if (failed(x) || failed(w))
    return failure();
  results.push_back(RankedTensorType::get(
      {x->getDimSize(0), x->getDimSize(1), w->getDimSize(0)},
      x->getElementType()));
  return success();
}

LogicalResult Conv1dOp::verify() {
  ArrayRef<int64_t> x = getInput().getType().getShape();
  ArrayRef<int64_t> w = getWeight().getType().getShape();
  int64_t groups = getGroupsAttr().getInt();
  if (groups < 1)
    return emitOpError() << "groups must be >= 1, got " << groups;
  int64_t cin = x[2], cout = w[0];
  if (!isDyn(cin) && cin % groups != 0)
    return emitOpError() << cin << " input channels are not divisible by "
                         << groups << " groups";
  if (!isDyn(cout) && cout % groups != 0)
    return emitOpError() << cout << " output channels are not divisible by "
                         << groups << " groups";
  if (!isDyn(cin) && conflict(w[1], cin / groups))
    return emitOpError() << "weight has " << w[1]
                         << " input channels per group but " << cin
                         << " channels in " << groups << " groups need "
                         << cin / groups;
  if (w[2] == 0)
    return emitOpError() << "kernel size must be >= 1, got 0";
  if (failed(checkSameElementType(*this, getInput().getType().getElementType(),
                                  getWeight(), "weight")))
    return failure();
  if (Value b = getBias())
    return checkFeatureVector(*this, b, "bias", cout, "the output channels");
  return success();
}

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

static LogicalResult verifyNorm(Operation *op, RankedTensorType input,
                                Value weight, Value bias, double epsilon,
                                StringRef weightName) {
  if (input.getRank() < 1)
    return op->emitOpError() << "input must have at least one dimension";
  if (!std::isfinite(epsilon) || epsilon < 0)
    return op->emitOpError() << "epsilon must be >= 0 and finite, got "
                             << formatNumber(epsilon);
  int64_t h = input.getDimSize(input.getRank() - 1);
  for (auto [v, name] :
       {std::pair{weight, weightName}, std::pair{bias, StringRef("bias")}}) {
    if (!v)
      continue;
    if (failed(checkFeatureVector(op, v, name, h,
                                  "the input's last dimension")) ||
        failed(checkSameElementType(op, input.getElementType(), v, name)))
      return failure();
  }
  return success();
}

LogicalResult RmsNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getWeight(), Value(),
                    getEpsilon().convertToDouble());
}

LogicalResult LayerNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getWeight(), getBias(),
                    getEpsilon().convertToDouble());
}

LogicalResult L2NormalizeOp::verify() {
  return verifyNorm(*this, getInput().getType(), Value(), Value(),
                    getEpsilon().convertToDouble());
}

//===----------------------------------------------------------------------===//
// Binary elementwise ops
//===----------------------------------------------------------------------===//

static LogicalResult inferBroadcast(std::optional<Location> loc, Value lhs,
                                    Value rhs,
                                    SmallVectorImpl<Type> &results) {
  auto l = inferOperand(loc, lhs, "lhs");
  auto r = inferOperand(loc, rhs, "rhs");
  if (failed(l) || failed(r))
    return failure();
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(l->getShape(), r->getShape(), shape))
    return emitOptionalError(loc, "operand shapes ", shapeStr(l->getShape()),
                             " and ", shapeStr(r->getShape()),
                             " do not broadcast");
  results.push_back(RankedTensorType::get(shape, l->getElementType()));
  return success();
}

static LogicalResult verifyBinary(Operation *op, Value lhs, Value rhs) {
  Type lt = cast<ShapedType>(lhs.getType()).getElementType();
  Type rt = cast<ShapedType>(rhs.getType()).getElementType();
  if (lt != rt)
    return op->emitOpError() << "operands must share an element type, got "
                             << lt << " and " << rt;
  SmallVector<int64_t> shape;
  auto ls = cast<ShapedType>(lhs.getType()).getShape();
  auto rs = cast<ShapedType>(rhs.getType()).getShape();
  if (!OpTrait::util::getBroadcastedShape(ls, rs, shape))
    return op->emitOpError() << "operand shapes " << shapeStr(ls) << " and "
                             << shapeStr(rs) << " do not broadcast";
  return success();
}

LogicalResult AddOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &results) {
  return inferBroadcast(loc, adaptor.getLhs(), adaptor.getRhs(), results);
}
LogicalResult AddOp::verify() { return verifyBinary(*this, getLhs(), getRhs()); }

LogicalResult MulOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &results) {
  return inferBroadcast(loc, adaptor.getLhs(), adaptor.getRhs(), results);
}
LogicalResult MulOp::verify() { return verifyBinary(*this, getLhs(), getRhs()); }

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

int64_t SoftmaxOp::getNormalizedAxis() {
  int64_t axis = getAxisAttr().getInt();
  return axis < 0 ? axis + getInput().getType().getRank() : axis;
}

LogicalResult SoftmaxOp::verify() {
  int64_t rank = getInput().getType().getRank();
  int64_t axis = getAxisAttr().getInt();
  if (axis < -rank || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range for rank "
                         << rank;
  return success();
}

//===----------------------------------------------------------------------===//
// SplitHeadsOp / MergeHeadsOp
//===----------------------------------------------------------------------===//

LogicalResult SplitHeadsOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  auto x = inferOperand(loc, adaptor.getInput(), "input", 3);
  if (failed(x))
    return failure();
  int64_t heads = adaptor.getNumHeads();
  if (heads < 1)
    return emitOptionalError(loc, "num_heads must be >= 1, got ", heads);
  int64_t f = x->getDimSize(2);
  int64_t headDim = isDyn(f) ? f : f / heads;
  results.push_back(RankedTensorType::get(
      {x->getDimSize(0), heads, x->getDimSize(1), headDim},
      x->getElementType()));
  return success();
}

LogicalResult SplitHeadsOp::verify() {
  int64_t heads = getNumHeadsAttr().getInt();
  int64_t f = getInput().getType().getDimSize(2);
  if (!isDyn(f) && f % heads != 0)
    return emitOpError() << f << " features are not divisible by " << heads
                         << " heads";
  return success();
}

LogicalResult MergeHeadsOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  auto x = inferOperand(loc, adaptor.getInput(), "input", 4);
  if (failed(x))
    return failure();
  ArrayRef<int64_t> s = x->getShape();
  int64_t f = isDyn(s[1]) || isDyn(s[3]) ? ShapedType::kDynamic : s[1] * s[3];
  results.push_back(
      RankedTensorType::get({s[0], s[2], f}, x->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// CrossEntropyOp
//===----------------------------------------------------------------------===//

LogicalResult CrossEntropyOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto logits = inferOperand(loc, adaptor.getLogits(), "logits");
  if (failed(logits))
    return failure();
  results.push_back(
      RankedTensorType::get({}, lseElementType(logits->getElementType())));
  return success();
}

/// cross_entropy and cross_entropy_grad: labels have the logits' shape
/// without the class dimension.
static LogicalResult verifyLabels(Operation *op, ArrayRef<int64_t> logits,
                                  ArrayRef<int64_t> labels) {
  if (logits.empty())
    return op->emitOpError() << "logits must have a class dimension";
  if (labels.size() + 1 != logits.size())
    return op->emitOpError()
           << "labels must have the shape of the logits without their class "
              "dimension: logits are "
           << shapeStr(logits) << ", labels are " << shapeStr(labels);
  for (auto [i, d] : llvm::enumerate(labels))
    if (conflict(d, logits[i]))
      return op->emitOpError() << "labels dimension " << i << " is " << d
                               << " but logits dimension " << i << " is "
                               << logits[i];
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  return verifyLabels(*this, getLogits().getType().getShape(),
                      getLabels().getType().getShape());
}

//===----------------------------------------------------------------------===//
// Backward ops
//===----------------------------------------------------------------------===//

LogicalResult LinearWeightGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto g = inferOperand(loc, adaptor.getGrad(), "grad");
  auto x = inferOperand(loc, adaptor.getInput(), "input");
  if (failed(g) || failed(x))
    return failure();
  if (g->getRank() == 0 || x->getRank() == 0)
    return emitOptionalError(loc, "grad and input must have rank >= 1");
  results.push_back(RankedTensorType::get(
      {g->getShape().back(), x->getShape().back()}, g->getElementType()));
  return success();
}

LogicalResult LinearWeightGradOp::verify() {
  ArrayRef<int64_t> g = getGrad().getType().getShape();
  ArrayRef<int64_t> x = getInput().getType().getShape();
  if (failed(checkSameElementType(*this, getGrad().getType().getElementType(),
                                  getInput(), "input")))
    return failure();
  if (g.size() != x.size())
    return emitOpError() << "grad and input must have the same rank, got "
                         << shapeStr(g) << " and " << shapeStr(x);
  for (size_t i = 0; i + 1 < g.size(); ++i)
    if (conflict(g[i], x[i]))
      return emitOpError() << "leading dimension " << i << " is " << g[i]
                           << " in grad but " << x[i] << " in input";
  return success();
}

LogicalResult CrossEntropyGradOp::verify() {
  if (failed(verifyLabels(*this, getLogits().getType().getShape(),
                          getLabels().getType().getShape())))
    return failure();
  Type expected = lseElementType(getLogits().getType().getElementType());
  if (getGradLoss().getType().getElementType() != expected)
    return emitOpError() << "grad_loss must have the loss element type "
                         << expected << ", got "
                         << getGradLoss().getType().getElementType();
  return success();
}

LogicalResult RmsNormGradOp::verify() {
  return verifyNorm(*this, getInput().getType(), getWeight(), Value(),
                    getEpsilon().convertToDouble());
}

LogicalResult EmbeddingGradOp::verify() {
  ArrayRef<int64_t> ids = getIds().getType().getShape();
  ArrayRef<int64_t> grad = getGrad().getType().getShape();
  ArrayRef<int64_t> table = getResult().getType().getShape();
  if (grad.size() != ids.size() + 1)
    return emitOpError() << "grad must have the shape of the ids plus a "
                            "feature dimension: ids are "
                         << shapeStr(ids) << ", grad is " << shapeStr(grad);
  for (auto [i, d] : llvm::enumerate(ids))
    if (conflict(d, grad[i]))
      return emitOpError() << "ids dimension " << i << " is " << d
                           << " but grad dimension " << i << " is " << grad[i];
  if (isDyn(table[0]))
    return emitOpError() << "the result must have a static number of rows "
                            "(the vocabulary size)";
  if (conflict(table[1], grad.back()))
    return emitOpError() << "the result has " << table[1]
                         << " features but grad has " << grad.back();
  return checkSameElementType(*this, getGrad().getType().getElementType(),
                              getResult(), "result");
}

int64_t RopeBaseGradOp::getEffectiveRotaryDim() {
  if (auto r = getRotaryDim())
    return static_cast<int64_t>(*r);
  return getInput().getType().getDimSize(3);
}

LogicalResult RopeBaseGradOp::verify() {
  auto posType = getPositions().getType();
  if (posType.getRank() != 1 && posType.getRank() != 2)
    return emitOpError() << "positions must be (seq) or (batch, seq), got "
                         << posType;
  int64_t rd = getEffectiveRotaryDim();
  if (isDyn(rd))
    return emitOpError() << "needs a static head_dim or rotary_dim";
  if (rd % 2 != 0 || rd < 0 || rd > getInput().getType().getDimSize(3))
    return emitOpError() << "rotary_dim " << rd
                         << " must be even and within head_dim";
  if (auto scaling = getScalingAttr())
    if (scaling.getKind() == RopeScalingKind::yarn ||
        scaling.getKind() == RopeScalingKind::llama3)
      return emitOpError()
             << "the gradient of a learned base is defined without scaling "
                "and with linear or dynamic_ntk scaling, not with "
             << stringifyRopeScalingKind(scaling.getKind());
  return success();
}

double AttentionGradOp::getEffectiveScale() {
  if (auto s = getScale())
    return s->convertToDouble();
  int64_t d = getQuery().getType().getDimSize(3);
  return isDyn(d) ? 1.0 : 1.0 / std::sqrt(static_cast<double>(d));
}

MaskAttr AttentionGradOp::getEffectiveMask() {
  if (auto m = getMaskAttr())
    return m;
  return MaskAttr::get(getContext(), /*causal=*/false, std::nullopt,
                       std::nullopt, /*dilation=*/1, std::nullopt,
                       /*global=*/0);
}

LogicalResult AttentionGradOp::verify() {
  ArrayRef<int64_t> q = getQuery().getType().getShape();
  ArrayRef<int64_t> k = getKey().getType().getShape();
  ArrayRef<int64_t> v = getValue().getType().getShape();
  ArrayRef<int64_t> o = getOutput().getType().getShape();
  ArrayRef<int64_t> lse = getLse().getType().getShape();
  Type elem = getQuery().getType().getElementType();
  for (auto [name, value] : {std::pair<StringRef, Value>{"key", getKey()},
                             {"value", getValue()},
                             {"output", getOutput()},
                             {"grad", getGrad()}})
    if (failed(checkSameElementType(*this, elem, value, name)))
      return failure();
  if (getGrad().getType() != getOutput().getType())
    return emitOpError() << "grad must have the type of output, got "
                         << getGrad().getType() << " and "
                         << getOutput().getType();
  int64_t expected[] = {q[0], q[1], q[2], v[3]};
  for (int i = 0; i < 4; ++i)
    if (conflict(o[i], expected[i]))
      return emitOpError() << "output must be (batch, query heads, queries, "
                              "value head_dim) = "
                           << shapeStr(expected) << ", got " << shapeStr(o);
  for (int i = 0; i < 3; ++i)
    if (conflict(lse[i], q[i]))
      return emitOpError() << "lse must be (batch, query heads, queries) = "
                           << shapeStr(q.take_front(3)) << ", got "
                           << shapeStr(lse);
  if (getLse().getType().getElementType() != lseElementType(elem))
    return emitOpError() << "lse must have element type "
                         << lseElementType(elem);
  if (conflict(k[2], v[2]) || conflict(k[1], v[1]))
    return emitOpError() << "key " << shapeStr(k) << " and value "
                         << shapeStr(v) << " differ in heads or positions";
  if (!isDyn(q[1]) && !isDyn(k[1]) && (k[1] == 0 || q[1] % k[1] != 0))
    return emitOpError() << q[1] << " query heads are not divisible by "
                         << k[1] << " key/value heads";
  if (conflict(q[3], k[3]))
    return emitOpError() << "query head_dim " << q[3]
                         << " differs from key head_dim " << k[3];
  if (static_cast<bool>(getBias()) != static_cast<bool>(getBiasGrad()))
    return emitOpError() << "has a bias cotangent exactly when it has a bias";
  return success();
}
