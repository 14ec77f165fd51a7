//===- TrainCommand.cpp - The `train` subcommand of rotor-run -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
//   rotor-run train ARTIFACT_DIR --task=copy|sort --steps N --batch B --seq S
//       [--lr X --optimizer adamw|sgd --warmup W --clip C ...]
//       [--checkpoint-dir DIR [--save-every N]] [--resume CKPT|DIR]
//       [--log metrics.jsonl|metrics.csv] [--plot loss.png] [--export W]
//       [--dump-batches batches.safetensors]
//
// Trains the parameters of an artifact's train_step entry on a synthetic
// task (rotor/train.h; docs/training.md). Progress goes to stderr: a bar
// redrawn in place on a terminal, plain lines otherwise. The metrics log
// gets one row per step as it goes; on resume it is first rewritten
// (atomically) with the rows stored in the checkpoint, so it always holds
// the whole run. Checkpoints, the plot and the exported weights are written
// atomically.
//
//===----------------------------------------------------------------------===//

#include "CommandLine.h"
#include "Subcommands.h"
#include "rotor/Handles.h"
#include "rotor/train.h"

#include "support/AtomicFile.h"
#include "support/FileSystem.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <iostream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace rotor;
using namespace rotor::tool;
using namespace rotor::train;
using OptionKind = OptionSpec::Kind;

namespace {

/// The training options with their help; flags are the boolean ones.
std::vector<OptionSpec> trainOptions() {
  std::vector<OptionSpec> specs = {
      {"task", OptionKind::Value, "copy|sort",
       "the synthetic task (default copy): copy or sort a random sequence "
       "after a separator"},
      {"steps", OptionKind::Value, "N", "training steps (default 200)"},
      {"batch", OptionKind::Value, "B", "sequences per step (default 8)"},
      {"seq", OptionKind::Value, "S", "sequence length (default 17)"},
      {"seed", OptionKind::Value, "N", "data seed (default 0)"},
      {"optimizer", OptionKind::Value, "adamw|sgd", "default adamw"},
      {"lr", OptionKind::Value, "X", "peak learning rate (default 0.001)"},
      {"min-lr", OptionKind::Value, "X",
       "learning rate at the end of the cosine decay (default 0)"},
      {"warmup", OptionKind::Value, "N",
       "linear warmup steps (default 0)"},
      {"schedule", OptionKind::Value, "cosine|constant",
       "after warmup: cosine decay to --min-lr, or constant (default "
       "cosine)"},
      {"weight-decay", OptionKind::Value, "X",
       "decoupled for adamw, L2 for sgd (default 0.01 for adamw, 0 for sgd); "
       "not applied to parameters of rank 0 or 1 unless --decay-all"},
      {"decay-all", OptionKind::Flag, "",
       "apply weight decay to every parameter"},
      {"beta1", OptionKind::Value, "X", "adamw (default 0.9)"},
      {"beta2", OptionKind::Value, "X", "adamw (default 0.999)"},
      {"eps", OptionKind::Value, "X", "adamw (default 1e-8)"},
      {"momentum", OptionKind::Value, "X", "sgd (default 0)"},
      {"dampening", OptionKind::Value, "X", "sgd (default 0)"},
      {"nesterov", OptionKind::Flag, "", "sgd: Nesterov momentum"},
      {"clip", OptionKind::Value, "X",
       "clip the global gradient norm to X; 0 disables (default 1)"},
      {"loss-scale", OptionKind::Value, "none|dynamic",
       "dynamic loss scaling for f16 gradients; needs a 'loss_scale' input "
       "(default none)"},
      {"loss-scale-init", OptionKind::Value, "X",
       "initial loss scale (default 65536)"},
      {"loss-scale-growth-interval", OptionKind::Value, "N",
       "finite steps before the scale doubles (default 2000)"},
      {"checkpoint-dir", OptionKind::Value, "DIR",
       "write DIR/checkpoint-STEP.safetensors at the end (and every "
       "--save-every steps) and DIR/model.safetensors, the final weights"},
      {"save-every", OptionKind::Value, "N",
       "checkpoint every N steps (needs --checkpoint-dir)"},
      {"resume", OptionKind::Value, "CKPT|DIR",
       "continue from a checkpoint (or the latest in DIR); options not "
       "given are taken from it, options given must match it"},
      {"log", OptionKind::Value, "FILE",
       "metrics per step: JSON lines (.jsonl) or CSV (.csv)"},
      {"plot", OptionKind::Value, "FILE.png", "plot the loss curve"},
      {"dump-batches", OptionKind::Value, "FILE.safetensors",
       "before training, write the batches of the steps to run (input_ids, "
       "labels: I64 (steps, batch, seq)) for a reference implementation"},
      {"export", OptionKind::Value, "FILE",
       "write the final weights (Hugging Face names) as .safetensors"},
      {"log-every", OptionKind::Value, "N",
       "progress line interval when stderr is not a terminal (default: "
       "about 20 lines per run)"},
      {"quiet", OptionKind::Flag, "", "no progress output"},
      {"device", OptionKind::Value, "cpu|cuda",
       "device to run on (default cpu)"},
      {"help", OptionKind::Flag, "", "print this help"},
  };
  return specs;
}

bool isFlagOption(const std::string &name) {
  return name == "nesterov" || name == "decay-all";
}

bool parseCount(const std::string &option, const std::string &text,
                int64_t &out, std::string &error) {
  const char *first = text.data(), *last = first + text.size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (first == last || ec != std::errc() || ptr != last || out < 1) {
    error = "--" + option + " must be a positive integer, got '" + text + "'";
    return false;
  }
  return true;
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "checkpoint-00000120.safetensors".
std::string checkpointName(int64_t step) {
  char name[64];
  std::snprintf(name, sizeof(name), "checkpoint-%08lld.safetensors",
                static_cast<long long>(step));
  return name;
}

/// The checkpoint with the highest step in `dir`, or "" if none.
std::string latestCheckpoint(const std::string &dir) {
  DIR *handle = opendir(dir.c_str());
  if (!handle)
    return "";
  std::string best;
  while (dirent *item = readdir(handle)) {
    std::string name = item->d_name;
    if (name.rfind("checkpoint-", 0) == 0 &&
        endsWith(name, ".safetensors") && name > best)
      best = name;
  }
  closedir(handle);
  return best.empty() ? "" : joinPath(dir, best);
}

std::string formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    seconds = 0;
  long total = static_cast<long>(seconds + 0.5);
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof(text), "%ld:%02ld:%02ld", total / 3600,
                  total / 60 % 60, total % 60);
  else
    std::snprintf(text, sizeof(text), "%ld:%02ld", total / 60, total % 60);
  return text;
}

std::string formatNumber(const char *format, double value) {
  char text[48];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

/// A real for JSON: NaN and infinities become null.
std::string jsonReal(double value) {
  return std::isfinite(value) ? formatNumber("%.9g", value) : "null";
}

/// The metrics file: JSON lines or CSV, one row per step.
class MetricsLog {
public:
  bool open(const std::string &target, const std::vector<StepMetrics> &rows,
            std::string &error) {
    path = target;
    if (endsWith(path, ".jsonl") || endsWith(path, ".json"))
      csv = false;
    else if (endsWith(path, ".csv"))
      csv = true;
    else {
      error = "--log: '" + path +
              "' must end in .jsonl (JSON lines) or .csv";
      return false;
    }
    // The rows so far (those of a resumed checkpoint), atomically.
    std::string text = csv ? "step,loss,lr,grad_norm,loss_scale,skipped,"
                             "tokens,seconds,tokens_per_s\n"
                           : "";
    for (const StepMetrics &row : rows)
      text += format(row);
    AtomicFileWriter writer;
    if (writer.open(path) != ROTOR_OK ||
        writer.write(text.data(), text.size()) != ROTOR_OK ||
        writer.commit() != ROTOR_OK) {
      error = std::string("--log: ") + rotor_last_error();
      return false;
    }
    file = std::fopen(path.c_str(), "a");
    if (!file) {
      error = "--log: cannot append to '" + path + "'";
      return false;
    }
    return true;
  }

  ~MetricsLog() {
    if (file)
      std::fclose(file);
  }

  bool append(const StepMetrics &row) {
    if (!file)
      return true;
    std::string line = format(row);
    return std::fwrite(line.data(), 1, line.size(), file) == line.size() &&
           std::fflush(file) == 0;
  }

private:
  std::string format(const StepMetrics &m) const {
    double rate = m.seconds > 0 ? m.tokens / m.seconds : 0;
    if (csv)
      return std::to_string(m.step) + "," + formatNumber("%.9g", m.loss) +
             "," + formatNumber("%.9g", m.lr) + "," +
             formatNumber("%.9g", m.gradNorm) + "," +
             formatNumber("%.9g", m.lossScale) + "," +
             (m.skipped ? "1" : "0") + "," + std::to_string(m.tokens) + "," +
             formatNumber("%.6g", m.seconds) + "," +
             formatNumber("%.1f", rate) + "\n";
    return "{\"step\": " + std::to_string(m.step) +
           ", \"loss\": " + jsonReal(m.loss) + ", \"lr\": " + jsonReal(m.lr) +
           ", \"grad_norm\": " + jsonReal(m.gradNorm) +
           ", \"loss_scale\": " + jsonReal(m.lossScale) +
           ", \"skipped\": " + (m.skipped ? "true" : "false") +
           ", \"tokens\": " + std::to_string(m.tokens) +
           ", \"seconds\": " + formatNumber("%.6g", m.seconds) +
           ", \"tokens_per_s\": " + formatNumber("%.1f", rate) + "}\n";
  }

  std::string path;
  bool csv = false;
  FILE *file = nullptr;
};

/// The progress display on stderr.
class Progress {
public:
  Progress(int64_t first, int64_t total, int64_t every, bool quiet)
      : first(first), total(total), every(every), quiet(quiet),
        terminal(isatty(2) != 0),
        start(std::chrono::steady_clock::now()) {}

  void update(const StepMetrics &m) {
    tokens += m.tokens;
    if (quiet)
      return;
    double elapsed = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    int64_t done = m.step - first;
    double eta = done > 0 ? elapsed / done * (total - m.step) : 0;
    std::string stats =
        "step " + std::to_string(m.step) + "/" + std::to_string(total) +
        "  loss " + formatNumber("%.4g", m.loss) + "  lr " +
        formatNumber("%.2e", m.lr) + "  " +
        formatNumber("%.0f", elapsed > 0 ? tokens / elapsed : 0) +
        " tok/s  ETA " + formatDuration(eta) + (m.skipped ? "  (skipped)" : "");
    if (terminal) {
      double now = elapsed;
      if (m.step != total && now - lastDraw < 0.1)
        return;
      lastDraw = now;
      constexpr int width = 24;
      int filled = static_cast<int>(width * m.step / total);
      std::cerr << "\r[" << std::string(filled, '#')
                << std::string(width - filled, '.') << "] " << stats
                << "\x1b[K" << (m.step == total ? "\n" : "") << std::flush;
    } else if (m.step % every == 0 || m.step == total || m.step == first + 1) {
      std::cerr << stats << "\n";
    }
  }

private:
  int64_t first, total, every;
  bool quiet, terminal;
  std::chrono::steady_clock::time_point start;
  double lastDraw = -1;
  int64_t tokens = 0;
};

bool ensureDirectory(const std::string &dir, std::string &error) {
  if (isDirectory(dir))
    return true;
  if (::mkdir(dir.c_str(), 0777) != 0) {
    error = "--checkpoint-dir: cannot create directory '" + dir +
            "': " + errnoMessage(errno);
    return false;
  }
  return true;
}

} // namespace

void rotor::tool::printTrainHelp() {
  std::cout
      << "OVERVIEW: train an artifact's parameters on a synthetic task\n\n"
         "USAGE: rotor-run train ARTIFACT_DIR [options]\n\n"
         "Calls the artifact's 'train_step' entry (rotorc --train) on seeded "
         "batches of the\ncopy or sort task and updates its parameters (f32, "
         "initial values from the\nartifact's weights file) with AdamW or "
         "SGD, a warmup + cosine learning-rate\nschedule and global-norm "
         "clipping. See docs/training.md.\n\nOPTIONS:\n";
  ArgParser(trainOptions()).printOptions(std::cout);
}

int rotor::tool::trainCommand(const std::vector<std::string> &args) {
  ArgParser parser(trainOptions());
  std::string dir;
  int exitCode;
  if (!parseArtifactCommand(parser, args, "rotor-run train ARTIFACT_DIR [options]",
                            dir, exitCode))
    return exitCode;
  std::string error;

  // The configuration: from the checkpoint when resuming, then the options
  // given (which must agree with a checkpoint).
  std::string resumePath;
  TrainConfig config;
  if (parser.has("resume")) {
    resumePath = parser.value("resume");
    if (isDirectory(resumePath)) {
      std::string latest = latestCheckpoint(resumePath);
      if (latest.empty())
        return reportError("--resume: no checkpoint-*.safetensors in '" +
                           resumePath + "'");
      resumePath = latest;
    }
    if (Trainer::readCheckpointConfig(resumePath, config) != ROTOR_OK)
      return reportError(std::string("--resume: ") + rotor_last_error());
  }
  std::vector<std::pair<std::string, std::string>> stored = config.toOptions();
  for (const std::string &name : trainOptionNames()) {
    if (!parser.has(name))
      continue;
    std::string value = isFlagOption(name) ? "true" : parser.value(name);
    if (config.set(name, value) != ROTOR_OK)
      return reportError(std::string("--") + rotor_last_error());
  }
  if (!resumePath.empty()) {
    std::vector<std::pair<std::string, std::string>> merged =
        config.toOptions();
    for (size_t i = 0; i < merged.size(); ++i)
      if (merged[i].second != stored[i].second)
        return reportError(
            "--" + merged[i].first + "=" + merged[i].second +
            " differs from the checkpoint's " + merged[i].first + "=" +
            stored[i].second + " (" + resumePath +
            "); a resumed run keeps its configuration");
  }
  if (config.validate() != ROTOR_OK)
    return reportError(std::string("--") + rotor_last_error());

  int64_t saveEvery = 0, logEvery = std::max<int64_t>(1, config.steps / 20);
  if (parser.has("save-every")) {
    if (!parseCount("save-every", parser.value("save-every"), saveEvery,
                    error))
      return reportError(error);
    if (!parser.has("checkpoint-dir"))
      return reportError("--save-every needs --checkpoint-dir");
  }
  if (parser.has("log-every") &&
      !parseCount("log-every", parser.value("log-every"), logEvery, error))
    return reportError(error);
  std::string checkpointDir = parser.value("checkpoint-dir");
  if (parser.has("plot") && !endsWith(parser.value("plot"), ".png"))
    return reportError("--plot: '" + parser.value("plot") +
                       "' must end in .png");
  if (parser.has("dump-batches") &&
      !endsWith(parser.value("dump-batches"), ".safetensors"))
    return reportError("--dump-batches: '" + parser.value("dump-batches") +
                       "' must end in .safetensors");
  rotor_device device;
  if (rotor_device_from_name(parser.value("device", "cpu").c_str(), &device) !=
      ROTOR_OK)
    return reportError(std::string("--device: ") + rotor_last_error());

  rotor_artifact *loaded;
  if (rotor_artifact_load(dir.c_str(), device, &loaded) != ROTOR_OK)
    return reportError(rotor_last_error());
  ArtifactPtr artifact(loaded);
  std::unique_ptr<Trainer> trainer;
  if (Trainer::create(artifact.get(), config, trainer) != ROTOR_OK)
    return reportError(rotor_last_error());
  if (!resumePath.empty()) {
    if (trainer->resume(resumePath) != ROTOR_OK)
      return reportError(std::string("--resume: ") + rotor_last_error());
    if (trainer->iteration() > config.steps)
      return reportError("--resume: the checkpoint is at step " +
                         std::to_string(trainer->iteration()) +
                         ", past --steps=" + std::to_string(config.steps));
  }
  if (parser.has("dump-batches") &&
      trainer->writeBatches(parser.value("dump-batches"), trainer->iteration(),
                            config.steps - trainer->iteration()) != ROTOR_OK)
    return reportError(std::string("--dump-batches: ") + rotor_last_error());
  if (!checkpointDir.empty() && !ensureDirectory(checkpointDir, error))
    return reportError(error);
  MetricsLog log;
  if (parser.has("log") &&
      !log.open(parser.value("log"), trainer->history(), error))
    return reportError(error);

  auto saveCheckpoint = [&]() {
    std::string path =
        joinPath(checkpointDir, checkpointName(trainer->iteration()));
    return trainer->save(path) == ROTOR_OK;
  };
  int64_t first = trainer->iteration();
  Progress progress(first, config.steps, logEvery, parser.has("quiet"));
  auto start = std::chrono::steady_clock::now();
  while (trainer->iteration() < config.steps) {
    StepMetrics metrics;
    if (trainer->step(metrics) != ROTOR_OK)
      return reportError(rotor_last_error());
    progress.update(metrics);
    if (!log.append(metrics))
      return reportError("--log: cannot write '" + parser.value("log") + "'");
    if (saveEvery && metrics.step % saveEvery == 0 &&
        metrics.step != config.steps && !saveCheckpoint())
      return reportError(rotor_last_error());
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();

  if (!checkpointDir.empty()) {
    if (!saveCheckpoint() ||
        trainer->exportWeights(joinPath(checkpointDir, "model.safetensors")) !=
            ROTOR_OK)
      return reportError(rotor_last_error());
  }
  if (parser.has("export") &&
      trainer->exportWeights(parser.value("export")) != ROTOR_OK)
    return reportError(std::string("--export: ") + rotor_last_error());
  const std::vector<StepMetrics> &history = trainer->history();
  if (parser.has("plot")) {
    std::vector<double> steps, losses;
    for (const StepMetrics &m : history) {
      steps.push_back(static_cast<double>(m.step));
      losses.push_back(m.loss);
    }
    if (writeLossPlot(parser.value("plot"), steps, losses) != ROTOR_OK)
      return reportError(std::string("--plot: ") + rotor_last_error());
  }

  int64_t done = trainer->iteration() - first, skipped = 0;
  for (const StepMetrics &m : history)
    skipped += m.skipped;
  std::cout << "trained " << done << " steps"
            << (first ? " (resumed at step " + std::to_string(first) + ")"
                      : std::string())
            << " in " << formatNumber("%.2f", seconds) << " s ("
            << formatNumber("%.0f",
                            seconds > 0 ? done * config.batch * config.seq /
                                              seconds
                                        : 0)
            << " tokens/s)\n";
  if (!history.empty())
    std::cout << "loss: " << formatNumber("%.4g", history.front().loss)
              << " at step 1, " << formatNumber("%.4g", history.back().loss)
              << " at step " << history.back().step << "\n";
  if (skipped)
    std::cout << "skipped steps (non-finite gradients): " << skipped << "\n";
  return 0;
}
