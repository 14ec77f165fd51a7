//===- Subcommands.h - The subcommands of rotor-run -------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Each subcommand is a main-like function taking the arguments after the
// subcommand name. To add one, declare it here and list it in the table in
// rotor-run.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TOOLS_SUBCOMMANDS_H
#define ROTOR_TOOLS_SUBCOMMANDS_H

#include <string>
#include <vector>

namespace rotor::tool {

/// `rotor-run [run] ARTIFACT_DIR ...`: runs one entry (RunCommand.cpp).
int runCommand(const std::vector<std::string> &args);

/// Prints the `run` subcommand's --help text.
void printRunHelp();

/// `rotor-run generate ARTIFACT_DIR ...`: greedy generation with a model
/// artifact's prefill/decode (or forward) entries (GenerateCommand.cpp).
int generateCommand(const std::vector<std::string> &args);

/// Prints the `generate` subcommand's --help text.
void printGenerateHelp();

/// `rotor-run train ARTIFACT_DIR ...`: trains the parameters of a
/// train_step entry on a synthetic task (TrainCommand.cpp).
int trainCommand(const std::vector<std::string> &args);

/// Prints the `train` subcommand's --help text.
void printTrainHelp();

} // namespace rotor::tool

#endif // ROTOR_TOOLS_SUBCOMMANDS_H
