//===- nvrtc_check.cpp - Compiles a kernels.cu with NVRTC ----------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
//   rotor-nvrtc-check [--arch=sm_90a] [-I DIR]... [-o OUT.cubin] FILE.cu
//
// Compiles FILE.cu to a cubin with NVRTC, as the GPU runtime does at load
// time, and checks that every `rotor_kN` kernel the file defines (by name)
// made it into the cubin. Needs no GPU. Exit 0 on success; 1 with the NVRTC
// log on a compile error; 2 on bad usage or I/O errors.
//
//===----------------------------------------------------------------------===//

#include <nvrtc.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

int usage(const char *argv0) {
  std::fprintf(stderr, "usage: %s [--arch=sm_XX] [-I DIR]... [-o OUT.cubin] FILE.cu\n", argv0);
  return 2;
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

} // namespace

int main(int argc, char **argv) {
  std::string arch = "sm_90a", file, outPath;
  std::vector<std::string> includes;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--arch=", 0) == 0)
      arch = a.substr(7);
    else if (a == "-I" && i + 1 < argc)
      includes.push_back(argv[++i]);
    else if (a.rfind("-I", 0) == 0 && a.size() > 2)
      includes.push_back(a.substr(2));
    else if (a == "-o" && i + 1 < argc)
      outPath = argv[++i];
    else if (a == "--help" || a == "-h")
      return usage(argv[0]), 0;
    else if (!a.empty() && a[0] != '-' && file.empty())
      file = a;
    else
      return usage(argv[0]);
  }
  if (file.empty())
    return usage(argv[0]);
  std::string src;
  if (!readFile(file, src)) {
    std::fprintf(stderr, "rotor-nvrtc-check: cannot read '%s'\n", file.c_str());
    return 2;
  }

  nvrtcProgram prog;
  if (nvrtcCreateProgram(&prog, src.c_str(), file.c_str(), 0, nullptr, nullptr) !=
      NVRTC_SUCCESS) {
    std::fprintf(stderr, "rotor-nvrtc-check: nvrtcCreateProgram failed\n");
    return 2;
  }
  std::vector<std::string> opts = {"--gpu-architecture=" + arch, "-std=c++17"};
  for (const std::string &d : includes)
    opts.push_back("-I" + d);
  std::vector<const char *> optPtrs;
  for (const std::string &o : opts)
    optPtrs.push_back(o.c_str());
  nvrtcResult res = nvrtcCompileProgram(prog, (int)optPtrs.size(), optPtrs.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    nvrtcGetProgramLog(prog, &log[0]);
  if (res != NVRTC_SUCCESS) {
    std::fprintf(stderr, "rotor-nvrtc-check: %s: %s\n%s\n", file.c_str(),
                 nvrtcGetErrorString(res), log.c_str());
    nvrtcDestroyProgram(&prog);
    return 1;
  }
  size_t cubinSize = 0;
  nvrtcGetCUBINSize(prog, &cubinSize);
  std::string cubin(cubinSize, '\0');
  if (cubinSize)
    nvrtcGetCUBIN(prog, &cubin[0]);
  nvrtcDestroyProgram(&prog);
  if (cubinSize == 0) {
    std::fprintf(stderr, "rotor-nvrtc-check: %s: NVRTC produced no cubin for %s\n", file.c_str(),
                 arch.c_str());
    return 1;
  }

  // Every kernel the source defines must be in the cubin's symbol names.
  std::set<std::string> kernels;
  std::regex def(R"(\b(rotor_k[0-9]+)\s*\(\s*const\s+__grid_constant__)");
  for (auto it = std::sregex_iterator(src.begin(), src.end(), def); it != std::sregex_iterator();
       ++it)
    kernels.insert((*it)[1]);
  std::regex macroDef(R"(ROTOR_(?:ATTENTION|ATTENTION_BWD|SIMPLE)\((rotor_k[0-9]+)\s*,)");
  for (auto it = std::sregex_iterator(src.begin(), src.end(), macroDef);
       it != std::sregex_iterator(); ++it)
    kernels.insert((*it)[1]);
  int missing = 0;
  for (const std::string &k : kernels) {
    std::string needle = k;
    needle.push_back('\0');
    if (cubin.find(needle) == std::string::npos ||
        cubin.find(k + "_cfg") == std::string::npos) {
      std::fprintf(stderr, "rotor-nvrtc-check: %s: kernel '%s' or '%s_cfg' missing from cubin\n",
                   file.c_str(), k.c_str(), k.c_str());
      ++missing;
    }
  }
  if (missing)
    return 1;
  if (!outPath.empty()) {
    std::string tmp = outPath + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(cubin.data(), (std::streamsize)cubin.size());
      if (!out) {
        std::fprintf(stderr, "rotor-nvrtc-check: cannot write '%s'\n", tmp.c_str());
        return 2;
      }
    }
    if (std::rename(tmp.c_str(), outPath.c_str()) != 0) {
      std::fprintf(stderr, "rotor-nvrtc-check: cannot rename to '%s'\n", outPath.c_str());
      return 2;
    }
  }
  std::printf("rotor-nvrtc-check: %s: %zu kernels, cubin %zu bytes for %s\n", file.c_str(),
              kernels.size(), cubinSize, arch.c_str());
  return 0;
}
