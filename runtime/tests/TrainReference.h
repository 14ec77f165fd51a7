//===- TrainReference.h - f64 reference optimizers for the tests -*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// torch.optim's documented algorithms (AdamW with m_hat and v_hat, SGD with
// momentum), written independently of rotor/train.h in f64.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TESTS_TRAINREFERENCE_H
#define ROTOR_TESTS_TRAINREFERENCE_H

#include <cmath>
#include <vector>

namespace rotor::test {

/// torch.optim.AdamW's documented algorithm in f64.
struct ReferenceAdamW {
  double lr, beta1, beta2, eps, wd;
  std::vector<std::vector<double>> p, m, v;
  int t = 0;

  void step(const std::vector<std::vector<double>> &g,
            const std::vector<bool> &decay) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i)
      for (size_t k = 0; k < p[i].size(); ++k) {
        if (decay[i])
          p[i][k] -= lr * wd * p[i][k];
        m[i][k] = beta1 * m[i][k] + (1 - beta1) * g[i][k];
        v[i][k] = beta2 * v[i][k] + (1 - beta2) * g[i][k] * g[i][k];
        double mHat = m[i][k] / (1 - std::pow(beta1, t));
        double vHat = v[i][k] / (1 - std::pow(beta2, t));
        p[i][k] -= lr * mHat / (std::sqrt(vHat) + eps);
      }
  }
};

/// torch.optim.SGD's documented algorithm in f64.
struct ReferenceSGD {
  double lr, momentum, dampening, wd;
  bool nesterov;
  std::vector<std::vector<double>> p, b;
  int t = 0;

  void step(const std::vector<std::vector<double>> &g) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i)
      for (size_t k = 0; k < p[i].size(); ++k) {
        double d = g[i][k] + wd * p[i][k];
        if (momentum != 0) {
          b[i][k] = t == 1 ? d : momentum * b[i][k] + (1 - dampening) * d;
          d = nesterov ? d + momentum * b[i][k] : b[i][k];
        }
        p[i][k] -= lr * d;
      }
  }
};

} // namespace rotor::test

#endif // ROTOR_TESTS_TRAINREFERENCE_H
