//===- CommandLine.cpp - Option parsing for the runtime tools -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "CommandLine.h"

#include <algorithm>
#include <iostream>
#include <sstream>

using namespace rotor::tool;

int rotor::tool::reportError(const std::string &message) {
  std::cout.flush();
  std::cerr << toolName << ": error: " << message << "\n";
  return 1;
}

const OptionSpec *ArgParser::find(const std::string &name) const {
  for (const OptionSpec &spec : specs)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

bool ArgParser::parse(const std::vector<std::string> &args,
                      std::string &error) {
  bool optionsEnded = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    if (optionsEnded || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      optionsEnded = true;
      continue;
    }
    size_t dashes = arg[1] == '-' ? 2 : 1;
    std::string body = arg.substr(dashes);
    size_t equals = body.find('=');
    std::string name = body.substr(0, equals);
    std::string spelled = arg.substr(0, dashes + name.size());
    const OptionSpec *spec = find(name);
    if (!spec || name.empty()) {
      error = "unknown option '" + spelled + "' (see --help)";
      return false;
    }
    std::vector<std::string> &slot = given[spec->name];
    if (spec->kind == OptionSpec::Kind::Flag) {
      if (equals != std::string::npos) {
        error = "option '" + spelled + "' does not take a value";
        return false;
      }
      slot.push_back("");
      continue;
    }
    std::string value;
    if (equals != std::string::npos) {
      value = body.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      error = "option '" + spelled + "' requires a value (" + spelled + "=" +
              spec->valueName + ")";
      return false;
    }
    if (spec->kind == OptionSpec::Kind::Value && !slot.empty()) {
      error = "option '" + spelled + "' may only be given once";
      return false;
    }
    slot.push_back(value);
  }
  return true;
}

bool ArgParser::has(const std::string &name) const {
  return given.count(name) != 0;
}

std::string ArgParser::value(const std::string &name,
                             const std::string &fallback) const {
  auto it = given.find(name);
  if (it == given.end() || it->second.empty())
    return fallback;
  return it->second.back();
}

const std::vector<std::string> &
ArgParser::values(const std::string &name) const {
  static const std::vector<std::string> none;
  auto it = given.find(name);
  return it == given.end() ? none : it->second;
}

void ArgParser::printOptions(std::ostream &os) const {
  constexpr size_t lineWidth = 80;
  std::vector<std::string> spellings;
  size_t width = 0;
  for (const OptionSpec &spec : specs) {
    std::string spelling = (spec.name.size() == 1 ? "-" : "--") + spec.name;
    if (spec.kind != OptionSpec::Kind::Flag)
      spelling += (spec.name.size() == 1 ? " " : "=") + spec.valueName;
    width = std::max(width, spelling.size());
    spellings.push_back(spelling);
  }
  // "  SPELLING  help text", the help wrapped at word boundaries and
  // continued under its first column.
  size_t indent = 2 + width + 2;
  size_t room = lineWidth > indent + 20 ? lineWidth - indent : 20;
  for (size_t i = 0; i < specs.size(); ++i) {
    os << "  " << spellings[i]
       << std::string(width - spellings[i].size() + 2, ' ');
    std::string line;
    std::istringstream words(specs[i].help);
    std::string word;
    bool first = true;
    while (words >> word) {
      if (!line.empty() && line.size() + 1 + word.size() > room) {
        os << (first ? "" : std::string(indent, ' ')) << line << "\n";
        first = false;
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
    }
    os << (first ? "" : std::string(indent, ' ')) << line << "\n";
  }
}

bool rotor::tool::parseArtifactCommand(ArgParser &parser,
                                       const std::vector<std::string> &args,
                                       const std::string &usage,
                                       std::string &dir, int &exitCode) {
  std::string error;
  if (!parser.parse(args, error)) {
    exitCode = reportError(error);
    return false;
  }
  const std::vector<std::string> &positionals = parser.positionals();
  if (positionals.empty()) {
    exitCode = reportError("no artifact directory given (usage: " + usage +
                           "; see --help)");
    return false;
  }
  if (positionals.size() > 1) {
    exitCode = reportError("unexpected argument '" + positionals[1] +
                           "' (only one artifact directory is taken)");
    return false;
  }
  dir = positionals[0];
  return true;
}
