//===- ModelBuilder.cpp - Rotor IR of a whole decoder model ---------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The module has one private function per distinct layer kind (attention
// mask), `@layer_<kind>`, and three entry points that call it once per layer:
//
//   @layer_K(x, positions, past_k, past_v, [conv_state], layer weights...)
//       -> (x', k, v, [conv_state'])
//
// A layer appends its new keys and values to the past ones (tensor.concat
// along the sequence) and attends over all of them, the queries aligned to the
// end of the keys; `forward` and `prefill` pass empty pasts, `decode` the
// caches. One layer function therefore serves all three entries, and the IR
// grows with the number of layers only by the calls.
//
// With ModelBuildOptions::staticCache, a fourth entry `decode_static` calls
// `@layer_<kind>_static(x, positions, start, k_cache, v_cache, [conv_state],
// layer weights...)`, which writes the new key and value into fixed-capacity
// caches at `start` (rotor.cache_write) and attends over their first
// start + 1 rows (rotor.attention query_start): its shapes stay the same
// from step to step.
//
// Two attributes are for LLVM's sake. The layer functions get internal
// linkage, so that LLVM can drop the memref descriptor fields they do not
// use from their signatures. The entries, whose LLVM signatures have one
// scalar per descriptor field of every weight (thousands for a real model),
// are `always_inline` and internal: they are inlined into their C-interface
// wrappers instead of being called with thousands of arguments, which LLVM's
// code generator handles very slowly. docs/model-artifacts.md documents the
// entries.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/ModelBuilder.h"

#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

using namespace mlir;
using namespace mlir::rotor;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;
constexpr llvm::StringLiteral kNameAttr = "rotor.name";

/// The weights of one layer, named without the "model.layers.N." prefix, in
/// argument order.
std::vector<WeightSpec> getLayerWeights(const ModelConfig &c) {
  const int64_t h = c.hiddenSize, d = c.headDim;
  const int64_t qDim = c.numHeads * d, kvDim = c.numKvHeads * d;
  std::vector<WeightSpec> w;
  auto add = [&](llvm::StringRef name, std::vector<int64_t> shape,
                 ModelDType dtype) {
    w.push_back(WeightSpec{name.str(), std::move(shape), dtype});
  };
  const ModelDType dt = c.dtype;
  bool layerNorm = c.norm == ModelNorm::Layer;
  add("input_layernorm.weight", {h}, dt);
  if (layerNorm)
    add("input_layernorm.bias", {h}, dt);
  if (c.convKernelSize)
    add("self_attn.conv.weight", {h, 1, *c.convKernelSize}, dt);
  add("self_attn.q_proj.weight", {qDim, h}, dt);
  if (c.qkvBias)
    add("self_attn.q_proj.bias", {qDim}, dt);
  add("self_attn.k_proj.weight", {kvDim, h}, dt);
  if (c.qkvBias)
    add("self_attn.k_proj.bias", {kvDim}, dt);
  add("self_attn.v_proj.weight", {kvDim, h}, dt);
  if (c.qkvBias)
    add("self_attn.v_proj.bias", {kvDim}, dt);
  add("self_attn.o_proj.weight", {h, qDim}, dt);
  if (c.oBias)
    add("self_attn.o_proj.bias", {h}, dt);
  // Position parameters stay f32: bf16 cannot hold a base of 10000 exactly.
  if (c.learnableRopeBase)
    add("self_attn.rope.base", {}, ModelDType::F32);
  if (c.givens) {
    add("self_attn.givens.angles",
        {static_cast<int64_t>(c.givens->pairs.size())}, dt);
    if (c.givens->learnedRotation)
      add("self_attn.rotation.weight", {d, d}, dt);
  }
  if (c.relativeBias)
    add("self_attn.relative_bias.weight",
        {c.numHeads, c.relativeBias->numBuckets}, dt);
  add("post_attention_layernorm.weight", {h}, dt);
  if (layerNorm)
    add("post_attention_layernorm.bias", {h}, dt);
  add("mlp.gate_proj.weight", {c.intermediateSize, h}, dt);
  if (c.mlpBias)
    add("mlp.gate_proj.bias", {c.intermediateSize}, dt);
  add("mlp.up_proj.weight", {c.intermediateSize, h}, dt);
  if (c.mlpBias)
    add("mlp.up_proj.bias", {c.intermediateSize}, dt);
  add("mlp.down_proj.weight", {h, c.intermediateSize}, dt);
  if (c.mlpBias)
    add("mlp.down_proj.bias", {h}, dt);
  return w;
}

/// The weights before the layers.
std::vector<WeightSpec> getHeadWeights(const ModelConfig &c) {
  std::vector<WeightSpec> w;
  w.push_back(
      {"model.embed_tokens.weight", {c.vocabSize, c.hiddenSize}, c.dtype});
  if (c.sinusoidal) {
    int64_t f = c.sinusoidal->numFrequencies;
    w.push_back({"model.embed_positions.frequencies", {f}, ModelDType::F32});
    w.push_back(
        {"model.embed_positions.proj.weight", {c.hiddenSize, 2 * f}, c.dtype});
  }
  return w;
}

/// The weights after the layers.
std::vector<WeightSpec> getTailWeights(const ModelConfig &c) {
  std::vector<WeightSpec> w;
  w.push_back({"model.norm.weight", {c.hiddenSize}, c.dtype});
  if (c.norm == ModelNorm::Layer)
    w.push_back({"model.norm.bias", {c.hiddenSize}, c.dtype});
  if (!c.tieWordEmbeddings)
    w.push_back({"lm_head.weight", {c.vocabSize, c.hiddenSize}, c.dtype});
  return w;
}

enum class EntryKind { Forward, Prefill, Decode, DecodeStatic };

/// Builds the module; see the file comment for its structure.
class ModelIRBuilder {
public:
  ModelIRBuilder(MLIRContext *ctx, const ModelConfig &config,
                 const ModelBuildOptions &options)
      : c(config), options(options), ctx(ctx), b(ctx),
        loc(NameLoc::get(StringAttr::get(ctx, config.fileName))) {
    dt = getElementType(c.dtype);
    hiddenType = RankedTensorType::get({kDyn, kDyn, c.hiddenSize}, dt);
    // A static-cache step has one token: static sizes let the targets pick
    // their decoding kernels.
    stepHiddenType = RankedTensorType::get({kDyn, 1, c.hiddenSize}, dt);
    cacheType =
        RankedTensorType::get({kDyn, c.numKvHeads, kDyn, c.headDim}, dt);
    positionsType = RankedTensorType::get({kDyn}, b.getI64Type());
    startType = RankedTensorType::get({1}, b.getI64Type());
    if (c.convKernelSize)
      convStateType = RankedTensorType::get(
          {kDyn, *c.convKernelSize - 1, c.hiddenSize}, dt);
    layerWeights = getLayerWeights(c);
    headWeights = getHeadWeights(c);
    tailWeights = getTailWeights(c);
  }

  OwningOpRef<ModuleOp> build();

private:
  Type getElementType(ModelDType dtype) {
    switch (dtype) {
    case ModelDType::F32:
      return b.getF32Type();
    case ModelDType::BF16:
      return b.getBF16Type();
    case ModelDType::F16:
      return b.getF16Type();
    }
    return b.getF32Type();
  }
  RankedTensorType getWeightType(const WeightSpec &w) {
    return RankedTensorType::get(w.shape, getElementType(w.dtype));
  }

  MaskAttr getMask(const LayerAttention &a);
  RopeScalingAttr getRopeScaling();
  Value norm(Value x, Value weight, Value bias);
  /// Gives `fn` internal linkage in LLVM, so that LLVM may drop the
  /// descriptor fields it does not use from its signature.
  void setInternalLinkage(func::FuncOp fn) {
    fn->setAttr("llvm.linkage",
                LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
  }
  /// Calls `add` for each cache (k, v per layer, then the convolution
  /// states) with its type and name.
  void addCaches(llvm::function_ref<void(Type, const llvm::Twine &)> add);
  /// Calls `add` for each weight with its type and name.
  void addWeights(llvm::function_ref<void(Type, const llvm::Twine &)> add);
  /// The layer function; `staticCache`: the `_static` variant writing into
  /// fixed-capacity caches at its `start` argument.
  func::FuncOp buildLayerFunction(llvm::StringRef name,
                                  const LayerAttention &attention,
                                  bool staticCache);
  void buildEntry(EntryKind kind);

  const ModelConfig &c;
  const ModelBuildOptions &options;
  MLIRContext *ctx;
  OpBuilder b;
  Location loc;
  ModuleOp module;

  Type dt;
  RankedTensorType hiddenType, stepHiddenType, cacheType, positionsType,
      startType, convStateType;
  std::vector<WeightSpec> layerWeights, headWeights, tailWeights;
  /// The layer function of each layer, and its static-cache variant.
  std::vector<func::FuncOp> layerFunctions, staticLayerFunctions;
};

MaskAttr ModelIRBuilder::getMask(const LayerAttention &a) {
  std::optional<int64_t> windowLeft, chunk;
  int64_t dilation = 1, global = 0;
  switch (a.kind) {
  case AttentionKind::Full:
    break;
  case AttentionKind::Sliding:
    windowLeft = a.window - 1;
    break;
  case AttentionKind::Dilated:
    windowLeft = a.window - 1;
    dilation = a.dilation;
    break;
  case AttentionKind::Chunked:
    chunk = a.chunk;
    break;
  case AttentionKind::Hybrid:
    windowLeft = a.window - 1;
    global = a.globalTokens;
    break;
  }
  return MaskAttr::get(ctx, /*causal=*/true, windowLeft,
                       /*window_right=*/std::nullopt, dilation, chunk, global);
}

RopeScalingAttr ModelIRBuilder::getRopeScaling() {
  const RopeScalingConfig &s = c.ropeScaling;
  RopeScalingKind kind = RopeScalingKind::none;
  switch (s.type) {
  case RopeScalingType::None:
    return nullptr;
  case RopeScalingType::Linear:
    kind = RopeScalingKind::linear;
    break;
  case RopeScalingType::Dynamic:
    kind = RopeScalingKind::dynamic_ntk;
    break;
  case RopeScalingType::Yarn:
    kind = RopeScalingKind::yarn;
    break;
  case RopeScalingType::Llama3:
    kind = RopeScalingKind::llama3;
    break;
  }
  return RopeScalingAttr::get(
      ctx, kind, llvm::APFloat(s.factor), s.originalMaxPosition,
      llvm::APFloat(s.betaFast), llvm::APFloat(s.betaSlow),
      llvm::APFloat(s.lowFreqFactor), llvm::APFloat(s.highFreqFactor),
      llvm::APFloat(s.attentionFactor));
}

Value ModelIRBuilder::norm(Value x, Value weight, Value bias) {
  FloatAttr eps = b.getF64FloatAttr(c.normEpsilon);
  if (c.norm == ModelNorm::Layer)
    return LayerNormOp::create(b, loc, x, weight, bias, eps);
  return RmsNormOp::create(b, loc, x, weight, eps);
}

func::FuncOp
ModelIRBuilder::buildLayerFunction(llvm::StringRef name,
                                   const LayerAttention &attention,
                                   bool staticCache) {
  // The static variant takes one token at position `start`: x (B, 1, H),
  // positions = start (1).
  RankedTensorType xType = staticCache ? stepHiddenType : hiddenType;
  SmallVector<Type> argTypes = {xType,
                                staticCache ? startType : positionsType};
  const unsigned firstCache = argTypes.size();
  argTypes.append({cacheType, cacheType});
  SmallVector<Type> resultTypes = {xType, cacheType, cacheType};
  if (c.convKernelSize) {
    argTypes.push_back(convStateType);
    resultTypes.push_back(convStateType);
  }
  unsigned firstWeight = argTypes.size();
  for (const WeightSpec &w : layerWeights)
    argTypes.push_back(getWeightType(w));

  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType(argTypes, resultTypes));
  fn.setPrivate();
  setInternalLinkage(fn);
  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);

  llvm::StringMap<Value> weights;
  for (auto [i, w] : llvm::enumerate(layerWeights))
    weights[w.name] = body->getArgument(firstWeight + i);
  auto weight = [&](llvm::StringRef n) -> Value { return weights.lookup(n); };

  Value x = body->getArgument(0);
  Value positions = body->getArgument(1);
  Value start = staticCache ? positions : Value();
  Value pastK = body->getArgument(firstCache);
  Value pastV = body->getArgument(firstCache + 1);

  // Attention.
  Value h =
      norm(x, weight("input_layernorm.weight"), weight("input_layernorm.bias"));
  Value newConvState;
  if (c.convKernelSize) {
    // h += conv(h), the depthwise causal convolution continuing the
    // previous K-1 attention inputs held in the state.
    int64_t keep = *c.convKernelSize - 1;
    Value state = body->getArgument(firstCache + 2);
    Value extended =
        tensor::ConcatOp::create(b, loc, /*dim=*/1, ValueRange{state, h});
    Value conv =
        Conv1dOp::create(b, loc, extended, weight("self_attn.conv.weight"),
                         /*bias=*/Value(), c.hiddenSize, ConvPadding::causal);
    Value batch = tensor::DimOp::create(b, loc, h, 0);
    Value seq = tensor::DimOp::create(b, loc, h, 1);
    SmallVector<OpFoldResult> ones(3, b.getIndexAttr(1));
    Value current = tensor::ExtractSliceOp::create(
        b, loc, conv,
        {b.getIndexAttr(0), b.getIndexAttr(keep), b.getIndexAttr(0)},
        {batch, seq, b.getIndexAttr(c.hiddenSize)}, ones);
    h = AddOp::create(b, loc, h, current);
    newConvState = tensor::ExtractSliceOp::create(
        b, loc, convStateType, extended,
        ArrayRef<OpFoldResult>{b.getIndexAttr(0), seq, b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{batch, b.getIndexAttr(keep),
                               b.getIndexAttr(c.hiddenSize)},
        ones);
  }
  Value q = LinearOp::create(b, loc, h, weight("self_attn.q_proj.weight"),
                             weight("self_attn.q_proj.bias"));
  Value k = LinearOp::create(b, loc, h, weight("self_attn.k_proj.weight"),
                             weight("self_attn.k_proj.bias"));
  Value v = LinearOp::create(b, loc, h, weight("self_attn.v_proj.weight"),
                             weight("self_attn.v_proj.bias"));
  q = SplitHeadsOp::create(b, loc, q, static_cast<uint64_t>(c.numHeads));
  k = SplitHeadsOp::create(b, loc, k, static_cast<uint64_t>(c.numKvHeads));
  v = SplitHeadsOp::create(b, loc, v, static_cast<uint64_t>(c.numKvHeads));

  Value learnedBase = weight("self_attn.rope.base");
  FloatAttr base = learnedBase ? FloatAttr() : b.getF64FloatAttr(c.ropeTheta);
  IntegerAttr rotaryDim = b.getI64IntegerAttr(c.rotaryDim);
  RopeScalingAttr scaling = getRopeScaling();
  q = RopeOp::create(b, loc, q, positions, learnedBase, RopeLayout::rotate_half,
                     rotaryDim, base, scaling);
  k = RopeOp::create(b, loc, k, positions, learnedBase, RopeLayout::rotate_half,
                     rotaryDim, base, scaling);
  if (c.givens) {
    SmallVector<int64_t> pairs;
    for (auto [i, j] : c.givens->pairs) {
      pairs.push_back(i);
      pairs.push_back(j);
    }
    Value angles = weight("self_attn.givens.angles");
    Value rotation = weight("self_attn.rotation.weight");
    auto rotate = [&](Value t) -> Value {
      t = GivensOp::create(b, loc, t, angles, pairs);
      if (rotation)
        t = RotateOp::create(b, loc, t, rotation);
      return t;
    };
    if (c.givens->applyToQuery)
      q = rotate(q);
    if (c.givens->applyToKey)
      k = rotate(k);
  }
  // Growing caches: the new keys and values are appended (a new tensor per
  // step). Static caches: they are written at `start`, and the attention
  // reads the first start + S rows.
  Value keys, values;
  if (staticCache) {
    IntegerAttr axis = b.getI64IntegerAttr(2);
    keys = CacheWriteOp::create(b, loc, k, pastK, start, axis);
    values = CacheWriteOp::create(b, loc, v, pastV, start, axis);
  } else {
    keys = tensor::ConcatOp::create(b, loc, /*dim=*/2, ValueRange{pastK, k});
    values = tensor::ConcatOp::create(b, loc, /*dim=*/2, ValueRange{pastV, v});
  }
  IntegerAttr maxDistance =
      b.getI64IntegerAttr(c.relativeBias ? c.relativeBias->maxDistance : 128);
  Value attn = AttentionOp::create(b, loc, q, keys, values,
                                   weight("self_attn.relative_bias.weight"),
                                   /*query_positions=*/Value(),
                                   /*key_positions=*/Value(),
                                   /*rope_learned_base=*/Value(),
                                   /*query_givens_angles=*/Value(),
                                   /*query_rotation=*/Value(),
                                   /*query_start=*/start,
                                   getMask(attention), /*scale=*/FloatAttr(),
                                   /*softcap=*/FloatAttr(), maxDistance,
                                   /*return_lse=*/UnitAttr(), RopeLayoutAttr(),
                                   IntegerAttr(), FloatAttr(),
                                   RopeScalingAttr(),
                                   /*givens_q_pairs=*/DenseI64ArrayAttr())
                   .getOutput();
  attn = MergeHeadsOp::create(b, loc, attn);
  attn = LinearOp::create(b, loc, attn, weight("self_attn.o_proj.weight"),
                          weight("self_attn.o_proj.bias"));
  Value h1 = AddOp::create(b, loc, x, attn);

  // Feed-forward.
  Value h2 = norm(h1, weight("post_attention_layernorm.weight"),
                  weight("post_attention_layernorm.bias"));
  Value gate = LinearOp::create(b, loc, h2, weight("mlp.gate_proj.weight"),
                                weight("mlp.gate_proj.bias"));
  Value up = LinearOp::create(b, loc, h2, weight("mlp.up_proj.weight"),
                              weight("mlp.up_proj.bias"));
  Value act;
  switch (c.activation) {
  case ModelActivation::Silu:
    act = SwigluOp::create(b, loc, gate, up);
    break;
  case ModelActivation::Gelu:
  case ModelActivation::GeluTanh:
    act = GeluOp::create(b, loc, gate,
                         c.activation == ModelActivation::Gelu
                             ? GeluApproximation::none
                             : GeluApproximation::tanh);
    act = MulOp::create(b, loc, act, up);
    break;
  case ModelActivation::Relu:
    act = ReluOp::create(b, loc, gate);
    act = MulOp::create(b, loc, act, up);
    break;
  }
  Value down = LinearOp::create(b, loc, act, weight("mlp.down_proj.weight"),
                                weight("mlp.down_proj.bias"));
  Value out = AddOp::create(b, loc, h1, down);
  // (The convolution's slices have a dynamic length: restore x's type.)
  if (out.getType() != xType)
    out = tensor::CastOp::create(b, loc, xType, out);

  SmallVector<Value> results = {out, keys, values};
  if (newConvState)
    results.push_back(newConvState);
  func::ReturnOp::create(b, loc, results);
  return fn;
}

/// The arguments and results of a function with their manifest names.
struct Signature {
  SmallVector<Type> argTypes, resultTypes;
  SmallVector<std::string> argNames, resultNames;

  void addArg(Type t, const llvm::Twine &name) {
    argTypes.push_back(t);
    argNames.push_back(name.str());
  }
  void addResult(Type t, const llvm::Twine &name) {
    resultTypes.push_back(t);
    resultNames.push_back(name.str());
  }
};

void ModelIRBuilder::addCaches(
    llvm::function_ref<void(Type, const llvm::Twine &)> add) {
  for (int64_t l = 0; l < c.numLayers; ++l) {
    add(cacheType, "k_cache." + llvm::Twine(l));
    add(cacheType, "v_cache." + llvm::Twine(l));
  }
  if (c.convKernelSize)
    for (int64_t l = 0; l < c.numLayers; ++l)
      add(convStateType, "conv_state." + llvm::Twine(l));
}

void ModelIRBuilder::addWeights(
    llvm::function_ref<void(Type, const llvm::Twine &)> add) {
  for (const WeightSpec &w : headWeights)
    add(getWeightType(w), w.name);
  for (int64_t l = 0; l < c.numLayers; ++l)
    for (const WeightSpec &w : layerWeights)
      add(getWeightType(w), "model.layers." + llvm::Twine(l) + "." + w.name);
  for (const WeightSpec &w : tailWeights)
    add(getWeightType(w), w.name);
}

void ModelIRBuilder::buildEntry(EntryKind kind) {
  const int64_t numLayers = c.numLayers;
  const bool staticCache = kind == EntryKind::DecodeStatic;
  // Entries that take the caches as inputs.
  const bool decode = kind == EntryKind::Decode || staticCache;
  const bool returnsCaches = kind != EntryKind::Forward;
  const int64_t seq = decode ? 1 : kDyn;
  Type f32 = b.getF32Type();

  Signature sig;
  auto addArg = [&](Type t, const llvm::Twine &n) { sig.addArg(t, n); };
  auto addResult = [&](Type t, const llvm::Twine &n) { sig.addResult(t, n); };
  addArg(RankedTensorType::get({kDyn, seq}, b.getI64Type()), "input_ids");
  if (staticCache)
    addArg(startType, "cache_position");
  const unsigned firstCache = sig.argTypes.size();
  if (decode)
    addCaches(addArg);
  unsigned firstWeight = sig.argTypes.size();
  addWeights(addArg);
  addResult(RankedTensorType::get({kDyn, seq, c.vocabSize}, f32), "logits");
  if (returnsCaches)
    addCaches(addResult);

  llvm::StringRef name = kind == EntryKind::Forward   ? "forward"
                         : kind == EntryKind::Prefill ? "prefill"
                         : kind == EntryKind::Decode  ? "decode"
                                                      : "decode_static";
  SmallVector<DictionaryAttr> argAttrs;
  for (const std::string &n : sig.argNames)
    argAttrs.push_back(
        b.getDictionaryAttr(b.getNamedAttr(kNameAttr, b.getStringAttr(n))));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(
      b, loc, name, b.getFunctionType(sig.argTypes, sig.resultTypes),
      /*attrs=*/{}, argAttrs);
  for (auto [i, n] : llvm::enumerate(sig.resultNames))
    fn.setResultAttr(i, kNameAttr, b.getStringAttr(n));
  // The LLVM signature of an entry has a scalar per descriptor field of
  // every weight (thousands); LLVM's code generator is slow at a call with
  // that many arguments, so the entry is inlined into its C-interface
  // wrapper, which receives descriptor pointers, and dropped.
  fn->setAttr("always_inline", b.getUnitAttr());
  setInternalLinkage(fn);
  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);

  // Weight arguments by name.
  llvm::StringMap<Value> weights;
  for (unsigned i = firstWeight; i < sig.argTypes.size(); ++i)
    weights[sig.argNames[i]] = body->getArgument(i);
  auto weight = [&](llvm::StringRef n) -> Value { return weights.lookup(n); };

  // The new tokens sit at positions P .. P+S-1, P being the cache length
  // (0 without a cache), or, with static caches, cache_position (a device
  // value: one compiled step serves every position).
  Value ids = body->getArgument(0);
  Value batch = tensor::DimOp::create(b, loc, ids, 0);
  Value numTokens = tensor::DimOp::create(b, loc, ids, 1);
  Value positions;
  if (staticCache) {
    positions = body->getArgument(1); // cache_position
  } else {
    Value start =
        decode ? tensor::DimOp::create(b, loc, body->getArgument(firstCache), 2)
                     .getResult()
               : arith::ConstantIndexOp::create(b, loc, 0).getResult();
    positions = tensor::GenerateOp::create(
        b, loc, positionsType, ValueRange{numTokens},
        [&](OpBuilder &nb, Location l, ValueRange idx) {
          Value p = arith::AddIOp::create(nb, l, idx[0], start);
          Value p64 = arith::IndexCastOp::create(nb, l, nb.getI64Type(), p);
          tensor::YieldOp::create(nb, l, p64);
        });
  }

  Value x =
      EmbeddingOp::create(b, loc, ids, weight("model.embed_tokens.weight"));
  RankedTensorType layerHidden = staticCache ? stepHiddenType : hiddenType;
  if (x.getType() != layerHidden)
    x = tensor::CastOp::create(b, loc, layerHidden, x);
  if (c.sinusoidal) {
    // x += proj(l2_normalize?(sinusoidal(positions, frequencies))).
    Value pe = SinusoidalEmbeddingOp::create(
        b, loc, positions, weight("model.embed_positions.frequencies"));
    if (c.sinusoidal->l2Normalize)
      pe = L2NormalizeOp::create(b, loc, pe, b.getF64FloatAttr(1e-12));
    if (dt != f32)
      pe = arith::TruncFOp::create(
          b, loc, cast<RankedTensorType>(pe.getType()).clone(dt), pe);
    pe = LinearOp::create(b, loc, pe,
                          weight("model.embed_positions.proj.weight"),
                          /*bias=*/Value());
    x = AddOp::create(b, loc, x, pe);
  }

  // Empty pasts and zero convolution states for forward and prefill.
  Value emptyCache, zeroConvState;
  if (!decode) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    emptyCache =
        tensor::EmptyOp::create(b, loc, cacheType, ValueRange{batch, zero});
    if (c.convKernelSize) {
      Value zeroElement =
          arith::ConstantOp::create(b, loc, dt, b.getFloatAttr(dt, 0.0));
      zeroConvState = tensor::SplatOp::create(b, loc, zeroElement,
                                              convStateType, ValueRange{batch});
    }
  }

  SmallVector<Value> caches, convStates;
  for (int64_t l = 0; l < numLayers; ++l) {
    SmallVector<Value> operands = {x, positions};
    if (decode) {
      operands.push_back(body->getArgument(firstCache + 2 * l));
      operands.push_back(body->getArgument(firstCache + 1 + 2 * l));
      if (c.convKernelSize)
        operands.push_back(body->getArgument(firstCache + 2 * numLayers + l));
    } else {
      operands.push_back(emptyCache);
      operands.push_back(emptyCache);
      if (c.convKernelSize)
        operands.push_back(zeroConvState);
    }
    for (const WeightSpec &w : layerWeights)
      operands.push_back(
          weight(("model.layers." + llvm::Twine(l) + "." + w.name).str()));
    auto call = func::CallOp::create(
        b, loc, staticCache ? staticLayerFunctions[l] : layerFunctions[l],
        operands);
    x = call.getResult(0);
    caches.push_back(call.getResult(1));
    caches.push_back(call.getResult(2));
    if (c.convKernelSize)
      convStates.push_back(call.getResult(3));
  }

  x = norm(x, weight("model.norm.weight"), weight("model.norm.bias"));
  Value head = c.tieWordEmbeddings ? weight("model.embed_tokens.weight")
                                   : weight("lm_head.weight");
  Value logits = LinearOp::create(b, loc, x, head, /*bias=*/Value());
  if (dt != f32)
    logits = arith::ExtFOp::create(
        b, loc, cast<RankedTensorType>(logits.getType()).clone(f32), logits);
  if (logits.getType() != sig.resultTypes[0])
    logits = tensor::CastOp::create(b, loc, sig.resultTypes[0], logits);

  SmallVector<Value> results = {logits};
  if (returnsCaches) {
    results.append(caches);
    results.append(convStates);
  }
  func::ReturnOp::create(b, loc, results);
}

OwningOpRef<ModuleOp> ModelIRBuilder::build() {
  OwningOpRef<ModuleOp> owned = ModuleOp::create(loc);
  module = *owned;

  // One function per distinct attention pattern, named after its kind
  // (`layer_sliding`, then `layer_sliding_2` for a second window, ...).
  std::vector<LayerAttention> distinct;
  std::vector<func::FuncOp> functions, staticFunctions;
  llvm::StringMap<int> perKind;
  for (const LayerAttention &a : c.layers) {
    auto it = llvm::find(distinct, a);
    if (it != distinct.end()) {
      layerFunctions.push_back(functions[it - distinct.begin()]);
      if (options.staticCache)
        staticLayerFunctions.push_back(staticFunctions[it - distinct.begin()]);
      continue;
    }
    llvm::StringRef kindName = getAttentionKindName(a.kind);
    int n = ++perKind[kindName];
    std::string name = ("layer_" + kindName).str();
    if (n > 1)
      name += "_" + std::to_string(n);
    distinct.push_back(a);
    functions.push_back(buildLayerFunction(name, a, /*staticCache=*/false));
    layerFunctions.push_back(functions.back());
    if (options.staticCache) {
      staticFunctions.push_back(
          buildLayerFunction(name + "_static", a, /*staticCache=*/true));
      staticLayerFunctions.push_back(staticFunctions.back());
    }
  }
  buildEntry(EntryKind::Forward);
  buildEntry(EntryKind::Prefill);
  buildEntry(EntryKind::Decode);
  if (options.staticCache)
    buildEntry(EntryKind::DecodeStatic);
  return owned;
}

} // namespace

std::vector<WeightSpec>
mlir::rotor::getModelWeights(const ModelConfig &config) {
  std::vector<WeightSpec> all = getHeadWeights(config);
  std::vector<WeightSpec> layer = getLayerWeights(config);
  for (int64_t l = 0; l < config.numLayers; ++l)
    for (const WeightSpec &w : layer)
      all.push_back({"model.layers." + std::to_string(l) + "." + w.name,
                     w.shape, w.dtype});
  for (WeightSpec &w : getTailWeights(config))
    all.push_back(std::move(w));
  return all;
}

FailureOr<ModelModule>
mlir::rotor::buildModelModule(MLIRContext *context, const ModelConfig &config,
                              const ModelBuildOptions &options) {
  context->loadDialect<RotorDialect, func::FuncDialect, arith::ArithDialect,
                       tensor::TensorDialect, LLVM::LLVMDialect>();
  ModelModule result;
  result.module = ModelIRBuilder(context, config, options).build();
  result.weights = getModelWeights(config);
  if (failed(verify(*result.module)))
    return failure();
  return result;
}

LogicalResult mlir::rotor::addTrainLossFunction(ModuleOp module,
                                                llvm::StringRef name) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward || forward.isExternal() || forward.getNumResults() != 1)
    return module.emitError()
           << "the training loss needs a `forward` entry returning logits";
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  Location loc = forward.getLoc();
  FunctionType ft = forward.getFunctionType();
  auto ids = cast<RankedTensorType>(ft.getInput(0));
  // labels: the shape of input_ids. Parameters of a 16-bit model are taken
  // as f32 master weights and rounded to the model's type on entry (mixed
  // precision: the trainer updates f32 values; the gradients come back in
  // f32 through the rounding's transpose).
  SmallVector<Type> argTypes = {ids, ids};
  Type f32 = b.getF32Type();
  for (Type t : ft.getInputs().drop_front()) {
    auto tensor = cast<RankedTensorType>(t);
    Type elem = tensor.getElementType();
    argTypes.push_back(elem.isBF16() || elem.isF16() ? tensor.clone(f32) : t);
  }
  auto logitsType = cast<RankedTensorType>(ft.getResult(0));
  auto lossType = RankedTensorType::get(
      {}, logitsType.getElementType().isF64() ? Type(b.getF64Type()) : f32);

  b.setInsertionPointAfter(forward);
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType(argTypes, {lossType}));
  for (NamedAttribute attr : forward->getDiscardableAttrs())
    fn->setAttr(attr.getName(), attr.getValue());
  fn.setArgAttrs(0, forward.getArgAttrDict(0));
  fn.setArgAttr(1, kNameAttr, b.getStringAttr("labels"));
  for (unsigned i = 1; i < ft.getNumInputs(); ++i)
    fn.setArgAttrs(i + 1, forward.getArgAttrDict(i));
  fn.setResultAttr(0, kNameAttr, b.getStringAttr("loss"));

  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);
  IRMapping map;
  map.map(forward.getArgument(0), body->getArgument(0));
  for (unsigned i = 1; i < ft.getNumInputs(); ++i) {
    Value arg = body->getArgument(i + 1);
    if (arg.getType() != ft.getInput(i))
      arg = arith::TruncFOp::create(b, loc, ft.getInput(i), arg);
    map.map(forward.getArgument(i), arg);
  }
  Value logits;
  for (Operation &op : forward.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      logits = map.lookup(ret.getOperand(0));
      break;
    }
    b.clone(op, map);
  }
  Value loss = CrossEntropyOp::create(b, loc, logits, body->getArgument(1),
                                      b.getI64IntegerAttr(-100));
  func::ReturnOp::create(b, loc, loss);
  return success();
}
