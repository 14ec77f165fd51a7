//===- SessionTest.cpp - Tests of rotor_session on the CPU ----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Sessions through the generic implementation (Backend::createSession) on
// the hand-written test artifact: accumulate (a state of fixed shape, one
// carried as a scalar, a weight bound by name), the tiny language model's
// decode (caches that grow, returned in another order than taken), and
// every rule and message of the API. The CUDA implementation is tested in
// CudaTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <dlfcn.h>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// Loads the session artifact (sessionManifest) with its weights and reads
/// the test library's buffer counter, so that every test also checks that
/// no entry output leaks.
class SessionTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = makeArtifact(root, "art", sessionManifest());
    writeSessionWeights(dir);
    rotor_artifact *raw = nullptr;
    ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw),
              ROTOR_OK)
        << rotor_last_error();
    artifact.reset(raw);
    library = ::dlopen((dir + "/module.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(library, nullptr);
    liveBuffers = reinterpret_cast<long (*)()>(
        ::dlsym(library, "rotor_test_live_buffers"));
    ASSERT_TRUE(liveBuffers);
  }

  void TearDown() override {
    if (library) {
      EXPECT_EQ(liveBuffers(), 0) << "an output buffer was not released";
      ::dlclose(library);
    }
  }

  /// A session of `entry` with `states`, expecting success.
  SessionPtr create(const char *entry, std::vector<const char *> states) {
    rotor_session *raw = nullptr;
    EXPECT_EQ(rotor_session_create(artifact.get(), entry, states.data(),
                                   states.size(), &raw),
              ROTOR_OK)
        << rotor_last_error();
    return SessionPtr(raw);
  }

  /// rotor_session_create's message, expecting `expected` and no session.
  std::string createError(const char *entry, std::vector<const char *> states,
                          rotor_status expected) {
    rotor_session *raw = reinterpret_cast<rotor_session *>(1);
    EXPECT_EQ(rotor_session_create(artifact.get(), entry, states.data(),
                                   states.size(), &raw),
              expected)
        << rotor_last_error();
    EXPECT_EQ(raw, nullptr);
    return rotor_last_error();
  }

  /// Sets accumulate's states: total (rows x 3) = `total`, count = `count`.
  void setStates(rotor_session *session, const std::vector<double> &total,
                 int64_t count) {
    int64_t rows = int64_t(total.size() / 3);
    TensorPtr t = makeTensor(ROTOR_F32, {rows, 3}, total);
    TensorPtr c = makeTensor(ROTOR_I64, {}, {double(count)});
    ASSERT_EQ(rotor_session_set_state(session, "total", t.get()), ROTOR_OK)
        << rotor_last_error();
    ASSERT_EQ(rotor_session_set_state(session, "count", c.get()), ROTOR_OK)
        << rotor_last_error();
  }

  /// Calls `session` with inputs `names`/`tensors`, expecting success and
  /// `numOutputs` outputs.
  std::vector<TensorPtr> call(rotor_session *session,
                              std::vector<const char *> names,
                              std::vector<const rotor_tensor *> tensors,
                              size_t numOutputs) {
    std::vector<rotor_tensor *> raw(numOutputs, nullptr);
    EXPECT_EQ(rotor_session_call(session, names.data(), tensors.data(),
                                 names.size(), raw.data(), raw.size()),
              ROTOR_OK)
        << rotor_last_error();
    std::vector<TensorPtr> out;
    for (rotor_tensor *t : raw)
      out.emplace_back(t);
    return out;
  }

  /// rotor_session_call's message, expecting `expected` and NULL outputs.
  std::string callError(rotor_session *session, std::vector<const char *> names,
                        std::vector<const rotor_tensor *> tensors,
                        size_t numOutputs, rotor_status expected) {
    std::vector<rotor_tensor *> raw(numOutputs,
                                    reinterpret_cast<rotor_tensor *>(1));
    EXPECT_EQ(rotor_session_call(session, names.data(), tensors.data(),
                                 names.size(), raw.data(), raw.size()),
              expected)
        << rotor_last_error();
    for (rotor_tensor *t : raw)
      EXPECT_EQ(t, nullptr);
    return rotor_last_error();
  }

  /// The value of state `name`, expecting success.
  std::vector<double> state(rotor_session *session, const char *name,
                            std::vector<int64_t> *shape = nullptr) {
    rotor_tensor *raw = nullptr;
    EXPECT_EQ(rotor_session_get_state(session, name, &raw), ROTOR_OK)
        << rotor_last_error();
    TensorPtr value(raw);
    if (!value)
      return {};
    if (shape)
      *shape = tensorShape(value.get());
    return tensorValues(value.get());
  }

  TempDir root;
  std::string dir;
  ArtifactPtr artifact;
  void *library = nullptr;
  long (*liveBuffers)() = nullptr;
};

TEST_F(SessionTest, CarriesStateLikeRepeatedCalls) {
  std::vector<double> initial = {1, 2, 3, -1, -2, -3};
  std::vector<std::vector<double>> xs = {
      {0.5, 1, 2, 4, 8, 16}, {-3, 0.25, 1, 0, 7, -2}, {9, 9, 9, -9, -9, -9}};

  // The reference: rotor_call_named, feeding the states back by hand.
  TensorPtr total = makeTensor(ROTOR_F32, {2, 3}, initial);
  TensorPtr count = makeTensor(ROTOR_I64, {}, {0});
  std::vector<std::vector<double>> means;
  for (const std::vector<double> &xv : xs) {
    TensorPtr x = makeTensor(ROTOR_F32, {2, 3}, xv);
    const char *names[] = {"x", "total", "count"};
    const rotor_tensor *tensors[] = {x.get(), total.get(), count.get()};
    rotor_tensor *out[3] = {};
    ASSERT_EQ(rotor_call_named(artifact.get(), "accumulate", names, tensors, 3,
                               out, 3),
              ROTOR_OK)
        << rotor_last_error();
    count.reset(out[0]);
    means.push_back(tensorValues(out[1]));
    rotor_tensor_free(out[1]);
    total.reset(out[2]);
  }

  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  setStates(session.get(), initial, 0);
  std::vector<double> expectTotal = initial;
  for (size_t c = 0; c < xs.size(); ++c) {
    TensorPtr x = makeTensor(ROTOR_F32, {2, 3}, xs[c]);
    std::vector<TensorPtr> out = call(session.get(), {"x"}, {x.get()}, 1);
    ASSERT_TRUE(out[0]);
    EXPECT_EQ(tensorShape(out[0].get()), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(tensorValues(out[0].get()), means[c]) << "call " << c;
    // And the arithmetic: total += scale * x, mean = total / (c + 1).
    std::vector<double> mean = tensorValues(out[0].get());
    for (size_t e = 0; e < 6; ++e) {
      expectTotal[e] += double(sessionScale[e % 3]) * xs[c][e];
      EXPECT_FLOAT_EQ(mean[e], expectTotal[e] / double(c + 1));
    }
  }
  EXPECT_EQ(state(session.get(), "total"), tensorValues(total.get()));
  EXPECT_EQ(state(session.get(), "count"), (std::vector<double>{3}));
  EXPECT_EQ(rotor_session_graph_replays(session.get()), 0u);
}

TEST_F(SessionTest, SetAndGetCopyTheValue) {
  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  std::vector<double> values = {1.5, -2, 3, 4, 5, 6, 7, 8, 9};
  TensorPtr total = makeTensor(ROTOR_F32, {3, 3}, values);
  ASSERT_EQ(rotor_session_set_state(session.get(), "total", total.get()),
            ROTOR_OK);
  // The session copied it: changing the caller's tensor changes nothing.
  static_cast<float *>(rotor_tensor_data(total.get()))[0] = 100;
  std::vector<int64_t> shape;
  EXPECT_EQ(state(session.get(), "total", &shape), values);
  EXPECT_EQ(shape, (std::vector<int64_t>{3, 3}));
  // get_state returns a new owned tensor each time.
  rotor_tensor *a = nullptr, *b = nullptr;
  ASSERT_EQ(rotor_session_get_state(session.get(), "total", &a), ROTOR_OK);
  ASSERT_EQ(rotor_session_get_state(session.get(), "total", &b), ROTOR_OK);
  EXPECT_NE(rotor_tensor_data(a), rotor_tensor_data(b));
  EXPECT_EQ(rotor_tensor_owns_data(a), 1);
  rotor_tensor_free(a);
  rotor_tensor_free(b);
  // Setting it again with another shape replaces it.
  TensorPtr smaller = makeTensor(ROTOR_F32, {1, 3}, {7, 8, 9});
  ASSERT_EQ(rotor_session_set_state(session.get(), "total", smaller.get()),
            ROTOR_OK);
  EXPECT_EQ(state(session.get(), "total", &shape),
            (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(shape, (std::vector<int64_t>{1, 3}));
}

TEST_F(SessionTest, UnknownNamesAreErrors) {
  std::string message =
      createError("accumulate", {"nope"}, ROTOR_ERR_NOT_FOUND);
  EXPECT_EQ(message, "session of entry 'accumulate': state 'nope' is not an "
                     "input of the entry (it takes 4 inputs (x, total, count, "
                     "scale))");
  EXPECT_THAT(createError("absent", {"total"}, ROTOR_ERR_NOT_FOUND),
              HasSubstr("unknown entry 'absent'"));

  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  TensorPtr t = makeTensor(ROTOR_F32, {1, 3}, {1, 2, 3});
  EXPECT_EQ(rotor_session_set_state(session.get(), "nope", t.get()),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_STREQ(rotor_last_error(),
               "session of entry 'accumulate': no state named 'nope' (its "
               "states are total, count)");
  rotor_tensor *out = reinterpret_cast<rotor_tensor *>(1);
  EXPECT_EQ(rotor_session_get_state(session.get(), "x", &out),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_EQ(out, nullptr);
  EXPECT_THAT(rotor_last_error(), HasSubstr("no state named 'x'"));

  setStates(session.get(), {1, 2, 3}, 0);
  TensorPtr x = makeTensor(ROTOR_F32, {1, 3}, {1, 1, 1});
  EXPECT_EQ(callError(session.get(), {"x", "nope"}, {x.get(), x.get()}, 1,
                      ROTOR_ERR_NOT_FOUND),
            "entry 'accumulate' has no input 'nope' (it takes 4 inputs (x, "
            "total, count, scale))");
  // A state is the session's: naming it in a call is an error.
  EXPECT_EQ(callError(session.get(), {"x", "total"}, {x.get(), t.get()}, 1,
                      ROTOR_ERR_INVALID_ARGUMENT),
            "entry 'accumulate' input 'total' is a state of the session: set "
            "it with rotor_session_set_state, not as an argument of the call");
  EXPECT_THAT(callError(session.get(), {"x", "x"}, {x.get(), x.get()}, 1,
                        ROTOR_ERR_INVALID_ARGUMENT),
              HasSubstr("input 'x' is given twice"));
  // Rejected calls leave the states alone.
  EXPECT_EQ(state(session.get(), "total"), (std::vector<double>{1, 2, 3}));
  std::vector<TensorPtr> mean = call(session.get(), {"x"}, {x.get()}, 1);
  ASSERT_TRUE(mean[0]);
  EXPECT_EQ(tensorValues(mean[0].get()), (std::vector<double>{2, 4, 3.5}));
}

TEST_F(SessionTest, StateDeclarationsAreChecked) {
  EXPECT_EQ(createError("accumulate", {"x"}, ROTOR_ERR_NOT_FOUND),
            "session of entry 'accumulate': state 'x' has no output of its "
            "name to carry it to the next call (the entry returns 3 outputs "
            "(count, mean, total))");
  EXPECT_EQ(createError("accumulate", {"total", "count", "total"},
                        ROTOR_ERR_INVALID_ARGUMENT),
            "session of entry 'accumulate': state 'total' is named twice");
  EXPECT_EQ(createError("accumulate", {"scale"}, ROTOR_ERR_INVALID_ARGUMENT),
            "session of entry 'accumulate': state 'scale' is a tensor of "
            "weights file '" +
                dir +
                "/weights.safetensors', which calls bind by name: a weight "
                "cannot be state");
  EXPECT_EQ(createError("bad_dtype", {"total"}, ROTOR_ERR_INVALID_ARGUMENT),
            "session of entry 'bad_dtype': state 'total' is an input of dtype "
            "f32 but an output of dtype f64");
  EXPECT_EQ(createError("bad_rank", {"total"}, ROTOR_ERR_INVALID_ARGUMENT),
            "session of entry 'bad_rank': state 'total' is an input of rank 2 "
            "but an output of rank 1");
  EXPECT_EQ(createError("bad_size", {"total"}, ROTOR_ERR_INVALID_ARGUMENT),
            "session of entry 'bad_size': state 'total' is an input of shape "
            "[2, 3] but an output of shape [?, 3]: dimension 0 of the output "
            "must be the input's static size, so that the output fits the "
            "next call");
  EXPECT_EQ(
      createError("accumulate", {"total", nullptr}, ROTOR_ERR_INVALID_ARGUMENT),
      "session of entry 'accumulate': state_names[1] is NULL");
  rotor_session *raw = reinterpret_cast<rotor_session *>(1);
  EXPECT_EQ(
      rotor_session_create(artifact.get(), "accumulate", nullptr, 1, &raw),
      ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(raw, nullptr);
  EXPECT_THAT(rotor_last_error(), HasSubstr("state_names is NULL"));
  EXPECT_EQ(rotor_session_create(nullptr, "accumulate", nullptr, 0, &raw),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(
      rotor_session_create(artifact.get(), "accumulate", nullptr, 0, nullptr),
      ROTOR_ERR_INVALID_ARGUMENT);
  rotor_session_free(nullptr);
  EXPECT_EQ(rotor_session_graph_replays(nullptr), 0u);
}

TEST_F(SessionTest, EveryStateMustBeSetBeforeACall) {
  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  TensorPtr total = makeTensor(ROTOR_F32, {1, 3}, {1, 2, 3});
  ASSERT_EQ(rotor_session_set_state(session.get(), "total", total.get()),
            ROTOR_OK);
  TensorPtr x = makeTensor(ROTOR_F32, {1, 3}, {1, 1, 1});
  EXPECT_EQ(
      callError(session.get(), {"x"}, {x.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT),
      "session of entry 'accumulate': state 'count' is not set: set "
      "every state with rotor_session_set_state before a call (and "
      "again after a call that failed while running)");
  rotor_tensor *out = reinterpret_cast<rotor_tensor *>(1);
  EXPECT_EQ(rotor_session_get_state(session.get(), "count", &out),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
  EXPECT_THAT(rotor_last_error(), HasSubstr("state 'count' is not set"));
}

TEST_F(SessionTest, ValuesMustFitTheInput) {
  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  TensorPtr f64 = makeTensor(ROTOR_F64, {1, 3}, {1, 2, 3});
  EXPECT_EQ(rotor_session_set_state(session.get(), "total", f64.get()),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(rotor_last_error(), "session of entry 'accumulate': state "
                                   "'total' has dtype f64 but the entry's "
                                   "input is f32");
  TensorPtr flat = makeTensor(ROTOR_F32, {3}, {1, 2, 3});
  EXPECT_EQ(rotor_session_set_state(session.get(), "total", flat.get()),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(rotor_last_error(), "session of entry 'accumulate': state "
                                   "'total' has rank 1 but the entry's input "
                                   "has rank 2 (shape [?, 3])");
  TensorPtr wide = makeTensor(ROTOR_F32, {1, 4}, {1, 2, 3, 4});
  EXPECT_EQ(rotor_session_set_state(session.get(), "total", wide.get()),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(rotor_last_error(), "session of entry 'accumulate': state "
                                   "'total' has size 4 in dimension 1 but the "
                                   "entry's input has 3 (shape [?, 3])");
  EXPECT_EQ(rotor_session_set_state(session.get(), "total", nullptr),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("state 'total': value is NULL"));
  // Nothing was set.
  rotor_tensor *out = nullptr;
  EXPECT_EQ(rotor_session_get_state(session.get(), "total", &out),
            ROTOR_ERR_INVALID_ARGUMENT);

  // The other inputs are checked as by rotor_call.
  setStates(session.get(), {1, 2, 3}, 0);
  TensorPtr x = makeTensor(ROTOR_F32, {1, 4}, {1, 1, 1, 1});
  EXPECT_EQ(
      callError(session.get(), {"x"}, {x.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT),
      "entry 'accumulate' input 0 ('x'): dimension 1 is 4 but the "
      "artifact was compiled for 3");
}

TEST_F(SessionTest, OutputsAreTheOnesThatAreNotState) {
  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  setStates(session.get(), {1, 2, 3}, 0);
  TensorPtr x = makeTensor(ROTOR_F32, {1, 3}, {1, 1, 1});
  EXPECT_EQ(
      callError(session.get(), {"x"}, {x.get()}, 3, ROTOR_ERR_INVALID_ARGUMENT),
      "session of entry 'accumulate': the entry returns 1 output (mean) "
      "besides its states but room for 3 was given");
  const char *names[] = {"x"};
  const rotor_tensor *tensors[] = {x.get()};
  EXPECT_EQ(rotor_session_call(session.get(), names, tensors, 1, nullptr, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("outputs is NULL"));

  // Without states, a session returns every output.
  SessionPtr stateless = create("accumulate", {});
  ASSERT_TRUE(stateless);
  TensorPtr total = makeTensor(ROTOR_F32, {1, 3}, {1, 2, 3});
  TensorPtr count = makeTensor(ROTOR_I64, {}, {4});
  std::vector<TensorPtr> out = call(stateless.get(), {"count", "x", "total"},
                                    {count.get(), x.get(), total.get()}, 3);
  ASSERT_TRUE(out[0] && out[1] && out[2]);
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{5}));
  EXPECT_EQ(tensorValues(out[2].get()), (std::vector<double>{2, 4, 3.5}));
}

TEST_F(SessionTest, WeightsAreBoundByNameOrGiven) {
  SessionPtr session = create("accumulate", {"total", "count"});
  ASSERT_TRUE(session);
  setStates(session.get(), {0, 0, 0}, 0);
  TensorPtr x = makeTensor(ROTOR_F32, {1, 3}, {1, 1, 1});
  // scale from the weights file.
  call(session.get(), {"x"}, {x.get()}, 1);
  EXPECT_EQ(
      state(session.get(), "total"),
      (std::vector<double>{sessionScale[0], sessionScale[1], sessionScale[2]}));
  // A given tensor overrides the weight.
  TensorPtr scale = makeTensor(ROTOR_F32, {3}, {10, 20, 30});
  call(session.get(), {"scale", "x"}, {scale.get(), x.get()}, 1);
  EXPECT_EQ(state(session.get(), "total"), (std::vector<double>{11, 22, 30.5}));
}

TEST_F(SessionTest, AFailedRunUnsetsTheStates) {
  SessionPtr session = create("broken", {"s"});
  ASSERT_TRUE(session);
  TensorPtr s = makeTensor(ROTOR_F32, {4}, {1, 2, 3, 4});
  ASSERT_EQ(rotor_session_set_state(session.get(), "s", s.get()), ROTOR_OK);
  // misbehave returns 3 elements where the manifest declares 4.
  EXPECT_THAT(callError(session.get(), {}, {}, 0, ROTOR_ERR_BACKEND),
              HasSubstr("entry 'broken' output 0 ('s'): the entry returned "
                        "size 3 for dimension 0"));
  EXPECT_THAT(callError(session.get(), {}, {}, 0, ROTOR_ERR_INVALID_ARGUMENT),
              HasSubstr("state 's' is not set"));
  rotor_tensor *out = nullptr;
  EXPECT_EQ(rotor_session_get_state(session.get(), "s", &out),
            ROTOR_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(rotor_session_set_state(session.get(), "s", s.get()), ROTOR_OK);
  EXPECT_EQ(state(session.get(), "s"), (std::vector<double>{1, 2, 3, 4}));
}

/// The tiny language model's decode: caches grow by one position per call,
/// and come back in another order than they go in.
TEST(SessionLm, GrowingStatesAreReplacedByTheOutput) {
  TempDir root;
  std::string dir = makeArtifact(root, "lm", lmManifest());
  writeLmWeights(dir);
  rotor_artifact *raw = nullptr;
  ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw), ROTOR_OK)
      << rotor_last_error();
  ArtifactPtr artifact(raw);

  std::vector<int64_t> prompt = {1, 5, 9};
  TensorPtr ids = makeTensor(ROTOR_I64, {1, 3}, {1, 5, 9});
  const char *idName[] = {"input_ids"};
  const rotor_tensor *idTensor[] = {ids.get()};
  rotor_tensor *prefill[5] = {};
  ASSERT_EQ(rotor_call_named(artifact.get(), "prefill", idName, idTensor, 1,
                             prefill, 5),
            ROTOR_OK)
      << rotor_last_error();
  TensorPtr logits(prefill[0]);

  const char *caches[] = {"k_cache.0", "v_cache.0", "k_cache.1", "v_cache.1"};
  rotor_session *rawSession = nullptr;
  ASSERT_EQ(
      rotor_session_create(artifact.get(), "decode", caches, 4, &rawSession),
      ROTOR_OK)
      << rotor_last_error();
  SessionPtr session(rawSession);
  for (int c = 0; c < 4; ++c) {
    TensorPtr cache(prefill[1 + c]);
    ASSERT_EQ(rotor_session_set_state(session.get(), caches[c], cache.get()),
              ROTOR_OK)
        << rotor_last_error();
  }

  std::vector<int64_t> expected = lmExpected(prompt, 4);
  std::vector<int64_t> context = prompt;
  for (size_t step = 0; step < 3; ++step) {
    TensorPtr token = makeTensor(ROTOR_I64, {1, 1}, {double(expected[step])});
    const rotor_tensor *tokenTensor[] = {token.get()};
    rotor_tensor *out = nullptr;
    ASSERT_EQ(
        rotor_session_call(session.get(), idName, tokenTensor, 1, &out, 1),
        ROTOR_OK)
        << rotor_last_error();
    TensorPtr stepLogits(out);
    context.push_back(expected[step]);
    // decode's logits are NaN unless the four caches agreed: the session
    // matched them to the outputs by name.
    std::vector<double> values = tensorValues(stepLogits.get());
    ASSERT_EQ(values.size(), 16u);
    size_t best = 0;
    for (size_t v = 0; v < values.size(); ++v) {
      ASSERT_FALSE(std::isnan(values[v])) << "step " << step;
      if (values[v] > values[best])
        best = v;
    }
    EXPECT_EQ(int64_t(best), expected[step + 1]) << "step " << step;
    for (int c = 0; c < 4; ++c) {
      rotor_tensor *value = nullptr;
      ASSERT_EQ(rotor_session_get_state(session.get(), caches[c], &value),
                ROTOR_OK);
      TensorPtr cache(value);
      EXPECT_EQ(tensorShape(cache.get()),
                (std::vector<int64_t>{1, int64_t(context.size()), 2}));
      // Position t of k_cache.l holds id_t + l, of v_cache.l 2 id_t + l.
      std::vector<double> cv = tensorValues(cache.get());
      for (size_t t = 0; t < context.size(); ++t)
        EXPECT_EQ(cv[2 * t], double((c % 2 ? 2 : 1) * context[t] + c / 2))
            << caches[c] << " position " << t;
    }
  }
  EXPECT_EQ(rotor_session_graph_replays(session.get()), 0u);
}

} // namespace
