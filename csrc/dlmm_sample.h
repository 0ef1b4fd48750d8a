// Sampling one pixel from the discretized logistic mixture (DLMM) head, in C++.
//
// Follows fastcolor/dlmm.py:dlmm_sample operation for operation (same clamps, same
// order of additions, round-half-to-even quantization), so that given the same uniform
// noise it returns the same 8-bit values as the PyTorch reference.
#pragma once

#include <algorithm>
#include <cmath>

namespace fastcolor {

constexpr double kLogScaleMin = -7.0;
constexpr double kNoiseEps = 1e-5;

// Nearest of the 256 levels v / 127.5 - 1 of x (clamped to [-1, 1]).
template <typename T>
inline T quantize_level(T x) {
  x = std::min<T>(std::max<T>(x, T(-1)), T(1));
  T level = std::nearbyint((x + T(1)) * T(127.5));  // ties to even, like torch.round
  return level / T(127.5) - T(1);
}

// params: 10*K mixture parameters of one pixel (logits, means[3][K], log_scales[3][K],
// raw coeffs[3][K]); noise: K + 3 uniforms in [0, 1] (K Gumbel draws, then R, G, B
// logistic draws), read with stride noise_stride; out: the sampled RGB in [-1, 1].
// temperature 0: the largest-logit component at its mean, no noise.
template <typename T>
__attribute__((optimize("fp-contract=off")))  // no FMA: match PyTorch's rounding
inline void dlmm_sample_pixel(const T* params, int K, const T* noise, long noise_stride,
                              T temperature, T* out) {
  int best = 0;
  if (temperature == T(0)) {
    for (int k = 1; k < K; ++k)
      if (params[k] > params[best]) best = k;
  } else {
    T best_score = 0;
    for (int k = 0; k < K; ++k) {
      T u = std::min<T>(std::max<T>(noise[k * noise_stride], T(kNoiseEps)), T(1 - kNoiseEps));
      T score = params[k] / temperature - std::log(-std::log(u));
      if (k == 0 || score > best_score) {
        best = k;
        best_score = score;
      }
    }
  }
  T mu[3], eps[3], co[3];
  for (int c = 0; c < 3; ++c) {
    mu[c] = params[K + c * K + best];
    T log_scale = std::max<T>(params[4 * K + c * K + best], T(kLogScaleMin));
    co[c] = std::tanh(params[7 * K + c * K + best]);
    if (temperature == T(0)) {
      eps[c] = T(0);
    } else {
      T u = std::min<T>(std::max<T>(noise[(K + c) * noise_stride], T(kNoiseEps)), T(1 - kNoiseEps));
      eps[c] = std::exp(log_scale) * temperature * (std::log(u) - std::log1p(-u));
    }
  }
  T r = quantize_level<T>(mu[0] + eps[0]);
  T g = quantize_level<T>(mu[1] + co[0] * r + eps[1]);
  T b = quantize_level<T>(mu[2] + co[1] * r + co[2] * g + eps[2]);
  out[0] = r;
  out[1] = g;
  out[2] = b;
}

}  // namespace fastcolor
