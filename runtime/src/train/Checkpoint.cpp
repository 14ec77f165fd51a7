//===- Checkpoint.cpp - Saving, resuming and exporting a training run -----===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A checkpoint is one .safetensors file, written atomically:
//
//   NAME                     each parameter, f32, under its Hugging Face name
//   NAME.log_value           the optimizer's variable of a log-space parameter
//                            (NAME holds its exp, the value the model uses)
//   NAME.exp_avg, ...        the optimizer state (Optimizer::stateNames)
//   rotor.train.history      f64 (steps, 8): step, loss, lr, grad norm, loss
//                            scale, skipped, tokens, seconds of every step
//   __metadata__             format=pt; rotor.train.OPTION for every option
//                            of TrainConfig; rotor.train.step (steps done,
//                            which is also the position in the data),
//                            rotor.train.optimizer_steps, rotor.train.
//                            loss_scale, rotor.train.growth_tracker
//
// Every number that the next steps depend on is stored exactly (f32 tensors
// bit for bit, reals with 17 significant digits), so a resumed run continues
// bit-identically.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Safetensors.h"
#include "rotor/train.h"

#include "Error.h"
#include "Tensor.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

using namespace rotor;
using namespace rotor::train;

namespace {

constexpr const char *logValueSuffix = ".log_value";
constexpr const char *historyName = "rotor.train.history";
constexpr const char *metadataPrefix = "rotor.train.";
constexpr int64_t historyColumns = 8;

using Metadata = std::map<std::string, std::string>;

rotor_status readMetadata(const io::SafetensorsFile &file, Metadata &out) {
  for (const auto &[key, value] : file.metadata())
    out[key] = value;
  if (!out.count(std::string(metadataPrefix) + "step"))
    return fail(ROTOR_ERR_FORMAT, file.name(),
                ": not a rotor training checkpoint (its __metadata__ has no "
                "'rotor.train.step')");
  return ROTOR_OK;
}

/// The value of `rotor.train.KEY`.
rotor_status findMetadata(const io::SafetensorsFile &file,
                          const Metadata &metadata, const char *key,
                          const std::string *&out) {
  auto it = metadata.find(std::string(metadataPrefix) + key);
  if (it == metadata.end())
    return fail(ROTOR_ERR_FORMAT, file.name(), ": __metadata__ has no '",
                metadataPrefix, key, "'");
  out = &it->second;
  return ROTOR_OK;
}

rotor_status metadataInteger(const io::SafetensorsFile &file,
                             const Metadata &metadata, const char *key,
                             int64_t &out) {
  const std::string *text;
  if (rotor_status s = findMetadata(file, metadata, key, text))
    return s;
  const char *first = text->data(), *last = first + text->size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (first == last || ec != std::errc() || ptr != last || out < 0)
    return fail(ROTOR_ERR_FORMAT, file.name(), ": __metadata__ '",
                metadataPrefix, key, "' is ", quote(*text),
                ", not a non-negative integer");
  return ROTOR_OK;
}

rotor_status metadataReal(const io::SafetensorsFile &file,
                          const Metadata &metadata, const char *key,
                          double &out) {
  const std::string *text;
  if (rotor_status s = findMetadata(file, metadata, key, text))
    return s;
  char *end = nullptr;
  out = std::strtod(text->c_str(), &end);
  if (text->empty() || *end != '\0' || !std::isfinite(out))
    return fail(ROTOR_ERR_FORMAT, file.name(), ": __metadata__ '",
                metadataPrefix, key, "' is ", quote(*text),
                ", not a finite number");
  return ROTOR_OK;
}

/// Copies tensor `name` of `file` into `out`, checking dtype and shape.
rotor_status loadFloats(const io::SafetensorsFile &file,
                        const std::string &name,
                        const std::vector<int64_t> &shape,
                        std::vector<float> &out) {
  const io::SafetensorsTensorInfo *info = file.find(name);
  if (!info)
    return fail(ROTOR_ERR_FORMAT, file.name(), ": the checkpoint has no tensor ",
                quote(name));
  if (!info->supported || info->dtype != ROTOR_F32 || info->shape != shape)
    return fail(ROTOR_ERR_FORMAT, file.name(), ": tensor ", quote(name),
                " is ", info->dtypeName, " ", formatShapeList(info->shape),
                " but the run has F32 ", formatShapeList(shape));
  TensorPtr tensor;
  if (rotor_status s = file.load(name, tensor))
    return s;
  std::memcpy(out.data(), tensor->data, tensor->nbytes);
  return ROTOR_OK;
}

/// Tensors to write, kept alive with their buffers.
struct TensorList {
  std::vector<TensorPtr> owned;
  std::vector<std::vector<float>> buffers;
  std::vector<io::NamedTensor> named;

  rotor_status add(const std::string &name, rotor_dtype dtype,
                   const std::vector<int64_t> &shape, const void *data) {
    TensorPtr tensor;
    if (rotor_status s =
            wrapTensor(dtype, shape, const_cast<void *>(data), tensor))
      return s;
    named.push_back({name, tensor.get()});
    owned.push_back(std::move(tensor));
    return ROTOR_OK;
  }

  /// Adds a parameter's model value (exp of a log-space variable).
  rotor_status addValue(const Parameter &param) {
    if (!param.logSpace)
      return add(param.name, ROTOR_F32, param.shape, param.value.data());
    std::vector<float> values;
    for (float value : param.value)
      values.push_back(std::exp(value));
    buffers.push_back(std::move(values));
    return add(param.name, ROTOR_F32, param.shape, buffers.back().data());
  }
};

} // namespace

rotor_status Trainer::save(const std::string &path) const {
  return guard([&]() -> rotor_status {
    if (rotor_status s = syncHost())
      return s;
    TensorList list;
    std::vector<std::string> slots = opt->stateNames();
    for (size_t p = 0; p < params.size(); ++p) {
      const Parameter &param = params[p];
      if (rotor_status s = list.addValue(param))
        return s;
      if (param.logSpace)
        if (rotor_status s = list.add(param.name + logValueSuffix, ROTOR_F32,
                                      param.shape, param.value.data()))
          return s;
      for (size_t slot = 0; slot < slots.size(); ++slot)
        if (rotor_status s =
                list.add(param.name + "." + slots[slot], ROTOR_F32,
                         param.shape, opt->state(slot, p).data()))
          return s;
    }
    std::vector<double> history;
    for (const StepMetrics &m : records)
      history.insert(history.end(),
                     {static_cast<double>(m.step), m.loss, m.lr, m.gradNorm,
                      m.lossScale, m.skipped ? 1.0 : 0.0,
                      static_cast<double>(m.tokens), m.seconds});
    if (rotor_status s = list.add(
            historyName, ROTOR_F64,
            {static_cast<int64_t>(records.size()), historyColumns},
            history.data()))
      return s;

    std::vector<std::pair<std::string, std::string>> metadata = {
        {"format", "pt"}};
    for (const auto &[name, value] : cfg.toOptions())
      metadata.emplace_back(metadataPrefix + name, value);
    metadata.emplace_back(std::string(metadataPrefix) + "step",
                          std::to_string(iter));
    metadata.emplace_back(std::string(metadataPrefix) + "optimizer_steps",
                          std::to_string(opt->steps()));
    metadata.emplace_back(std::string(metadataPrefix) + "loss_scale",
                          formatExactReal(lossScale()));
    metadata.emplace_back(std::string(metadataPrefix) + "growth_tracker",
                          std::to_string(scaler ? scaler->growthTracker() : 0));
    return io::writeSafetensors(path, list.named, metadata);
  });
}

rotor_status Trainer::readCheckpointConfig(const std::string &path,
                                           TrainConfig &out) {
  return guard([&]() -> rotor_status {
    std::unique_ptr<io::SafetensorsFile> file;
    if (rotor_status s = io::SafetensorsFile::open(path, file))
      return s;
    Metadata metadata;
    if (rotor_status s = readMetadata(*file, metadata))
      return s;
    TrainConfig config;
    for (const std::string &name : trainOptionNames()) {
      auto it = metadata.find(metadataPrefix + name);
      if (it == metadata.end())
        return fail(ROTOR_ERR_FORMAT, path, ": __metadata__ has no '",
                    metadataPrefix, name, "'");
      if (rotor_status s = config.set(name, it->second))
        return fail(s, path, ": __metadata__: ", rotor_last_error());
    }
    out = config;
    return ROTOR_OK;
  });
}

rotor_status Trainer::resume(const std::string &path) {
  return guard([&]() -> rotor_status {
    std::unique_ptr<io::SafetensorsFile> file;
    if (rotor_status s = io::SafetensorsFile::open(path, file))
      return s;
    Metadata metadata;
    if (rotor_status s = readMetadata(*file, metadata))
      return s;
    for (const auto &[name, value] : cfg.toOptions()) {
      auto it = metadata.find(metadataPrefix + name);
      if (it == metadata.end())
        return fail(ROTOR_ERR_FORMAT, path, ": __metadata__ has no '",
                    metadataPrefix, name, "'");
      if (it->second != value)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, path,
                    ": the checkpoint was written with ", name, "=",
                    it->second, " but this run has ", name, "=", value,
                    " (a resumed run keeps its configuration)");
    }
    int64_t step, optimizerSteps, tracker;
    double scale;
    if (rotor_status s = metadataInteger(*file, metadata, "step", step))
      return s;
    if (rotor_status s = metadataInteger(*file, metadata, "optimizer_steps",
                                         optimizerSteps))
      return s;
    if (rotor_status s =
            metadataInteger(*file, metadata, "growth_tracker", tracker))
      return s;
    if (rotor_status s = metadataReal(*file, metadata, "loss_scale", scale))
      return s;
    if (optimizerSteps > step)
      return fail(ROTOR_ERR_FORMAT, path, ": ", optimizerSteps,
                  " optimizer steps in ", step, " steps");

    // Read everything before changing anything, so that a bad checkpoint
    // leaves the trainer as it was.
    std::vector<std::string> slots = opt->stateNames();
    std::vector<std::vector<float>> values(params.size());
    std::vector<std::vector<std::vector<float>>> states(
        slots.size(), std::vector<std::vector<float>>(params.size()));
    for (size_t p = 0; p < params.size(); ++p) {
      const Parameter &param = params[p];
      values[p].resize(param.value.size());
      std::string source =
          param.logSpace ? param.name + logValueSuffix : param.name;
      if (rotor_status s = loadFloats(*file, source, param.shape, values[p]))
        return s;
      for (size_t slot = 0; slot < slots.size(); ++slot) {
        states[slot][p].resize(param.value.size());
        if (rotor_status s =
                loadFloats(*file, param.name + "." + slots[slot], param.shape,
                           states[slot][p]))
          return s;
      }
    }
    const io::SafetensorsTensorInfo *info = file->find(historyName);
    if (!info || !info->supported || info->dtype != ROTOR_F64 ||
        info->shape != std::vector<int64_t>{step, historyColumns})
      return fail(ROTOR_ERR_FORMAT, path, ": tensor '", historyName,
                  "' is missing or not F64 [", step, ", ", historyColumns,
                  "]");
    TensorPtr history;
    if (rotor_status s = file->load(historyName, history))
      return s;
    const double *rows = static_cast<const double *>(history->data);
    std::vector<StepMetrics> restored;
    for (int64_t r = 0; r < step; ++r) {
      const double *row = rows + r * historyColumns;
      StepMetrics m;
      m.step = static_cast<int64_t>(row[0]);
      m.loss = row[1];
      m.lr = row[2];
      m.gradNorm = row[3];
      m.lossScale = row[4];
      m.skipped = row[5] != 0;
      m.tokens = static_cast<int64_t>(row[6]);
      m.seconds = row[7];
      restored.push_back(m);
    }

    for (size_t p = 0; p < params.size(); ++p) {
      params[p].value = std::move(values[p]);
      for (size_t slot = 0; slot < slots.size(); ++slot)
        opt->state(slot, p) = std::move(states[slot][p]);
    }
    opt->setSteps(optimizerSteps);
    hostStale = false;
    deviceStale = true; // the next device-resident step uploads these
    if (scaler)
      scaler->restore(scale, tracker);
    iter = step;
    records = std::move(restored);
    return ROTOR_OK;
  });
}

rotor_status Trainer::exportWeights(const std::string &path) const {
  return guard([&]() -> rotor_status {
    if (rotor_status s = syncHost())
      return s;
    TensorList list;
    for (const Parameter &param : params)
      if (rotor_status s = list.addValue(param))
        return s;
    return io::writeSafetensors(path, list.named, {{"format", "pt"}});
  });
}

rotor_status Trainer::writeBatches(const std::string &path, int64_t first,
                                   int64_t count) const {
  return guard([&]() -> rotor_status {
    if (first < 0 || count < 1)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "batches ", first, " + ", count,
                  ": the first must be >= 0 and the count >= 1");
    int64_t rowSize = cfg.batch * cfg.seq;
    std::vector<int64_t> ids, labels;
    ids.reserve(static_cast<size_t>(count * rowSize));
    labels.reserve(static_cast<size_t>(count * rowSize));
    for (int64_t t = first; t < first + count; ++t) {
      Batch batch = task->make(static_cast<uint64_t>(t), cfg.batch, cfg.seq);
      ids.insert(ids.end(), batch.inputIds.begin(), batch.inputIds.end());
      labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
    }
    TensorList list;
    std::vector<int64_t> shape = {count, cfg.batch, cfg.seq};
    if (rotor_status s = list.add("input_ids", ROTOR_I64, shape, ids.data()))
      return s;
    if (rotor_status s = list.add("labels", ROTOR_I64, shape, labels.data()))
      return s;
    std::vector<std::pair<std::string, std::string>> metadata;
    for (const auto &[name, value] : cfg.toOptions())
      metadata.emplace_back(metadataPrefix + name, value);
    metadata.emplace_back(std::string(metadataPrefix) + "first_batch",
                          std::to_string(first));
    return io::writeSafetensors(path, list.named, metadata);
  });
}
