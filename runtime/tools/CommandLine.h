//===- CommandLine.h - Option parsing for the runtime tools -----*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A small parser in the style of LLVM tools: options are spelled with one or
// two dashes, values follow '=' or come as the next argument (--entry=NAME,
// --entry NAME, -o OUT), "--" ends the options, anything else is positional.
// Errors are reported as "TOOL: error: MESSAGE" on stderr.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TOOLS_COMMANDLINE_H
#define ROTOR_TOOLS_COMMANDLINE_H

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace rotor::tool {

/// The program name used in messages.
constexpr const char *toolName = "rotor-run";

/// Prints "rotor-run: error: MESSAGE" to stderr; returns the exit code 1.
int reportError(const std::string &message);

/// One option a command accepts.
struct OptionSpec {
  enum class Kind {
    /// Present or absent (--list).
    Flag,
    /// Takes one value; giving it twice is an error (--entry=NAME).
    Value,
    /// Takes one value per occurrence (--input NAME=FILE ...).
    List,
  };
  /// The spelling without dashes: "entry", "o".
  std::string name;
  Kind kind = Kind::Flag;
  /// The value's placeholder in --help ("NAME").
  std::string valueName;
  std::string help;
};

/// Parses command-line arguments against a list of OptionSpecs.
class ArgParser {
public:
  explicit ArgParser(std::vector<OptionSpec> specs) : specs(std::move(specs)) {}

  /// Parses `args`. Returns false and sets `error` on an unknown option, a
  /// missing or unexpected value or a repeated single-value option.
  bool parse(const std::vector<std::string> &args, std::string &error);

  /// Whether option `name` was given.
  bool has(const std::string &name) const;

  /// The value of Value option `name`, or `fallback` if absent.
  std::string value(const std::string &name,
                    const std::string &fallback = "") const;

  /// Every value of option `name`, in order.
  const std::vector<std::string> &values(const std::string &name) const;

  const std::vector<std::string> &positionals() const { return positional; }

  /// Prints the option list, one option per line, for --help.
  void printOptions(std::ostream &os) const;

private:
  const OptionSpec *find(const std::string &name) const;

  std::vector<OptionSpec> specs;
  std::map<std::string, std::vector<std::string>> given;
  std::vector<std::string> positional;
};

/// Parses the arguments of a subcommand that takes exactly one artifact
/// directory. Returns true and sets `dir`; otherwise reports the error
/// (naming `usage`, e.g. "rotor-run train ARTIFACT_DIR [options]") and sets
/// `exitCode`.
bool parseArtifactCommand(ArgParser &parser,
                          const std::vector<std::string> &args,
                          const std::string &usage, std::string &dir,
                          int &exitCode);

} // namespace rotor::tool

#endif // ROTOR_TOOLS_COMMANDLINE_H
