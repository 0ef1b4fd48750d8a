// C++ tests of fastcolor's C++ sources (run with ctest after the CMake build).
// The Python tests (tests/test_cpp.py) check the generator against the PyTorch
// reference; these check the numeric building blocks on their own.
#include <cmath>
#include <cstdio>
#include <random>

#include "dlmm_sample.h"
#include "gate.h"

static int failures = 0;
#define EXPECT(cond, ...)                      \
  do {                                         \
    if (!(cond)) {                             \
      std::printf("FAIL %s: ", #cond);         \
      std::printf(__VA_ARGS__);                \
      std::printf("\n");                       \
      ++failures;                              \
    }                                          \
  } while (0)

static void test_exp_and_gate() {
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> u(-40.0, 40.0);
  double max_exp_d = 0, max_exp_f = 0, max_gate_d = 0, max_gate_f = 0;
  for (int n = 0; n < 200000; ++n) {
    const double x = u(rng) * (n % 2 ? 1.0 : 0.02);
    const double e = std::exp(x);
    max_exp_d = std::max(max_exp_d, std::fabs(fastcolor::exp_approx<double>(x) - e) / e);
    const float xf = static_cast<float>(x);
    const double ef = std::exp(static_cast<double>(xf));
    if (std::fabs(xf) < 80)
      max_exp_f = std::max(max_exp_f, std::fabs(fastcolor::exp_approx<float>(xf) - ef) / ef);
    const double pre[2] = {x, u(rng)};
    double g;
    fastcolor::gate<double>(pre, 1, &g);
    max_gate_d = std::max(max_gate_d, std::fabs(g - std::tanh(pre[0]) / (1 + std::exp(-pre[1]))));
    const float pre_f[2] = {static_cast<float>(pre[0]), static_cast<float>(pre[1])};
    float gf;
    fastcolor::gate<float>(pre_f, 1, &gf);
    max_gate_f = std::max(max_gate_f, std::fabs(gf - std::tanh(double(pre_f[0])) /
                                                         (1 + std::exp(-double(pre_f[1])))));
  }
  EXPECT(max_exp_d < 1e-15, "exp float64 relative error %g", max_exp_d);
  EXPECT(max_exp_f < 3e-7, "exp float32 relative error %g", max_exp_f);
  EXPECT(max_gate_d < 1e-15, "gate float64 absolute error %g", max_gate_d);
  EXPECT(max_gate_f < 1e-6, "gate float32 absolute error %g", max_gate_f);
  const double saturated[2] = {1000.0, 1000.0};
  double g;
  fastcolor::gate<double>(saturated, 1, &g);
  EXPECT(g == 1.0, "gate(1000, 1000) = %g", g);
}

static void test_quantize() {
  for (int v = 0; v < 256; ++v) {
    const double level = v / 127.5 - 1.0;
    EXPECT(fastcolor::quantize_level<double>(level) == level, "level %d not fixed", v);
  }
  EXPECT(fastcolor::quantize_level<double>(-5.0) == -1.0, "clamp low");
  EXPECT(fastcolor::quantize_level<double>(5.0) == 1.0, "clamp high");
}

static void test_sample_temperature_zero() {
  // K = 2; component 1 has the larger logit; T = 0 -> its coupled means, quantized
  const int K = 2;
  double params[10 * K] = {0};
  params[0] = 0.1;
  params[1] = 2.0;                                          // logits
  const double mu[3] = {0.2, -0.3, 0.5};
  for (int c = 0; c < 3; ++c) params[K + c * K + 1] = mu[c];  // means of component 1
  const double raw[3] = {0.5, -0.2, 0.3};
  for (int c = 0; c < 3; ++c) params[7 * K + c * K + 1] = raw[c];
  double noise[K + 3] = {0.5, 0.5, 0.5, 0.5, 0.5};
  double out[3];
  fastcolor::dlmm_sample_pixel<double>(params, K, noise, 1, 0.0, out);
  const double r = fastcolor::quantize_level(mu[0]);
  const double g = fastcolor::quantize_level(mu[1] + std::tanh(raw[0]) * r);
  const double b = fastcolor::quantize_level(mu[2] + std::tanh(raw[1]) * r + std::tanh(raw[2]) * g);
  EXPECT(out[0] == r && out[1] == g && out[2] == b, "T=0 sample (%g %g %g)", out[0], out[1], out[2]);
  // u = 1/2 is the logistic median: a T = 1 sample of the chosen component equals its mean
  noise[0] = 0.01;   // Gumbel draws that still pick component 1
  noise[1] = 0.99;
  fastcolor::dlmm_sample_pixel<double>(params, K, noise, 1, 1.0, out);
  EXPECT(out[0] == r && out[1] == g && out[2] == b, "median sample (%g %g %g)", out[0], out[1], out[2]);
}

int main() {
  test_exp_and_gate();
  test_quantize();
  test_sample_temperature_zero();
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
