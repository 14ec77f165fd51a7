//===- rotor-run.cpp - Runs Rotor artifacts from the command line ---------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Dispatches to a subcommand: `rotor-run NAME ARGS...` runs subcommand NAME
// if there is one; otherwise the arguments go to the default subcommand,
// `run` (so `rotor-run ARTIFACT_DIR ...` runs an artifact).
//
//===----------------------------------------------------------------------===//

#include "CommandLine.h"
#include "Subcommands.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

using namespace rotor::tool;

namespace {

struct Subcommand {
  const char *name;
  const char *summary;
  int (*main)(const std::vector<std::string> &args);
  void (*printHelp)();
};

/// The subcommands; the first is the default.
const Subcommand subcommands[] = {
    {"run", "run one entry of an artifact on inputs (the default)", runCommand,
     printRunHelp},
    {"generate", "greedy token generation with a model artifact's KV cache",
     generateCommand, printGenerateHelp},
    {"train", "train a train_step artifact on a synthetic task",
     trainCommand, printTrainHelp},
};

void printSubcommands() {
  std::cout << "\nSUBCOMMANDS (rotor-run SUBCOMMAND --help for details):\n";
  size_t width = 0;
  for (const Subcommand &command : subcommands)
    width = std::max(width, std::strlen(command.name));
  for (const Subcommand &command : subcommands)
    std::cout << "  " << command.name
              << std::string(width - std::strlen(command.name) + 2, ' ')
              << command.summary << "\n";
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const Subcommand *command = &subcommands[0];
  if (!args.empty()) {
    for (const Subcommand &candidate : subcommands) {
      if (args[0] == candidate.name) {
        command = &candidate;
        args.erase(args.begin());
        break;
      }
    }
  }
  for (const std::string &arg : args) {
    if (arg == "--")
      break;
    if (arg == "--help" || arg == "-help" || arg == "-h") {
      command->printHelp();
      printSubcommands();
      return 0;
    }
  }
  return command->main(args);
}
