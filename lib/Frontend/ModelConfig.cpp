//===- ModelConfig.cpp - Reading and validating config.json ---------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Reads a Hugging Face style config.json (and Rotor's `rotor` section) into a
// ModelConfig. Every rule is checked here, so that the builder only sees
// valid descriptions; each message names the file, the field (as a path such
// as `rotor.attention[2].window`) and the rule. Unknown top-level fields are
// ignored, as Hugging Face configs carry many that do not affect the
// computation; unknown fields of `rope_scaling` and of the `rotor` section
// are errors, and so is a field given twice in one object.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/ModelConfig.h"
#include "rotor/Frontend/JsonDuplicateKeys.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdlib>

using namespace mlir;
using namespace mlir::rotor;
namespace json = llvm::json;

namespace {

/// JSON has no NaN or infinity, but Python's json module writes them as the
/// bare words `NaN`, `Infinity` and `-Infinity`. They are replaced by strings
/// carrying this prefix before parsing (written with a `\u0001` escape, which
/// no config string holds), so that the field holding one can be named in the
/// message instead of failing with a bare syntax error.
constexpr llvm::StringLiteral kNonFinitePrefix = "\x01rotor-non-finite:";
constexpr llvm::StringLiteral kNonFiniteEscaped = "\\u0001rotor-non-finite:";

std::string replaceNonFiniteWords(llvm::StringRef text) {
  std::string out;
  out.reserve(text.size());
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (llvm::StringRef word : {"-Infinity", "Infinity", "NaN"}) {
      if (!text.substr(i).starts_with(word))
        continue;
      out += "\"";
      out += kNonFiniteEscaped;
      out += word;
      out += "\"";
      i += word.size() - 1;
      replaced = true;
      break;
    }
    if (!replaced)
      out += c;
  }
  return out;
}

/// Formats a double for messages: the shortest of %.15g and %.17g that
/// reads back as the same value.
std::string formatDouble(double v) {
  std::string s = llvm::formatv("{0}", llvm::format("%.15g", v)).str();
  if (std::strtod(s.c_str(), nullptr) != v)
    s = llvm::formatv("{0}", llvm::format("%.17g", v)).str();
  return s;
}

/// "1 entry", "3 entries".
std::string count(size_t n, llvm::StringRef singular, llvm::StringRef plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural).str();
}

/// The largest size, window or count a config may give: products of two
/// sizes (weight shapes) then stay far inside int64_t.
constexpr int64_t kMaxSize = (int64_t(1) << 31) - 1;

/// The most layers a config may have.
constexpr int64_t kMaxLayers = 1024;

/// A short description of a JSON value for "got ..." in messages.
std::string describe(const json::Value &v) {
  switch (v.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Boolean:
    return *v.getAsBoolean() ? "true" : "false";
  case json::Value::Number:
    if (auto i = v.getAsInteger())
      return std::to_string(*i);
    return formatDouble(*v.getAsNumber());
  case json::Value::String: {
    llvm::StringRef s = *v.getAsString();
    if (s.starts_with(kNonFinitePrefix))
      return s.drop_front(kNonFinitePrefix.size()).str();
    return ("the string \"" + s + "\"").str();
  }
  case json::Value::Array:
    return "an array";
  case json::Value::Object:
    return "an object";
  }
  return "a value";
}

/// Reads typed fields and records the first error, which names the file and
/// the field. After an error the getters keep returning defaults so that the
/// caller can check `failed()` at convenient points instead of after every
/// field.
class ConfigReader {
public:
  explicit ConfigReader(llvm::StringRef fileName) : fileName(fileName) {}

  /// Records "FILE: FIELD: MESSAGE" unless an error was recorded already.
  void fail(const llvm::Twine &field, const llvm::Twine &message) {
    if (!error)
      error = (fileName + ": " + field + ": " + message).str();
  }
  bool failed() const { return error.has_value(); }
  llvm::Error takeError() {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), *error);
  }

  /// The value of `key`, or null when it is absent or JSON null (every
  /// optional field treats null as absent, as Hugging Face configs do).
  static const json::Value *lookup(const json::Object &o, llvm::StringRef key) {
    const json::Value *v = o.get(key);
    return v && v->kind() != json::Value::Null ? v : nullptr;
  }

  std::optional<int64_t> asInt(const json::Value &v, const llvm::Twine &field) {
    if (auto i = v.getAsInteger())
      return *i;
    fail(field, "expected an integer, got " + describe(v));
    return std::nullopt;
  }

  std::optional<double> asNumber(const json::Value &v,
                                 const llvm::Twine &field) {
    if (auto d = v.getAsNumber()) {
      if (!std::isfinite(*d)) {
        fail(field, "must be a finite number, got " + formatDouble(*d));
        return std::nullopt;
      }
      return *d;
    }
    if (auto s = v.getAsString(); s && s->starts_with(kNonFinitePrefix)) {
      fail(field, "must be a finite number, got " + describe(v));
      return std::nullopt;
    }
    fail(field, "expected a number, got " + describe(v));
    return std::nullopt;
  }

  std::optional<bool> asBool(const json::Value &v, const llvm::Twine &field) {
    if (auto b = v.getAsBoolean())
      return *b;
    fail(field, "expected true or false, got " + describe(v));
    return std::nullopt;
  }

  std::optional<llvm::StringRef> asString(const json::Value &v,
                                          const llvm::Twine &field) {
    if (auto s = v.getAsString(); s && !s->starts_with(kNonFinitePrefix))
      return *s;
    fail(field, "expected a string, got " + describe(v));
    return std::nullopt;
  }

  const json::Object *asObject(const json::Value &v, const llvm::Twine &field) {
    if (const json::Object *o = v.getAsObject())
      return o;
    fail(field, "expected an object, got " + describe(v));
    return nullptr;
  }

  const json::Array *asArray(const json::Value &v, const llvm::Twine &field) {
    if (const json::Array *a = v.getAsArray())
      return a;
    fail(field, "expected an array, got " + describe(v));
    return nullptr;
  }

  /// An integer field that must be > 0 (>= 0 when `allowZero`) and at most
  /// `max`; `def` when absent, or an error when `def` is nullopt (a required
  /// field).
  std::optional<int64_t> intField(const json::Object &o, llvm::StringRef key,
                                  const llvm::Twine &prefix,
                                  std::optional<int64_t> def,
                                  bool allowZero = false,
                                  int64_t max = kMaxSize) {
    std::string field = (prefix + key).str();
    const json::Value *v = lookup(o, key);
    if (!v) {
      if (!def)
        fail(field, "is required");
      return def;
    }
    std::optional<int64_t> i = asInt(*v, field);
    if (!i)
      return std::nullopt;
    if (allowZero ? *i < 0 : *i <= 0) {
      fail(field, llvm::Twine("must be ") + (allowZero ? ">= 0" : "> 0") +
                      ", got " + llvm::Twine(*i));
      return std::nullopt;
    }
    if (*i > max) {
      fail(field,
           "must be <= " + llvm::Twine(max) + ", got " + llvm::Twine(*i));
      return std::nullopt;
    }
    return i;
  }

  /// A number field that must be finite and > 0 (>= 0 when `allowZero`).
  std::optional<double> numberField(const json::Object &o, llvm::StringRef key,
                                    const llvm::Twine &prefix,
                                    std::optional<double> def,
                                    bool allowZero = false) {
    std::string field = (prefix + key).str();
    const json::Value *v = lookup(o, key);
    if (!v) {
      if (!def)
        fail(field, "is required");
      return def;
    }
    std::optional<double> d = asNumber(*v, field);
    if (!d)
      return std::nullopt;
    if (allowZero ? *d < 0 : *d <= 0) {
      fail(field, llvm::Twine("must be ") + (allowZero ? ">= 0" : "> 0") +
                      ", got " + formatDouble(*d));
      return std::nullopt;
    }
    return d;
  }

  bool boolField(const json::Object &o, llvm::StringRef key,
                 const llvm::Twine &prefix, bool def) {
    const json::Value *v = lookup(o, key);
    if (!v)
      return def;
    return asBool(*v, prefix + key).value_or(def);
  }

  /// Fails on every key of `o` not in `known`, listing the known ones.
  void checkKnownKeys(const json::Object &o,
                      llvm::ArrayRef<llvm::StringRef> known,
                      const llvm::Twine &prefix, llvm::StringRef what) {
    // Report the unknown keys in a stable (sorted) order.
    std::vector<std::string> unknown;
    for (const auto &kv : o)
      if (!llvm::is_contained(known, kv.first.str()))
        unknown.push_back(kv.first.str());
    if (unknown.empty())
      return;
    llvm::sort(unknown);
    fail(prefix + unknown.front(),
         "unknown field; " + what + " has " + llvm::join(known, ", "));
  }

private:
  std::string fileName;
  std::optional<std::string> error;
};

/// Parses an activation name (hidden_act or rotor.activation).
std::optional<ModelActivation> parseActivation(ConfigReader &r,
                                               const json::Value &v,
                                               const llvm::Twine &field) {
  std::optional<llvm::StringRef> name = r.asString(v, field);
  if (!name)
    return std::nullopt;
  auto act =
      llvm::StringSwitch<std::optional<ModelActivation>>(*name)
          .Cases({"silu", "swish"}, ModelActivation::Silu)
          .Case("gelu", ModelActivation::Gelu)
          .Cases({"gelu_pytorch_tanh", "gelu_new"}, ModelActivation::GeluTanh)
          .Case("relu", ModelActivation::Relu)
          .Default(std::nullopt);
  if (!act)
    r.fail(field, "unknown activation '" + *name +
                      "'; expected silu, swish, gelu, gelu_pytorch_tanh, "
                      "gelu_new or relu");
  return act;
}

/// Reads `rope_scaling` (an object; null was handled by the caller).
void parseRopeScaling(ConfigReader &r, const json::Value &v, ModelConfig &c) {
  const llvm::StringRef prefix = "rope_scaling.";
  const json::Object *o = r.asObject(v, "rope_scaling");
  if (!o)
    return;
  r.checkKnownKeys(*o,
                   {"rope_type", "type", "factor",
                    "original_max_position_embeddings", "beta_fast",
                    "beta_slow", "low_freq_factor", "high_freq_factor",
                    "attention_factor"},
                   prefix, "rope_scaling");
  if (r.failed())
    return;
  // `rope_type` is the current name, `type` the older one.
  const json::Value *typeValue = ConfigReader::lookup(*o, "rope_type");
  llvm::StringRef typeField = "rope_scaling.rope_type";
  if (!typeValue) {
    typeValue = ConfigReader::lookup(*o, "type");
    typeField = "rope_scaling.type";
  }
  if (!typeValue) {
    r.fail("rope_scaling.rope_type", "is required (or the older 'type')");
    return;
  }
  std::optional<llvm::StringRef> type = r.asString(*typeValue, typeField);
  if (!type)
    return;
  auto kind = llvm::StringSwitch<std::optional<RopeScalingType>>(*type)
                  .Case("default", RopeScalingType::None)
                  .Case("linear", RopeScalingType::Linear)
                  .Case("dynamic", RopeScalingType::Dynamic)
                  .Case("yarn", RopeScalingType::Yarn)
                  .Case("llama3", RopeScalingType::Llama3)
                  .Default(std::nullopt);
  if (!kind) {
    r.fail(typeField, "unsupported rope scaling '" + *type +
                          "'; expected default, linear, dynamic, yarn or "
                          "llama3");
    return;
  }
  RopeScalingConfig &s = c.ropeScaling;
  s.type = *kind;
  if (s.type == RopeScalingType::None)
    return;
  s.factor = r.numberField(*o, "factor", prefix, std::nullopt).value_or(1.0);
  if (!r.failed() && s.factor < 1.0)
    r.fail("rope_scaling.factor",
           "must be >= 1, got " + formatDouble(s.factor));
  std::optional<int64_t> original =
      r.intField(*o, "original_max_position_embeddings", prefix, int64_t(0));
  s.originalMaxPosition = original.value_or(0);
  if (r.failed())
    return;
  if (s.originalMaxPosition == 0 &&
      (s.type == RopeScalingType::Dynamic || s.type == RopeScalingType::Yarn))
    s.originalMaxPosition = c.maxPositionEmbeddings;
  bool needsOriginal = s.type == RopeScalingType::Dynamic ||
                       s.type == RopeScalingType::Yarn ||
                       s.type == RopeScalingType::Llama3;
  if (needsOriginal && s.originalMaxPosition == 0) {
    llvm::StringRef alternative = s.type == RopeScalingType::Llama3
                                      ? ""
                                      : " (or give max_position_embeddings)";
    r.fail("rope_scaling.original_max_position_embeddings",
           "is required for " + *type + " scaling" + alternative);
    return;
  }
  s.betaFast = r.numberField(*o, "beta_fast", prefix, 32.0).value_or(32.0);
  s.betaSlow = r.numberField(*o, "beta_slow", prefix, 1.0).value_or(1.0);
  s.lowFreqFactor =
      r.numberField(*o, "low_freq_factor", prefix, 1.0).value_or(1.0);
  s.highFreqFactor =
      r.numberField(*o, "high_freq_factor", prefix, 4.0).value_or(4.0);
  s.attentionFactor = r.numberField(*o, "attention_factor", prefix, 0.0,
                                    /*allowZero=*/true)
                          .value_or(0.0);
  if (r.failed())
    return;
  if (s.type == RopeScalingType::Yarn && !(s.betaFast > s.betaSlow))
    r.fail("rope_scaling.beta_fast",
           "yarn needs beta_fast > beta_slow, got beta_fast = " +
               formatDouble(s.betaFast) +
               " and beta_slow = " + formatDouble(s.betaSlow));
  if (s.type == RopeScalingType::Llama3 &&
      !(s.highFreqFactor > s.lowFreqFactor))
    r.fail("rope_scaling.high_freq_factor",
           "llama3 needs high_freq_factor > low_freq_factor, got "
           "high_freq_factor = " +
               formatDouble(s.highFreqFactor) +
               " and low_freq_factor = " + formatDouble(s.lowFreqFactor));
  if (s.type == RopeScalingType::Dynamic && c.rotaryDim <= 2)
    r.fail(typeField, "dynamic scaling needs a rotary dimension > 2, got " +
                          llvm::Twine(c.rotaryDim));
}

/// Reads one `rotor.attention` entry.
std::optional<LayerAttention> parseAttention(ConfigReader &r,
                                             const json::Value &v,
                                             const std::string &prefix) {
  const json::Object *o = r.asObject(v, prefix);
  if (!o)
    return std::nullopt;
  r.checkKnownKeys(*o, {"kind", "window", "dilation", "chunk", "global_tokens"},
                   prefix + ".", "an attention entry");
  if (r.failed())
    return std::nullopt;
  const json::Value *kindValue = ConfigReader::lookup(*o, "kind");
  if (!kindValue) {
    r.fail(prefix + ".kind", "is required");
    return std::nullopt;
  }
  std::optional<llvm::StringRef> kindName =
      r.asString(*kindValue, prefix + ".kind");
  if (!kindName)
    return std::nullopt;
  auto kind = llvm::StringSwitch<std::optional<AttentionKind>>(*kindName)
                  .Case("full", AttentionKind::Full)
                  .Case("sliding", AttentionKind::Sliding)
                  .Case("dilated", AttentionKind::Dilated)
                  .Case("chunked", AttentionKind::Chunked)
                  .Case("hybrid", AttentionKind::Hybrid)
                  .Default(std::nullopt);
  if (!kind) {
    r.fail(prefix + ".kind", "unknown attention kind '" + *kindName +
                                 "'; expected full, sliding, dilated, "
                                 "chunked or hybrid");
    return std::nullopt;
  }
  // The parameters each kind takes; the others are errors.
  llvm::SmallVector<llvm::StringRef> uses;
  switch (*kind) {
  case AttentionKind::Full:
    break;
  case AttentionKind::Sliding:
    uses = {"window"};
    break;
  case AttentionKind::Dilated:
    uses = {"window", "dilation"};
    break;
  case AttentionKind::Chunked:
    uses = {"chunk"};
    break;
  case AttentionKind::Hybrid:
    uses = {"window", "global_tokens"};
    break;
  }
  for (llvm::StringRef key : {"window", "dilation", "chunk", "global_tokens"})
    if (o->get(key) && !llvm::is_contained(uses, key)) {
      std::string takes =
          uses.empty() ? "" : " (which takes " + llvm::join(uses, ", ") + ")";
      r.fail(prefix + "." + key,
             "is not used by attention kind '" + *kindName + "'" + takes);
      return std::nullopt;
    }
  LayerAttention a;
  a.kind = *kind;
  std::string p = prefix + ".";
  if (llvm::is_contained(uses, "window"))
    a.window = r.intField(*o, "window", p, std::nullopt).value_or(0);
  if (llvm::is_contained(uses, "dilation"))
    a.dilation = r.intField(*o, "dilation", p, std::nullopt).value_or(1);
  if (llvm::is_contained(uses, "chunk"))
    a.chunk = r.intField(*o, "chunk", p, std::nullopt).value_or(0);
  if (llvm::is_contained(uses, "global_tokens"))
    a.globalTokens =
        r.intField(*o, "global_tokens", p, std::nullopt).value_or(0);
  if (r.failed())
    return std::nullopt;
  return a;
}

/// Reads `rotor.givens`.
void parseGivens(ConfigReader &r, const json::Value &v, ModelConfig &c) {
  const json::Object *o = r.asObject(v, "rotor.givens");
  if (!o)
    return;
  const llvm::StringRef prefix = "rotor.givens.";
  r.checkKnownKeys(*o,
                   {"num_rotations", "pairs", "learned_rotation", "apply_to"},
                   prefix, "rotor.givens");
  std::optional<int64_t> n =
      r.intField(*o, "num_rotations", prefix, std::nullopt);
  if (r.failed())
    return;
  GivensConfig g;
  if (const json::Value *pv = ConfigReader::lookup(*o, "pairs")) {
    const json::Array *pairs = r.asArray(*pv, "rotor.givens.pairs");
    if (!pairs)
      return;
    if (static_cast<int64_t>(pairs->size()) != *n) {
      r.fail("rotor.givens.pairs",
             count(pairs->size(), "pair", "pairs") +
                 " for num_rotations = " + llvm::Twine(*n));
      return;
    }
    for (auto [k, pair] : llvm::enumerate(*pairs)) {
      std::string field = ("rotor.givens.pairs[" + llvm::Twine(k) + "]").str();
      const json::Array *ij = r.asArray(pair, field);
      if (!ij)
        return;
      if (ij->size() != 2) {
        r.fail(field, "expected a pair [i, j], got " +
                          count(ij->size(), "entry", "entries"));
        return;
      }
      std::optional<int64_t> i = r.asInt((*ij)[0], field);
      std::optional<int64_t> j = r.asInt((*ij)[1], field);
      if (!i || !j)
        return;
      for (int64_t idx : {*i, *j})
        if (idx < 0 || idx >= c.headDim) {
          r.fail(field, "pair (" + llvm::Twine(*i) + ", " + llvm::Twine(*j) +
                            ") is out of range for head_dim " +
                            llvm::Twine(c.headDim));
          return;
        }
      if (*i == *j) {
        r.fail(field, "pair (" + llvm::Twine(*i) + ", " + llvm::Twine(*j) +
                          ") rotates a feature against itself");
        return;
      }
      g.pairs.emplace_back(*i, *j);
    }
  } else {
    if (2 * *n > c.headDim) {
      r.fail("rotor.givens.num_rotations",
             llvm::Twine(*n) + " default pairs (2k, 2k+1) need head_dim >= " +
                 llvm::Twine(2 * *n) + ", got " + llvm::Twine(c.headDim));
      return;
    }
    for (int64_t k = 0; k < *n; ++k)
      g.pairs.emplace_back(2 * k, 2 * k + 1);
  }
  g.learnedRotation = r.boolField(*o, "learned_rotation", prefix, false);
  if (const json::Value *av = ConfigReader::lookup(*o, "apply_to")) {
    std::optional<llvm::StringRef> to =
        r.asString(*av, "rotor.givens.apply_to");
    if (!to)
      return;
    if (*to != "qk" && *to != "q" && *to != "k") {
      r.fail("rotor.givens.apply_to",
             "expected \"qk\", \"q\" or \"k\", got \"" + *to + "\"");
      return;
    }
    g.applyToQuery = to->contains('q');
    g.applyToKey = to->contains('k');
  }
  c.givens = std::move(g);
}

/// Reads the `rotor` section.
void parseRotorSection(ConfigReader &r, const json::Value &v, ModelConfig &c) {
  const json::Object *o = r.asObject(v, "rotor");
  if (!o)
    return;
  r.checkKnownKeys(*o,
                   {"attention", "givens", "learnable_rope_base",
                    "relative_bias", "conv", "sinusoidal", "norm",
                    "activation"},
                   "rotor.", "the rotor section");
  if (r.failed())
    return;

  if (const json::Value *av = ConfigReader::lookup(*o, "attention")) {
    if (const json::Array *list = av->getAsArray()) {
      if (static_cast<int64_t>(list->size()) != c.numLayers) {
        r.fail("rotor.attention",
               count(list->size(), "entry", "entries") +
                   " for num_hidden_layers = " + llvm::Twine(c.numLayers));
        return;
      }
      for (auto [i, entry] : llvm::enumerate(*list)) {
        auto a = parseAttention(
            r, entry, ("rotor.attention[" + llvm::Twine(i) + "]").str());
        if (!a)
          return;
        c.layers[i] = *a;
      }
    } else if (av->getAsObject()) {
      auto a = parseAttention(r, *av, "rotor.attention");
      if (!a)
        return;
      c.layers.assign(c.numLayers, *a);
    } else {
      r.fail("rotor.attention",
             "expected an object or an array with one object per layer, got " +
                 describe(*av));
      return;
    }
  }

  if (const json::Value *gv = ConfigReader::lookup(*o, "givens"))
    parseGivens(r, *gv, c);

  c.learnableRopeBase = r.boolField(*o, "learnable_rope_base", "rotor.", false);

  if (const json::Value *bv = ConfigReader::lookup(*o, "relative_bias")) {
    if (const json::Object *b = r.asObject(*bv, "rotor.relative_bias")) {
      const llvm::StringRef prefix = "rotor.relative_bias.";
      r.checkKnownKeys(*b, {"num_buckets", "max_distance"}, prefix,
                       "rotor.relative_bias");
      RelativeBiasConfig rb;
      rb.numBuckets =
          r.intField(*b, "num_buckets", prefix, std::nullopt).value_or(1);
      rb.maxDistance =
          r.intField(*b, "max_distance", prefix, int64_t(128)).value_or(128);
      if (!r.failed())
        c.relativeBias = rb;
    }
  }

  if (const json::Value *cv = ConfigReader::lookup(*o, "conv")) {
    if (const json::Object *conv = r.asObject(*cv, "rotor.conv")) {
      r.checkKnownKeys(*conv, {"kernel_size"}, "rotor.conv.", "rotor.conv");
      std::optional<int64_t> k =
          r.intField(*conv, "kernel_size", "rotor.conv.", std::nullopt);
      if (k && *k < 2)
        r.fail("rotor.conv.kernel_size",
               "must be >= 2 (a kernel of 1 sees no earlier token), got " +
                   llvm::Twine(*k));
      if (!r.failed())
        c.convKernelSize = *k;
    }
  }

  if (const json::Value *sv = ConfigReader::lookup(*o, "sinusoidal")) {
    if (const json::Object *s = r.asObject(*sv, "rotor.sinusoidal")) {
      const llvm::StringRef prefix = "rotor.sinusoidal.";
      r.checkKnownKeys(*s, {"num_frequencies", "l2_normalize"}, prefix,
                       "rotor.sinusoidal");
      SinusoidalConfig sc;
      sc.numFrequencies =
          r.intField(*s, "num_frequencies", prefix, std::nullopt).value_or(1);
      sc.l2Normalize = r.boolField(*s, "l2_normalize", prefix, false);
      if (!r.failed())
        c.sinusoidal = sc;
    }
  }

  if (const json::Value *nv = ConfigReader::lookup(*o, "norm")) {
    if (auto n = r.asString(*nv, "rotor.norm")) {
      if (*n == "rms")
        c.norm = ModelNorm::Rms;
      else if (*n == "layer")
        c.norm = ModelNorm::Layer;
      else
        r.fail("rotor.norm",
               "unknown norm '" + *n + "'; expected \"rms\" or \"layer\"");
    }
  }

  if (const json::Value *av = ConfigReader::lookup(*o, "activation"))
    if (auto act = parseActivation(r, *av, "rotor.activation"))
      c.activation = *act;
}

/// Sets the per-layer attention from the Hugging Face fields: layer_types,
/// use_sliding_window + max_window_layers (Qwen2) or sliding_window
/// (Mistral: every layer).
void parseHfAttention(ConfigReader &r, const json::Object &root,
                      ModelConfig &c) {
  std::optional<int64_t> window =
      r.intField(root, "sliding_window", "", int64_t(0));
  if (r.failed())
    return;
  LayerAttention sliding;
  sliding.kind = AttentionKind::Sliding;
  sliding.window = *window;
  c.layers.assign(c.numLayers, LayerAttention());

  const json::Value *useValue =
      ConfigReader::lookup(root, "use_sliding_window");
  std::optional<bool> use;
  if (useValue && !(use = r.asBool(*useValue, "use_sliding_window")))
    return;
  if (use && *use && *window == 0) {
    r.fail("use_sliding_window", "is true but sliding_window is not given");
    return;
  }
  std::optional<int64_t> maxWindowLayers =
      r.intField(root, "max_window_layers", "", int64_t(28),
                 /*allowZero=*/true);
  if (r.failed())
    return;

  if (const json::Value *tv = ConfigReader::lookup(root, "layer_types")) {
    const json::Array *types = r.asArray(*tv, "layer_types");
    if (!types)
      return;
    if (static_cast<int64_t>(types->size()) != c.numLayers) {
      r.fail("layer_types",
             count(types->size(), "entry", "entries") +
                 " for num_hidden_layers = " + llvm::Twine(c.numLayers));
      return;
    }
    for (auto [i, t] : llvm::enumerate(*types)) {
      std::string field = ("layer_types[" + llvm::Twine(i) + "]").str();
      std::optional<llvm::StringRef> name = r.asString(t, field);
      if (!name)
        return;
      if (*name == "full_attention")
        continue;
      if (*name != "sliding_attention") {
        r.fail(field, "unknown layer type '" + *name +
                          "'; expected \"full_attention\" or "
                          "\"sliding_attention\"");
        return;
      }
      if (*window == 0) {
        r.fail(field, "sliding_attention needs sliding_window");
        return;
      }
      // Qwen2 turns sliding_window off entirely without use_sliding_window.
      if (!use || *use)
        c.layers[i] = sliding;
    }
    return;
  }
  if (*window == 0)
    return;
  for (int64_t i = 0; i < c.numLayers; ++i)
    if (!use || (*use && i >= *maxWindowLayers))
      c.layers[i] = sliding;
}

} // namespace

llvm::Expected<ModelConfig>
mlir::rotor::parseModelConfig(llvm::StringRef text, llvm::StringRef fileName) {
  ConfigReader r(fileName);
  std::string jsonText = replaceNonFiniteWords(text);
  llvm::Expected<json::Value> parsed = json::parse(jsonText);
  if (!parsed)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(), "%s: invalid JSON %s",
        fileName.str().c_str(), llvm::toString(parsed.takeError()).c_str());
  if (std::optional<std::string> dup = findDuplicateJsonKey(jsonText)) {
    r.fail(*dup, "is given twice; every field may appear once");
    return r.takeError();
  }
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "%s: expected a JSON object at the top level, got %s",
        fileName.str().c_str(), describe(*parsed).c_str());

  ModelConfig c;
  c.fileName = fileName.str();
  if (const json::Value *v = ConfigReader::lookup(*root, "model_type"))
    if (auto s = r.asString(*v, "model_type"))
      c.modelType = s->str();

  // Sizes.
  c.hiddenSize = r.intField(*root, "hidden_size", "", std::nullopt).value_or(0);
  c.intermediateSize =
      r.intField(*root, "intermediate_size", "", std::nullopt).value_or(0);
  c.numLayers = r.intField(*root, "num_hidden_layers", "", std::nullopt,
                           /*allowZero=*/false, kMaxLayers)
                    .value_or(0);
  c.numHeads =
      r.intField(*root, "num_attention_heads", "", std::nullopt).value_or(0);
  c.vocabSize = r.intField(*root, "vocab_size", "", std::nullopt).value_or(0);
  if (r.failed())
    return r.takeError();
  c.numKvHeads =
      r.intField(*root, "num_key_value_heads", "", c.numHeads).value_or(0);
  if (r.failed())
    return r.takeError();
  if (c.numHeads % c.numKvHeads != 0) {
    r.fail("num_attention_heads",
           llvm::Twine(c.numHeads) + " query heads are not divisible by " +
               llvm::Twine(c.numKvHeads) + " key/value heads");
    return r.takeError();
  }
  if (ConfigReader::lookup(*root, "head_dim")) {
    c.headDim = r.intField(*root, "head_dim", "", std::nullopt).value_or(0);
  } else if (c.hiddenSize % c.numHeads != 0) {
    r.fail("hidden_size", llvm::Twine(c.hiddenSize) + " is not divisible by " +
                              llvm::Twine(c.numHeads) +
                              " attention heads (give head_dim)");
  } else {
    c.headDim = c.hiddenSize / c.numHeads;
  }
  c.maxPositionEmbeddings =
      r.intField(*root, "max_position_embeddings", "", int64_t(0)).value_or(0);
  if (r.failed())
    return r.takeError();

  // Rotary embedding.
  c.partialRotaryFactor =
      r.numberField(*root, "partial_rotary_factor", "", 1.0).value_or(1.0);
  if (r.failed())
    return r.takeError();
  if (c.partialRotaryFactor > 1.0) {
    r.fail("partial_rotary_factor",
           "must be in (0, 1], got " + formatDouble(c.partialRotaryFactor));
    return r.takeError();
  }
  c.rotaryDim = static_cast<int64_t>(
      std::floor(static_cast<double>(c.headDim) * c.partialRotaryFactor));
  if (c.partialRotaryFactor == 1.0) {
    if (c.rotaryDim % 2 != 0)
      r.fail("head_dim", "the rotary dimension " + llvm::Twine(c.rotaryDim) +
                             " is odd; features rotate in pairs");
  } else if (c.rotaryDim % 2 != 0 || c.rotaryDim == 0) {
    r.fail("partial_rotary_factor",
           "the rotary dimension head_dim * partial_rotary_factor = " +
               llvm::Twine(c.headDim) + " * " +
               formatDouble(c.partialRotaryFactor) + " = " +
               llvm::Twine(c.rotaryDim) +
               (c.rotaryDim == 0 ? " rotates nothing"
                                 : " is odd; features rotate in pairs"));
  }
  c.ropeTheta = r.numberField(*root, "rope_theta", "", 10000.0).value_or(1.0);
  if (r.failed())
    return r.takeError();
  if (const json::Value *v = ConfigReader::lookup(*root, "rope_scaling"))
    parseRopeScaling(r, *v, c);
  if (r.failed())
    return r.takeError();

  // Activation, norm, dtype, biases.
  if (const json::Value *v = ConfigReader::lookup(*root, "hidden_act")) {
    if (auto act = parseActivation(r, *v, "hidden_act"))
      c.activation = *act;
  }
  if (ConfigReader::lookup(*root, "rms_norm_eps") ||
      !ConfigReader::lookup(*root, "layer_norm_eps"))
    c.normEpsilon = r.numberField(*root, "rms_norm_eps", "", 1e-6,
                                  /*allowZero=*/true)
                        .value_or(1e-6);
  else
    c.normEpsilon = r.numberField(*root, "layer_norm_eps", "", 1e-6,
                                  /*allowZero=*/true)
                        .value_or(1e-6);
  c.tieWordEmbeddings = r.boolField(*root, "tie_word_embeddings", "", false);
  // Biases follow the Hugging Face implementations: Qwen2 always has q/k/v
  // biases (and no attention_bias field), Mistral never has biases (it
  // ignores attention_bias), Llama's attention_bias also biases o_proj; any
  // other model_type gets q/k/v biases from attention_bias. mlp_bias biases
  // the gate, up and down projections (not in Mistral or Qwen2).
  bool attentionBias = r.boolField(*root, "attention_bias", "", false);
  bool mlpBias = r.boolField(*root, "mlp_bias", "", false);
  if (c.modelType == "qwen2") {
    c.qkvBias = true;
  } else if (c.modelType != "mistral") {
    c.qkvBias = attentionBias;
    c.oBias = attentionBias && c.modelType == "llama";
    c.mlpBias = mlpBias;
  }
  const json::Value *dtypeValue = ConfigReader::lookup(*root, "torch_dtype");
  llvm::StringRef dtypeField = "torch_dtype";
  if (!dtypeValue) {
    dtypeValue = ConfigReader::lookup(*root, "dtype");
    dtypeField = "dtype";
  }
  if (dtypeValue) {
    if (auto name = r.asString(*dtypeValue, dtypeField)) {
      if (*name == "float32")
        c.dtype = ModelDType::F32;
      else if (*name == "bfloat16")
        c.dtype = ModelDType::BF16;
      else if (*name == "float16")
        c.dtype = ModelDType::F16;
      else
        r.fail(dtypeField, "unsupported dtype '" + *name +
                               "'; expected float32, bfloat16 or float16");
    }
  }
  if (r.failed())
    return r.takeError();

  // Attention patterns: Hugging Face fields first, then the rotor section,
  // which overrides them.
  parseHfAttention(r, *root, c);
  if (r.failed())
    return r.takeError();
  if (const json::Value *v = ConfigReader::lookup(*root, "rotor"))
    parseRotorSection(r, *v, c);
  if (r.failed())
    return r.takeError();
  return c;
}

llvm::Expected<ModelConfig> mlir::rotor::loadModelConfig(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(), "cannot open %s: %s",
                                   path.str().c_str(),
                                   buffer.getError().message().c_str());
  return parseModelConfig((*buffer)->getBuffer(), path);
}

llvm::Error mlir::rotor::setModelDType(ModelConfig &config,
                                       llvm::StringRef dtype) {
  if (dtype == "f32")
    config.dtype = ModelDType::F32;
  else if (dtype == "bf16")
    config.dtype = ModelDType::BF16;
  else if (dtype == "f16")
    config.dtype = ModelDType::F16;
  else
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "unknown dtype '%s'; expected f32, bf16 "
                                   "or f16",
                                   dtype.str().c_str());
  return llvm::Error::success();
}

llvm::StringRef mlir::rotor::getDTypeName(ModelDType dtype) {
  switch (dtype) {
  case ModelDType::F32:
    return "f32";
  case ModelDType::BF16:
    return "bf16";
  case ModelDType::F16:
    return "f16";
  }
  return "f32";
}

llvm::StringRef mlir::rotor::getAttentionKindName(AttentionKind kind) {
  switch (kind) {
  case AttentionKind::Full:
    return "full";
  case AttentionKind::Sliding:
    return "sliding";
  case AttentionKind::Dilated:
    return "dilated";
  case AttentionKind::Chunked:
    return "chunked";
  case AttentionKind::Hybrid:
    return "hybrid";
  }
  return "full";
}
