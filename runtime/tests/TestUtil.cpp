//===- TestUtil.cpp - Helpers shared by the runtime tests -----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/Float16.h"
#include "rotor/io/Safetensors.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>

extern char **environ;

using namespace rotor;
using namespace rotor::test;

TempDir::TempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base && *base ? base : "/tmp") + "/rotor-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!::mkdtemp(buffer.data()))
    throw std::runtime_error("mkdtemp failed for " + pattern);
  dir = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::string TempDir::file(const std::string &name) const {
  return dir + "/" + name;
}

void rotor::test::writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string rotor::test::readFileBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

bool rotor::test::exists(const std::string &path) {
  return std::filesystem::exists(path);
}

std::string rotor::test::testLibrary() { return ROTOR_TEST_ARTIFACT_LIB; }

std::string rotor::test::trainLibrary() { return ROTOR_TRAIN_ARTIFACT_LIB; }

std::string rotor::test::trainManifest(TrainVariant variant) {
  auto arg = [](const std::string &name, const char *dtype,
                const std::string &shape) {
    return R"({"name": ")" + name + R"(", "dtype": ")" + dtype +
           R"(", "shape": )" + shape + "}";
  };
  auto matrix = [](int64_t rows, int64_t cols) {
    return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
  };
  std::string embedding = "model.embed_tokens.weight";
  std::string second = variant == TrainVariant::Rope
                           ? "model.layers.0.self_attn.rope.base"
                           : "model.mix.weight";
  std::string secondShape = variant == TrainVariant::Rope
                                ? "[]"
                                : matrix(trainGates, trainHidden);
  std::string inputs = arg("input_ids", "i64", "[null, null]") + ", " +
                       arg("labels", "i64", "[null, null]") + ", ";
  if (variant == TrainVariant::Scaled)
    inputs += arg("loss_scale", "f32", "[]") + ", ";
  inputs += arg(embedding, "f32", matrix(trainVocab, trainHidden)) + ", " +
            arg(second, "f32", secondShape);
  std::string outputs =
      arg("loss", "f32", "[]") + ", " +
      arg("grad." + embedding, "f32", matrix(trainVocab, trainHidden)) +
      ", " + arg("grad." + second, "f32", secondShape);
  const char *symbol = variant == TrainVariant::Plain ? "rotor_entry_train_step"
                       : variant == TrainVariant::Scaled
                           ? "rotor_entry_train_step_scaled"
                           : "rotor_entry_rope_step";
  return std::string(R"({"format": "rotor-artifact", "format_version": 1,
  "target": "cpu", "library": "module.so", "weights": "weights.safetensors",
  "entries": [{"name": "train_step", "symbol": ")") +
         symbol + R"(", "inputs": [)" + inputs + R"(], "outputs": [)" +
         outputs + "]}]}\n";
}

std::string rotor::test::makeTrainArtifact(const TempDir &root,
                                           const std::string &name,
                                           TrainVariant variant,
                                           uint64_t seed) {
  std::string dir =
      makeArtifact(root, name, trainManifest(variant), trainLibrary());
  std::mt19937_64 random(seed);
  auto normals = [&](size_t count, double sigma) {
    // Box-Muller, so that the values do not depend on the standard
    // library's normal_distribution.
    std::vector<double> values;
    while (values.size() < count) {
      double u1 = (random() >> 11) * 0x1.0p-53, u2 = (random() >> 11) * 0x1.0p-53;
      double radius = std::sqrt(-2 * std::log(1 - u1));
      values.push_back(sigma * radius * std::cos(2 * M_PI * u2));
    }
    return values;
  };
  TensorPtr embedding = makeTensor(ROTOR_F32, {trainVocab, trainHidden},
                                   normals(trainVocab * trainHidden, 0.5));
  TensorPtr second =
      variant == TrainVariant::Rope
          ? makeTensor(ROTOR_F32, {}, {10000.0})
          : makeTensor(ROTOR_F32, {trainGates, trainHidden},
                       normals(trainGates * trainHidden, 0.2));
  std::vector<io::NamedTensor> named = {
      {"model.embed_tokens.weight", embedding.get()},
      {variant == TrainVariant::Rope ? "model.layers.0.self_attn.rope.base"
                                     : "model.mix.weight",
       second.get()}};
  if (io::writeSafetensors(dir + "/weights.safetensors", named) != ROTOR_OK)
    throw std::runtime_error(rotor_last_error());
  return dir;
}

ToolResult rotor::test::runRotorRun(const std::vector<std::string> &args,
                                    const TempDir &scratch) {
  std::vector<std::string> argv = {ROTOR_RUN_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char *> pointers;
  for (std::string &arg : argv)
    pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  std::string outPath = scratch.file("stdout.txt");
  std::string errPath = scratch.file("stderr.txt");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, outPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, errPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int spawned = posix_spawn(&pid, ROTOR_RUN_PATH, &actions, nullptr,
                            pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ToolResult result;
  if (spawned != 0) {
    result.err = std::string("cannot spawn ") + ROTOR_RUN_PATH;
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  result.out = readFileBytes(outPath);
  result.err = readFileBytes(errPath);
  return result;
}

std::string rotor::test::testLibraryWithoutFree() {
  return ROTOR_TEST_ARTIFACT_NO_FREE_LIB;
}

std::string rotor::test::standardManifest() {
  return R"({
  "format": "rotor-artifact",
  "format_version": 1,
  "target": "cpu",
  "library": "module.so",
  "entries": [
    {"name": "add", "symbol": "rotor_entry_add",
     "inputs": [{"name": "a", "dtype": "f32", "shape": [null, 5]},
                {"name": "b", "dtype": "f32", "shape": [null, 5]}],
     "outputs": [{"name": "sum", "dtype": "f32", "shape": [null, 5]}]},
    {"name": "sum", "symbol": "rotor_entry_sum",
     "inputs": [{"name": "x", "dtype": "f32", "shape": [null, 5]}],
     "outputs": [{"name": "total", "dtype": "f32", "shape": []}]},
    {"name": "transpose", "symbol": "rotor_entry_transpose",
     "inputs": [{"name": "x", "dtype": "f64", "shape": [null, null]}],
     "outputs": [{"name": "y", "dtype": "f64", "shape": [null, null]}]},
    {"name": "split", "symbol": "rotor_entry_split",
     "inputs": [{"name": "x", "dtype": "i32", "shape": [null]}],
     "outputs": [{"name": "head", "dtype": "i32", "shape": [null]},
                 {"name": "tail", "dtype": "i32", "shape": [null]}]},
    {"name": "identity", "symbol": "rotor_entry_identity",
     "inputs": [{"name": "x", "dtype": "i64", "shape": [3]}],
     "outputs": [{"name": "y", "dtype": "i64", "shape": [3]}]},
    {"name": "negate", "symbol": "rotor_entry_negate",
     "inputs": [{"name": "x", "dtype": "bf16", "shape": [null]}],
     "outputs": [{"name": "y", "dtype": "bf16", "shape": [null]}]},
    {"name": "misbehave", "symbol": "rotor_entry_misbehave",
     "inputs": [{"name": "x", "dtype": "f32", "shape": [4]}],
     "outputs": [{"name": "y", "dtype": "f32", "shape": [4]}]},
    {"name": "alignment", "symbol": "rotor_entry_alignment",
     "inputs": [{"name": "x", "dtype": "f64", "shape": [null]}],
     "outputs": [{"name": "aligned", "dtype": "i64", "shape": []}]}
  ]
}
)";
}

std::string rotor::test::addOnlyManifest(const std::string &entryName) {
  return R"({"format": "rotor-artifact", "format_version": 1,
  "target": "cpu", "library": "module.so",
  "entries": [{"name": ")" +
         entryName + R"(", "symbol": "rotor_entry_add",
     "inputs": [{"name": "a", "dtype": "f32", "shape": [null, 5]},
                {"name": "b", "dtype": "f32", "shape": [null, 5]}],
     "outputs": [{"name": "sum", "dtype": "f32", "shape": [null, 5]}]}]}
)";
}

std::string rotor::test::lmManifest(const std::string &extra,
                                    const std::string &forwardSymbol) {
  const char *ids =
      R"({"name": "input_ids", "dtype": "i64", "shape": [1, null]})";
  const char *weights = R"({"name": "table", "dtype": "i64", "shape": [16]},
     {"name": "bias", "dtype": "f32", "shape": [16]})";
  auto cache = [](const char *name) {
    return std::string(R"({"name": ")") + name +
           R"(", "dtype": "f32", "shape": [1, null, 2]})";
  };
  std::string caches = cache("k_cache.0") + ", " + cache("v_cache.0") + ", " +
                       cache("k_cache.1") + ", " + cache("v_cache.1");
  return std::string(R"({"format": "rotor-artifact", "format_version": 1,
  "target": "cpu", "library": "module.so")") +
         extra + R"(,
  "entries": [
    {"name": "prefill", "symbol": "rotor_entry_lm_prefill",
     "inputs": [)" +
         ids + ", " + weights + R"(],
     "outputs": [{"name": "logits", "dtype": "f32", "shape": [1, null, 16]},
                 )" +
         caches + R"(]},
    {"name": "decode", "symbol": "rotor_entry_lm_decode",
     "inputs": [{"name": "input_ids", "dtype": "i64", "shape": [1, 1]},
                )" +
         caches + ", " + weights + R"(],
     "outputs": [{"name": "logits", "dtype": "f32", "shape": [1, 1, 16]},
                 )" +
         cache("k_cache.0") + ", " + cache("k_cache.1") + ", " +
         cache("v_cache.0") + ", " + cache("v_cache.1") + R"(]},
    {"name": "forward", "symbol": ")" +
         forwardSymbol + R"(",
     "inputs": [)" +
         ids + ", " + weights + R"(],
     "outputs": [{"name": "logits", "dtype": "f32", "shape": [1, null, 16]}]}
  ]
}
)";
}

std::string rotor::test::sessionManifest() {
  auto entry = [](const std::string &name, const std::string &symbol,
                  const std::string &totalIn, const std::string &totalOut) {
    return R"({"name": ")" + name + R"(", "symbol": ")" + symbol + R"(",
     "inputs": [{"name": "x", "dtype": "f32", "shape": [null, 3]},
                {"name": "total", )" +
           totalIn + R"(},
                {"name": "count", "dtype": "i64", "shape": []},
                {"name": "scale", "dtype": "f32", "shape": [3]}],
     "outputs": [{"name": "count", "dtype": "i64", "shape": []},
                 {"name": "mean", "dtype": "f32", "shape": [null, 3]},
                 {"name": "total", )" +
           totalOut + "}]}";
  };
  const char *total = R"("dtype": "f32", "shape": [null, 3])";
  return std::string(R"({"format": "rotor-artifact", "format_version": 1,
  "target": "cpu", "library": "module.so", "weights": "weights.safetensors",
  "entries": [
    )") + entry("accumulate", "rotor_entry_accumulate", total, total) +
         ",\n" +
         entry("bad_dtype", "rotor_entry_accumulate", total,
               R"("dtype": "f64", "shape": [null, 3])") +
         ",\n" +
         entry("bad_rank", "rotor_entry_accumulate", total,
               R"("dtype": "f32", "shape": [null])") +
         ",\n" +
         entry("bad_size", "rotor_entry_accumulate",
               R"("dtype": "f32", "shape": [2, 3])", total) +
         R"(,
    {"name": "broken", "symbol": "rotor_entry_misbehave",
     "inputs": [{"name": "s", "dtype": "f32", "shape": [4]}],
     "outputs": [{"name": "s", "dtype": "f32", "shape": [4]}]}
  ]
}
)";
}

void rotor::test::writeSessionWeights(const std::string &dir) {
  TensorPtr scale = makeTensor(
      ROTOR_F32, {3}, {sessionScale[0], sessionScale[1], sessionScale[2]});
  std::vector<io::NamedTensor> named = {{"scale", scale.get()}};
  if (io::writeSafetensors(dir + "/weights.safetensors", named) != ROTOR_OK)
    throw std::runtime_error(rotor_last_error());
}

std::vector<std::pair<std::string, TensorPtr>> rotor::test::lmWeights() {
  std::vector<double> table, bias;
  for (int i = 0; i < 16; ++i) {
    table.push_back((5 * i + 3) % 15 + 1);
    bias.push_back(i / 1024.0);
  }
  std::vector<std::pair<std::string, TensorPtr>> out;
  out.emplace_back("table", makeTensor(ROTOR_I64, {16}, table));
  out.emplace_back("bias", makeTensor(ROTOR_F32, {16}, bias));
  return out;
}

void rotor::test::writeLmWeights(const std::string &dir) {
  std::vector<std::pair<std::string, TensorPtr>> weights = lmWeights();
  std::vector<io::NamedTensor> named;
  for (const auto &[name, tensor] : weights)
    named.push_back({name, tensor.get()});
  if (io::writeSafetensors(dir + "/weights.safetensors", named) != ROTOR_OK)
    throw std::runtime_error(rotor_last_error());
}

std::vector<int64_t> rotor::test::lmExpected(const std::vector<int64_t> &prompt,
                                             size_t count) {
  int64_t sum = 0;
  for (int64_t id : prompt)
    sum += id;
  std::vector<int64_t> out;
  while (out.size() < count) {
    int64_t next = (5 * (sum % 16) + 3) % 15 + 1;
    out.push_back(next);
    sum += next;
  }
  return out;
}

std::string rotor::test::makeArtifact(const TempDir &root,
                                      const std::string &name,
                                      const std::string &manifest,
                                      const std::string &library) {
  std::string dir = root.file(name);
  std::filesystem::create_directories(dir);
  writeFile(dir + "/manifest.json", manifest);
  if (!library.empty())
    std::filesystem::copy_file(
        library, dir + "/module.so",
        std::filesystem::copy_options::overwrite_existing);
  return dir;
}

TensorPtr rotor::test::makeTensor(rotor_dtype dtype,
                                  const std::vector<int64_t> &shape,
                                  const std::vector<double> &values) {
  rotor_tensor *raw = nullptr;
  if (rotor_tensor_create(dtype, shape.size(), shape.data(), &raw) != ROTOR_OK)
    throw std::runtime_error(rotor_last_error());
  TensorPtr tensor(raw);
  if (values.size() != static_cast<size_t>(rotor_tensor_numel(raw)))
    throw std::runtime_error("makeTensor: wrong number of values");
  char *data = static_cast<char *>(rotor_tensor_data(raw));
  for (size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    switch (dtype) {
    case ROTOR_F32: {
      float x = static_cast<float>(v);
      std::memcpy(data + 4 * i, &x, 4);
      break;
    }
    case ROTOR_F64:
      std::memcpy(data + 8 * i, &v, 8);
      break;
    case ROTOR_BF16: {
      uint16_t x = floatToBF16(static_cast<float>(v));
      std::memcpy(data + 2 * i, &x, 2);
      break;
    }
    case ROTOR_F16: {
      uint16_t x = floatToHalf(static_cast<float>(v));
      std::memcpy(data + 2 * i, &x, 2);
      break;
    }
    case ROTOR_I32: {
      int32_t x = static_cast<int32_t>(v);
      std::memcpy(data + 4 * i, &x, 4);
      break;
    }
    case ROTOR_I64: {
      int64_t x = static_cast<int64_t>(v);
      std::memcpy(data + 8 * i, &x, 8);
      break;
    }
    }
  }
  return tensor;
}

std::vector<double> rotor::test::tensorValues(const rotor_tensor *tensor) {
  std::vector<double> out;
  const char *data = static_cast<const char *>(rotor_tensor_data(tensor));
  for (int64_t i = 0; i < rotor_tensor_numel(tensor); ++i) {
    switch (rotor_tensor_dtype(tensor)) {
    case ROTOR_F32: {
      float x;
      std::memcpy(&x, data + 4 * i, 4);
      out.push_back(x);
      break;
    }
    case ROTOR_F64: {
      double x;
      std::memcpy(&x, data + 8 * i, 8);
      out.push_back(x);
      break;
    }
    case ROTOR_BF16: {
      uint16_t x;
      std::memcpy(&x, data + 2 * i, 2);
      out.push_back(bf16ToFloat(x));
      break;
    }
    case ROTOR_F16: {
      uint16_t x;
      std::memcpy(&x, data + 2 * i, 2);
      out.push_back(halfToFloat(x));
      break;
    }
    case ROTOR_I32: {
      int32_t x;
      std::memcpy(&x, data + 4 * i, 4);
      out.push_back(x);
      break;
    }
    case ROTOR_I64: {
      int64_t x;
      std::memcpy(&x, data + 8 * i, 8);
      out.push_back(static_cast<double>(x));
      break;
    }
    }
  }
  return out;
}
