// Cached (incremental) generation for fastcolor's conditional gated PixelCNN, on the CPU.
//
// The algorithm of fastcolor/generation/cached.py without Python in the loop: at the
// start of each row the vertical stack of every block is computed for the whole row
// (one matrix product per block for the whole batch); at each pixel the horizontal
// stack and the head are computed for that pixel alone (matrix-vector work, OpenMP
// across the batch), the DLMM head is sampled and the pixel written.
#pragma once

#include <torch/extension.h>

#include <vector>

namespace fastcolor {

// One gated block's weights, re-laid out once for the CPU.
struct GatedBlockWeights {
  int in_ch = 0;            // C_in (3 for block 0, F after)
  int ch = 0;               // F
  bool first = false;       // masks "a" (block 0) or "b"
  int v_kernel = 0;         // k x k vertical kernel
  int v_rows = 0;           // kept kernel rows: k/2 (a) or k/2 + 1 (b)
  int h_cols = 0;           // kept horizontal taps: k/2 (a) or k/2 + 1 (b)
  torch::Tensor v_weight_t; // (v_rows * k * C_in, 2F): im2col order (row, tap, channel)
  torch::Tensor v_bias;     // (2F)
  torch::Tensor v_to_h_t;   // (2F, 2F) transposed 1x1 weight
  torch::Tensor v_to_h_bias;// (2F)
  torch::Tensor v_cond;     // (2F, C_c) 1x1 conditioning weight
  torch::Tensor h_cond;     // (2F, C_c)
  torch::Tensor h_weight_t; // (h_cols * C_in, 2F): (tap, channel) major, output contiguous
  torch::Tensor h_bias;     // (2F)
  torch::Tensor out_t;      // (F, F) transposed 1x1 weight of the horizontal output
  torch::Tensor out_bias;   // (F)
};

class CachedPixelCNN {
 public:
  // blocks: per block the reference module's tensors, in this order:
  //   v_conv.weight (2F, C_in, k, k) masked, v_conv.bias, h_conv.weight (2F, C_in, 1, kh)
  //   masked, h_conv.bias, v_to_h.weight (2F, 2F, 1, 1), v_to_h.bias,
  //   v_cond.weight (2F, C_c, 1, 1), h_cond.weight (2F, C_c, 1, 1),
  //   h_out.weight (F, F, 1, 1), h_out.bias
  // head: head_hidden.weight (Hd, F, 1, 1), head_hidden.bias, head_out.weight
  //   (10K, Hd, 1, 1), head_out.bias
  // Every tensor must have the same floating dtype (float32 or float64); shapes are
  // checked and a mismatch raises an error naming the tensor.
  CachedPixelCNN(const std::vector<std::vector<torch::Tensor>>& blocks,
                 const std::vector<torch::Tensor>& head, int mixtures);

  // cond (B, C_c, H, W); noise (B, K + 3, H, W) uniforms; hints (B, 3, H, W) quantized
  // (or an empty tensor); hint_mask (B, H, W) bool (or empty); temperature >= 0.
  // Returns the sample (B, 3, H, W) on the 8-bit levels in [-1, 1].
  torch::Tensor generate(const torch::Tensor& cond, const torch::Tensor& noise,
                         const torch::Tensor& hints, const torch::Tensor& hint_mask,
                         double temperature) const;

  // Teacher forcing: run the same cached steps with the pixels of x (B, 3, H, W) written
  // instead of samples; returns every step's mixture parameters (B, 10K, H, W).
  torch::Tensor teacher_forced_params(const torch::Tensor& cond, const torch::Tensor& x) const;

  int mixtures() const { return mixtures_; }
  int channels() const { return channels_; }
  int cond_channels() const { return cond_channels_; }
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  torch::ScalarType dtype() const { return dtype_; }

 private:
  void check_cond(const torch::Tensor& cond) const;

  // The cached loop. forced (B, 3, H, W) or empty: pixels to write instead of samples;
  // params_out (B, H, W, 10K) or empty: where to record each step's parameters.
  template <typename T>
  torch::Tensor generate_impl(const torch::Tensor& cond, const torch::Tensor& noise,
                              const torch::Tensor& hints, const torch::Tensor& hint_mask,
                              T temperature, const torch::Tensor& forced,
                              torch::Tensor params_out) const;

  std::vector<GatedBlockWeights> blocks_;
  torch::Tensor head_hidden_t_;  // (F, Hd)
  torch::Tensor head_hidden_bias_;
  torch::Tensor head_out_t_;     // (Hd, 10K)
  torch::Tensor head_out_bias_;
  int mixtures_ = 0;
  int channels_ = 0;
  int cond_channels_ = 0;
  int head_channels_ = 0;
  torch::ScalarType dtype_ = torch::kFloat32;
};

}  // namespace fastcolor
