//===- RunInputs.cpp - Building entry inputs for rotor-run ----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "RunInputs.h"
#include "rotor/Float16.h"
#include "rotor/io/Npy.h"

#include <charconv>
#include <cstring>
#include <map>

using namespace rotor;
using namespace rotor::tool;

std::vector<const rotor_tensor *> InputSet::pointers() const {
  std::vector<const rotor_tensor *> out;
  for (const TensorPtr &tensor : tensors)
    out.push_back(tensor.get());
  return out;
}

std::vector<const char *> InputSet::namePointers() const {
  std::vector<const char *> out;
  for (const std::string &name : names)
    out.push_back(name.c_str());
  return out;
}

bool rotor::tool::parseShape(const std::string &text,
                             std::vector<int64_t> &shape) {
  shape.clear();
  if (text.empty())
    return true;
  size_t start = 0;
  while (true) {
    size_t end = text.find('x', start);
    if (end == std::string::npos)
      end = text.size();
    int64_t value;
    const char *first = text.data() + start, *last = text.data() + end;
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (first == last || ec != std::errc() || ptr != last || value < 0 ||
        shape.size() == ROTOR_MAX_RANK)
      return false;
    shape.push_back(value);
    if (end == text.size())
      return true;
    start = end + 1;
  }
}

void rotor::tool::fillRandom(rotor_tensor *tensor, std::mt19937_64 &rng) {
  int64_t numel = rotor_tensor_numel(tensor);
  char *data = static_cast<char *>(rotor_tensor_data(tensor));
  auto uniform = [&](int bits) {
    // An exact multiple of 2^(1-bits) in [-1, 1).
    return 2.0 * std::ldexp(static_cast<double>(rng() >> (64 - bits)), -bits) -
           1.0;
  };
  for (int64_t i = 0; i < numel; ++i) {
    switch (rotor_tensor_dtype(tensor)) {
    case ROTOR_F32: {
      float value = static_cast<float>(uniform(24));
      std::memcpy(data + i * 4, &value, 4);
      break;
    }
    case ROTOR_F64: {
      double value = uniform(53);
      std::memcpy(data + i * 8, &value, 8);
      break;
    }
    case ROTOR_F16: {
      uint16_t bits = floatToHalf(static_cast<float>(uniform(11)));
      std::memcpy(data + i * 2, &bits, 2);
      break;
    }
    case ROTOR_BF16: {
      uint16_t bits = floatToBF16(static_cast<float>(uniform(8)));
      std::memcpy(data + i * 2, &bits, 2);
      break;
    }
    case ROTOR_I32: {
      int32_t value = static_cast<int32_t>(rng() >> 60);
      std::memcpy(data + i * 4, &value, 4);
      break;
    }
    case ROTOR_I64: {
      int64_t value = static_cast<int64_t>(rng() >> 60);
      std::memcpy(data + i * 8, &value, 8);
      break;
    }
    }
  }
}

namespace {

/// Builds the inputs of one entry; see buildInputs.
class InputBuilder {
public:
  InputBuilder(const rotor_artifact *artifact, size_t entry,
               const InputOptions &options, std::string &error)
      : artifact(artifact), options(options), error(error) {
    entryName = rotor_artifact_entry_name(artifact, entry);
    for (size_t i = 0; i < rotor_entry_num_inputs(artifact, entry); ++i) {
      rotor_arg_info info;
      rotor_entry_input(artifact, entry, i, &info);
      specs.push_back(info);
      isWeight.push_back(rotor_entry_input_is_weight(artifact, entry, i) != 0);
    }
  }

  bool build(InputSet &inputs) {
    if (!parseShapes() || !parseNpyInputs() || !openSafetensors(inputs))
      return false;
    std::mt19937_64 rng(options.seed);
    for (size_t i = 0; i < specs.size(); ++i) {
      TensorPtr tensor;
      std::string name = specs[i].name;
      bool ok;
      if (npyFiles.count(name))
        ok = readNpyInput(i, npyFiles[name], tensor);
      else if (inputs.file && inputs.file->find(name))
        ok = viewSafetensorsInput(i, *inputs.file, tensor);
      else if (isWeight[i]) {
        // The runtime binds it to the weights file's tensor.
        if (!checkWeightShape(i))
          return false;
        continue;
      } else if (options.random)
        ok = makeRandomInput(i, rng, tensor);
      else
        ok = failWith("input '" + name + "' of entry '" + entryName +
                      "' is not given (use --input " + name +
                      "=FILE.npy, --inputs=FILE.safetensors or "
                      "--random-inputs)");
      if (!ok)
        return false;
      inputs.names.push_back(name);
      inputs.tensors.push_back(std::move(tensor));
    }
    return true;
  }

private:
  const rotor_artifact *artifact;
  const InputOptions &options;
  std::string &error;
  std::string entryName;
  std::vector<rotor_arg_info> specs;
  std::vector<bool> isWeight;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, std::string> npyFiles;

  bool failWith(const std::string &message) {
    error = message;
    return false;
  }

  std::vector<int64_t> declared(size_t index) const {
    return std::vector<int64_t>(specs[index].shape,
                                specs[index].shape + specs[index].rank);
  }

  /// "x, k" for messages.
  std::string inputNames() const {
    std::string out;
    for (const rotor_arg_info &spec : specs)
      out += (out.empty() ? "" : ", ") + std::string(spec.name);
    return out.empty() ? "none" : out;
  }

  /// The index of input `name`, or -1 after setting an error mentioning
  /// `context`.
  long findInput(const std::string &name, const std::string &context) {
    for (size_t i = 0; i < specs.size(); ++i)
      if (name == specs[i].name)
        return static_cast<long>(i);
    failWith(context + ": entry '" + entryName + "' has no input '" + name +
             "' (inputs: " + inputNames() + ")");
    return -1;
  }

  /// Checks that `shape` fits input `index` (rank and static sizes).
  bool fitsDeclared(size_t index, const std::vector<int64_t> &shape) const {
    if (shape.size() != specs[index].rank)
      return false;
    for (size_t d = 0; d < shape.size(); ++d)
      if (specs[index].shape[d] != ROTOR_DYNAMIC_DIM &&
          specs[index].shape[d] != shape[d])
        return false;
    return true;
  }

  /// Checks a --shape given for weight input `index` against the weight.
  bool checkWeightShape(size_t index) {
    std::string name = specs[index].name;
    auto given = shapes.find(name);
    const rotor_tensor *weight = nullptr;
    if (given == shapes.end() ||
        rotor_artifact_find_weight(artifact, name.c_str(), &weight) != ROTOR_OK)
      return true;
    std::vector<int64_t> shape = tensorShape(weight);
    if (given->second != shape)
      return failWith("--shape " + name + "=" + formatShape(given->second) +
                      " does not match the shape " + formatShapeList(shape) +
                      " of tensor '" + name + "' of the weights file " +
                      rotor_artifact_weights_path(artifact));
    return true;
  }

  bool parseShapes() {
    for (const std::string &spec : options.shapes) {
      size_t equals = spec.find('=');
      if (equals == std::string::npos)
        return failWith("--shape expects NAME=SIZExSIZE..., got '" + spec +
                        "'");
      std::string name = spec.substr(0, equals);
      std::vector<int64_t> shape;
      if (!parseShape(spec.substr(equals + 1), shape))
        return failWith("--shape " + spec +
                        ": the shape must be non-negative integers joined "
                        "by 'x' (e.g. 2x37x64)");
      long index = findInput(name, "--shape " + spec);
      if (index < 0)
        return false;
      if (shapes.count(name))
        return failWith("--shape is given twice for input '" + name + "'");
      if (!fitsDeclared(static_cast<size_t>(index), shape))
        return failWith("--shape " + spec + ": input '" + name +
                        "' of entry '" + entryName + "' has shape " +
                        formatShapeList(declared(static_cast<size_t>(index))));
      shapes[name] = shape;
    }
    return true;
  }

  bool parseNpyInputs() {
    for (const std::string &spec : options.npyInputs) {
      size_t equals = spec.find('=');
      if (equals == std::string::npos || equals == 0 ||
          equals + 1 == spec.size())
        return failWith("--input expects NAME=FILE.npy, got '" + spec + "'");
      std::string name = spec.substr(0, equals);
      std::string file = spec.substr(equals + 1);
      if (findInput(name, "--input " + spec) < 0)
        return false;
      if (npyFiles.count(name))
        return failWith("input '" + name + "' is given twice by --input");
      npyFiles[name] = file;
    }
    return true;
  }

  bool openSafetensors(InputSet &inputs) {
    if (options.safetensorsPath.empty())
      return true;
    if (io::SafetensorsFile::open(options.safetensorsPath, inputs.file) !=
        ROTOR_OK)
      return failWith(rotor_last_error());
    for (const io::SafetensorsTensorInfo &info : inputs.file->tensors()) {
      if (findInput(info.name, options.safetensorsPath) < 0)
        return false;
      if (npyFiles.count(info.name))
        return failWith("input '" + info.name +
                        "' is given twice (by --input "
                        "and by " +
                        options.safetensorsPath + ")");
    }
    return true;
  }

  /// Checks a tensor from `source` against input `index`.
  bool checkLoaded(size_t index, const rotor_tensor *tensor,
                   const std::string &source) {
    const rotor_arg_info &spec = specs[index];
    std::string name = spec.name;
    if (rotor_tensor_dtype(tensor) != spec.dtype)
      return failWith(source + ": dtype is " +
                      rotor_dtype_name(rotor_tensor_dtype(tensor)) +
                      " but input '" + name + "' of entry '" + entryName +
                      "' is " + rotor_dtype_name(spec.dtype));
    std::vector<int64_t> shape = tensorShape(tensor);
    if (!fitsDeclared(index, shape))
      return failWith(source + ": shape " + formatShapeList(shape) +
                      " does not match input '" + name + "' of entry '" +
                      entryName + "' (shape " +
                      formatShapeList(declared(index)) + ")");
    auto given = shapes.find(name);
    if (given != shapes.end() && given->second != shape)
      return failWith("--shape " + name + "=" + formatShape(given->second) +
                      " does not match the shape " + formatShapeList(shape) +
                      " of " + source);
    return true;
  }

  bool readNpyInput(size_t index, const std::string &path, TensorPtr &out) {
    io::NpyReadOptions readOptions;
    readOptions.u2AsBF16 = options.bf16AsU2;
    TensorPtr tensor;
    if (io::readNpy(path, tensor, readOptions) != ROTOR_OK)
      return failWith(rotor_last_error());
    // NumPy has no bf16: an f32 array feeds a bf16 input, rounded to
    // nearest even.
    if (specs[index].dtype == ROTOR_BF16 &&
        rotor_tensor_dtype(tensor.get()) == ROTOR_F32) {
      std::vector<int64_t> shape = tensorShape(tensor.get());
      rotor_tensor *converted;
      if (rotor_tensor_create(ROTOR_BF16, shape.size(), shape.data(),
                              &converted) != ROTOR_OK)
        return failWith(path + ": " + rotor_last_error());
      const char *source =
          static_cast<const char *>(rotor_tensor_data(tensor.get()));
      char *dest = static_cast<char *>(rotor_tensor_data(converted));
      for (int64_t i = 0; i < rotor_tensor_numel(converted); ++i) {
        float value;
        std::memcpy(&value, source + i * 4, 4);
        uint16_t bits = floatToBF16(value);
        std::memcpy(dest + i * 2, &bits, 2);
      }
      tensor.reset(converted);
    }
    if (!checkLoaded(index, tensor.get(), path))
      return false;
    out = std::move(tensor);
    return true;
  }

  bool viewSafetensorsInput(size_t index, const io::SafetensorsFile &file,
                            TensorPtr &out) {
    TensorPtr tensor;
    if (file.view(specs[index].name, tensor) != ROTOR_OK)
      return failWith(rotor_last_error());
    if (!checkLoaded(index, tensor.get(),
                     file.name() + " (tensor '" + specs[index].name + "')"))
      return false;
    out = std::move(tensor);
    return true;
  }

  bool makeRandomInput(size_t index, std::mt19937_64 &rng, TensorPtr &out) {
    const rotor_arg_info &spec = specs[index];
    std::string name = spec.name;
    std::vector<int64_t> shape = declared(index);
    auto given = shapes.find(name);
    if (given != shapes.end()) {
      shape = given->second;
    } else {
      for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] != ROTOR_DYNAMIC_DIM)
          continue;
        std::vector<int64_t> example = shape;
        for (int64_t &dim : example)
          if (dim == ROTOR_DYNAMIC_DIM)
            dim = 8;
        return failWith("input '" + name + "' of entry '" + entryName +
                        "' has dynamic dimension " + std::to_string(d) +
                        " (shape " + formatShapeList(shape) +
                        "); give its size with --shape " + name + "=" +
                        formatShape(example));
      }
    }
    rotor_tensor *tensor;
    if (rotor_tensor_create(spec.dtype, shape.size(), shape.data(), &tensor) !=
        ROTOR_OK)
      return failWith("input '" + name + "': " + rotor_last_error());
    out.reset(tensor);
    fillRandom(tensor, rng);
    return true;
  }
};

} // namespace

bool rotor::tool::buildInputs(const rotor_artifact *artifact, size_t entry,
                              const InputOptions &options, InputSet &inputs,
                              std::string &error) {
  return InputBuilder(artifact, entry, options, error).build(inputs);
}
