//===- ModelConfig.h - Decoder model descriptions ---------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The description of a decoder-only transformer read from a Hugging Face style
// `config.json`, with Rotor's `rotor` section for the attention variants.
// docs/model-config.md documents every field and every rule.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_FRONTEND_MODELCONFIG_H
#define ROTOR_FRONTEND_MODELCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir::rotor {

/// The element type of weights and activations.
enum class ModelDType { F32, BF16, F16 };

/// The activation of the gated feed-forward network.
enum class ModelActivation { Silu, Gelu, GeluTanh, Relu };

/// The normalization of the layers and of the final hidden state.
enum class ModelNorm { Rms, Layer };

/// How a layer's queries see the keys; every kind is causal.
enum class AttentionKind { Full, Sliding, Dilated, Chunked, Hybrid };

/// The attention pattern of one layer.
struct LayerAttention {
  AttentionKind kind = AttentionKind::Full;
  /// Sliding, dilated, hybrid: a query sees itself and `window - 1` earlier
  /// keys (counted in dilated steps for dilated).
  int64_t window = 0;
  /// Dilated: only every `dilation`-th earlier key is visible.
  int64_t dilation = 1;
  /// Chunked: a query sees the keys of its own chunk of `chunk` positions.
  int64_t chunk = 0;
  /// Hybrid: the first `globalTokens` positions see and are seen by all.
  int64_t globalTokens = 0;

  bool operator==(const LayerAttention &other) const {
    return kind == other.kind && window == other.window &&
           dilation == other.dilation && chunk == other.chunk &&
           globalTokens == other.globalTokens;
  }
  bool operator!=(const LayerAttention &other) const {
    return !(*this == other);
  }
};

/// The Hugging Face `rope_scaling` kinds.
enum class RopeScalingType { None, Linear, Dynamic, Yarn, Llama3 };

/// `rope_scaling`, with the defaults of `#rotor.rope_scaling` filled in.
struct RopeScalingConfig {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;
  int64_t originalMaxPosition = 0;
  double betaFast = 32.0;
  double betaSlow = 1.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  /// 0 selects the YaRN default `0.1 * ln(factor) + 1`.
  double attentionFactor = 0.0;
};

/// `rotor.givens`: Givens rotations (and optionally a learned orthogonal
/// matrix) applied to the queries and/or keys after RoPE.
struct GivensConfig {
  /// The rotated planes, one (i, j) pair of head features per rotation.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  /// Also multiply by a learned head_dim x head_dim matrix.
  bool learnedRotation = false;
  bool applyToQuery = true;
  bool applyToKey = true;
};

/// `rotor.relative_bias`: a T5-style bucketed relative position bias.
struct RelativeBiasConfig {
  int64_t numBuckets = 32;
  int64_t maxDistance = 128;
};

/// `rotor.sinusoidal`: a learned sinusoidal position embedding added to the
/// token embeddings.
struct SinusoidalConfig {
  int64_t numFrequencies = 0;
  bool l2Normalize = false;
};

/// A decoder model: sizes, per-layer attention and Rotor's extensions.
struct ModelConfig {
  /// The file the description came from (used in messages).
  std::string fileName;
  std::string modelType;

  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  /// The rotated features per head: head_dim * partial_rotary_factor.
  int64_t rotaryDim = 0;
  int64_t vocabSize = 0;
  /// 0 when the config does not give max_position_embeddings.
  int64_t maxPositionEmbeddings = 0;

  ModelActivation activation = ModelActivation::Silu;
  ModelNorm norm = ModelNorm::Rms;
  double normEpsilon = 1e-6;
  double ropeTheta = 10000.0;
  double partialRotaryFactor = 1.0;
  RopeScalingConfig ropeScaling;
  bool tieWordEmbeddings = false;
  /// Biases on the q, k and v projections.
  bool qkvBias = false;
  /// A bias on the o projection (Llama's `attention_bias` has one).
  bool oBias = false;
  /// Biases on the gate, up and down projections (`mlp_bias`).
  bool mlpBias = false;
  ModelDType dtype = ModelDType::F32;

  /// The attention pattern of every layer (numLayers entries).
  std::vector<LayerAttention> layers;

  std::optional<GivensConfig> givens;
  bool learnableRopeBase = false;
  std::optional<RelativeBiasConfig> relativeBias;
  /// `rotor.conv`: the kernel size of the depthwise causal convolution on
  /// the attention input.
  std::optional<int64_t> convKernelSize;
  std::optional<SinusoidalConfig> sinusoidal;
};

/// Parses and validates a config.json held in `text`; `fileName` prefixes
/// every message ("config.json: num_attention_heads: ...").
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef text,
                                             llvm::StringRef fileName);

/// Reads, parses and validates the config.json at `path`.
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

/// Overrides the compute dtype: "f32", "bf16" or "f16".
llvm::Error setModelDType(ModelConfig &config, llvm::StringRef dtype);

/// The name of a dtype as the manifest spells it (f32, bf16, f16).
llvm::StringRef getDTypeName(ModelDType dtype);

/// The name of an attention kind as config.json spells it.
llvm::StringRef getAttentionKindName(AttentionKind kind);

} // namespace mlir::rotor

#endif // ROTOR_FRONTEND_MODELCONFIG_H
