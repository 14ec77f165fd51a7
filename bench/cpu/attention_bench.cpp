//===- attention_bench.cpp - CPU attention next to the machine's GEMM -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Runs compiled attention artifacts through the runtime's C API and reports
// GFLOP/s (counted from the unmasked (query, key) pairs only) next to
// OpenBLAS sgemm measured in the same run with the same thread count, and
// the peak extra memory of one call at growing sequence lengths.
//
//   attention-bench --artifact NAME=DIR[:MASK] ... [--seq N] [--heads H]
//                   [--head-dim D] [--memory-seqs 4096,8192,...]
//
// MASK is `causal` or `window:W` (causal sliding window of W keys).
//
//===----------------------------------------------------------------------===//

#include "rotor/runtime.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

double seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "attention-bench: error: %s\n", message.c_str());
  std::exit(1);
}

void check(rotor_status status, const char *what) {
  if (status != ROTOR_OK)
    die(std::string(what) + ": " + rotor_last_error());
}

struct Case {
  std::string name, dir;
  bool causal = true;
  int64_t window = 0; // 0: none
};

/// Number of visible (query, key) pairs of a causal mask, optionally with a
/// sliding window of `window` keys, for `s` queries and keys.
double visiblePairs(int64_t s, int64_t window) {
  double pairs = 0;
  for (int64_t i = 0; i < s; ++i)
    pairs += window > 0 ? std::min<int64_t>(i + 1, window) : i + 1;
  return pairs;
}

/// Median time of `fn` over `reps` runs after one warm-up run.
template <typename F> double medianTime(int reps, F &&fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    double start = seconds();
    fn();
    t.push_back(seconds() - start);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double gemmGflops(int n) {
  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto &x : a)
    x = u(rng);
  for (auto &x : b)
    x = u(rng);
  double t = medianTime(5, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  return 2.0 * n * n * n / t / 1e9;
}

/// Runs entry `f` of `art` once on random q, k, v of shape (1, h, s, d).
struct AttentionRun {
  rotor_artifact *art;
  std::vector<float> q, k, v;
  std::vector<int64_t> shape;
  AttentionRun(rotor_artifact *art, int64_t h, int64_t s, int64_t d)
      : art(art), q(size_t(h) * s * d), k(q.size()), v(q.size()),
        shape{1, h, s, d} {
    std::mt19937 rng(2);
    std::normal_distribution<float> n;
    for (auto *buf : {&q, &k, &v})
      for (auto &x : *buf)
        x = n(rng);
  }
  void operator()() {
    rotor_tensor *in[3];
    float *data[3] = {q.data(), k.data(), v.data()};
    for (int i = 0; i < 3; ++i)
      check(rotor_tensor_wrap(ROTOR_F32, 4, shape.data(), data[i], &in[i]),
            "wrap");
    rotor_tensor *out = nullptr;
    check(rotor_call(art, "f", in, 3, &out, 1), "call");
    rotor_tensor_free(out);
    for (auto *t : in)
      rotor_tensor_free(t);
  }
};

/// A field of /proc/self/status in KiB (VmRSS: now, VmHWM: the peak).
long statusKiB(const char *field) {
  long value = -1;
  if (FILE *f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    size_t n = std::strlen(field);
    while (std::fgets(line, sizeof(line), f))
      if (std::strncmp(line, field, n) == 0 && line[n] == ':')
        value = std::atol(line + n + 1);
    std::fclose(f);
  }
  return value;
}

/// Runs `fn` while a second thread samples the resident size every 100 µs;
/// returns the largest sample. (The kernel updates VmHWM and ru_maxrss
/// only when memory is unmapped, so they miss heap growth.)
template <typename F> long peakRssDuring(F &&fn) {
  std::atomic<bool> done{false};
  std::atomic<long> peak{statusKiB("VmRSS")};
  std::thread sampler([&] {
    while (!done.load()) {
      long now = statusKiB("VmRSS");
      if (now > peak.load())
        peak.store(now);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  fn();
  done.store(true);
  sampler.join();
  return peak.load();
}

/// Peak extra memory (KiB) of one call at length `s`, measured in a fresh
/// process (this program with --measure-one), so that no heap state of the
/// benchmark runs hides or adds memory.
long peakExtraKiB(const Case &c, int64_t s, int64_t d) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    die("cannot find this program's path");
  self[n] = 0;
  std::string cmd = std::string("'") + self + "' --measure-one '" + c.dir + "' " +
                    std::to_string(s) + " " + std::to_string(d);
  FILE *p = popen(cmd.c_str(), "r");
  if (!p)
    die("cannot run " + cmd);
  long extra = -1;
  if (std::fscanf(p, "%ld", &extra) != 1)
    extra = -1;
  if (pclose(p) != 0 || extra < 0)
    die("memory measurement of " + c.name + " at length " +
        std::to_string(s) + " failed");
  return extra;
}

/// --measure-one DIR S D: prints the peak extra KiB of one call.
int measureOne(const char *dir, int64_t s, int64_t d) {
  rotor_artifact *art = nullptr;
  check(rotor_artifact_load(dir, ROTOR_DEVICE_CPU, &art), "load");
  AttentionRun run(art, 1, s, d);
  long before = statusKiB("VmRSS");
  std::printf("%ld\n", peakRssDuring(run) - before);
  rotor_artifact_free(art);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 5 && std::strcmp(argv[1], "--measure-one") == 0)
    return measureOne(argv[2], std::atoll(argv[3]), std::atoll(argv[4]));
  std::vector<Case> cases;
  int64_t seq = 4096, heads = 4, headDim = 128;
  std::vector<int64_t> memorySeqs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--artifact") {
      std::string v = value();
      Case c;
      size_t eq = v.find('=');
      if (eq == std::string::npos)
        die("--artifact expects NAME=DIR[:MASK], got " + v);
      c.name = v.substr(0, eq);
      std::string rest = v.substr(eq + 1);
      size_t colon = rest.find(':');
      c.dir = rest.substr(0, colon);
      if (colon != std::string::npos) {
        std::string mask = rest.substr(colon + 1);
        if (mask.rfind("window:", 0) == 0)
          c.window = std::atoll(mask.c_str() + 7);
        else if (mask != "causal")
          die("unknown mask '" + mask + "' (causal or window:W)");
      }
      cases.push_back(c);
    } else if (a == "--seq") {
      seq = std::atoll(value().c_str());
    } else if (a == "--heads") {
      heads = std::atoll(value().c_str());
    } else if (a == "--head-dim") {
      headDim = std::atoll(value().c_str());
    } else if (a == "--memory-seqs") {
      std::string v = value();
      for (char *tok = std::strtok(v.data(), ","); tok;
           tok = std::strtok(nullptr, ","))
        memorySeqs.push_back(std::atoll(tok));
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: attention-bench --artifact NAME=DIR[:causal|:window:W]"
                  " ... [--seq N] [--heads H] [--head-dim D]"
                  " [--memory-seqs N,N,...]\n");
      return 0;
    } else {
      die("unknown argument '" + a + "' (see --help)");
    }
  }
  if (cases.empty())
    die("no --artifact given");

  double gemm = gemmGflops(2048);
  std::printf("| what | ms | GFLOP/s | of sgemm |\n|---|---|---|---|\n");
  std::printf("| OpenBLAS sgemm 2048³ | | %.1f | 100%% |\n", gemm);
  for (const Case &c : cases) {
    rotor_artifact *art = nullptr;
    check(rotor_artifact_load(c.dir.c_str(), ROTOR_DEVICE_CPU, &art), "load");
    AttentionRun run(art, heads, seq, headDim);
    double t = medianTime(5, run);
    double flops = 4.0 * heads * headDim * visiblePairs(seq, c.window);
    std::printf("| %s (1x%lldx%lldx%lld) | %.1f | %.1f | %.0f%% |\n",
                c.name.c_str(), (long long)heads, (long long)seq,
                (long long)headDim, t * 1e3, flops / t / 1e9,
                100.0 * flops / t / 1e9 / gemm);
    rotor_artifact_free(art);
  }
  if (!memorySeqs.empty()) {
    const Case &c = cases.back();
    std::printf("\n| sequence | q+k+v MiB | output MiB | peak extra MiB | "
                "S×S f32 would be MiB |\n|---|---|---|---|---|\n");
    for (int64_t s : memorySeqs) {
      double tensor = 4.0 * s * headDim / (1 << 20); // one head
      long extra = peakExtraKiB(c, s, headDim);
      std::printf("| %lld | %.1f | %.1f | %.1f | %.0f |\n", (long long)s,
                  3 * tensor, tensor, extra / 1024.0,
                  4.0 * s * s / (1 << 20));
    }
  }
  return 0;
}
