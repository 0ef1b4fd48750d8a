// Cached PixelCNN generation on the CPU; see cached_pixelcnn.h.
#include "cached_pixelcnn.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <sstream>
#include <string>

#include "dlmm_sample.h"
#include "gate.h"

namespace fastcolor {
namespace {

void check_shape(const torch::Tensor& t, std::vector<int64_t> shape, const std::string& name,
                 torch::ScalarType dtype) {
  TORCH_CHECK(t.defined(), "fastcolor._C: weight '", name, "' is missing");
  TORCH_CHECK(t.sizes() == torch::IntArrayRef(shape), "fastcolor._C: weight '", name,
              "' has shape ", t.sizes(), ", expected ", torch::IntArrayRef(shape));
  TORCH_CHECK(t.scalar_type() == dtype, "fastcolor._C: weight '", name, "' has dtype ",
              t.scalar_type(), ", expected ", dtype, " like the first weight");
  TORCH_CHECK(t.device().is_cpu(), "fastcolor._C: weight '", name, "' must be on the CPU");
}

std::string block_name(size_t l, const char* what) {
  std::ostringstream s;
  s << "blocks." << l << "." << what;
  return s.str();
}

// out[0..M) += sum_k Wt[k][0..M) * x[k]  (Wt row-major K x M; the inner loop vectorizes)
template <typename T>
inline void matvec_acc(const T* __restrict Wt, const T* __restrict x, int K, int M,
                       T* __restrict out) {
  for (int k = 0; k < K; ++k) {
    const T xk = x[k];
    const T* __restrict w = Wt + static_cast<long>(k) * M;
    for (int m = 0; m < M; ++m) out[m] += w[m] * xk;
  }
}

}  // namespace

CachedPixelCNN::CachedPixelCNN(const std::vector<std::vector<torch::Tensor>>& blocks,
                               const std::vector<torch::Tensor>& head, int mixtures) {
  TORCH_CHECK(!blocks.empty(), "fastcolor._C: the PixelCNN needs at least one block");
  TORCH_CHECK(mixtures >= 1, "fastcolor._C: mixtures must be >= 1, got ", mixtures);
  TORCH_CHECK(head.size() == 4, "fastcolor._C: head needs 4 tensors, got ", head.size());
  mixtures_ = mixtures;
  const auto& w0 = blocks[0].at(0);
  TORCH_CHECK(w0.dim() == 4, "fastcolor._C: blocks.0.v_conv.weight must be 4-D, got ",
              w0.sizes());
  dtype_ = w0.scalar_type();
  TORCH_CHECK(dtype_ == torch::kFloat32 || dtype_ == torch::kFloat64,
              "fastcolor._C: weights must be float32 or float64, got ", dtype_);
  TORCH_CHECK(w0.size(0) % 2 == 0, "fastcolor._C: blocks.0.v_conv.weight must have 2F rows");
  channels_ = static_cast<int>(w0.size(0) / 2);
  const int64_t F = channels_, F2 = 2 * channels_;
  TORCH_CHECK(blocks[0].size() == 10, "fastcolor._C: each block needs 10 tensors");
  cond_channels_ = static_cast<int>(blocks[0].at(6).size(1));
  const int64_t Cc = cond_channels_;

  for (size_t l = 0; l < blocks.size(); ++l) {
    const auto& b = blocks[l];
    TORCH_CHECK(b.size() == 10, "fastcolor._C: block ", l, " needs 10 tensors, got ", b.size());
    GatedBlockWeights g;
    g.first = (l == 0);
    g.in_ch = g.first ? 3 : channels_;
    g.ch = channels_;
    const auto& vw = b[0];
    TORCH_CHECK(vw.dim() == 4, "fastcolor._C: ", block_name(l, "v_conv.weight"), " must be 4-D");
    const int64_t k = vw.size(2), kh = b[2].dim() == 4 ? b[2].size(3) : -1;
    TORCH_CHECK(k % 2 == 1 && k == vw.size(3), "fastcolor._C: ", block_name(l, "v_conv.weight"),
                " must have an odd square kernel, got ", vw.sizes());
    TORCH_CHECK(kh % 2 == 1, "fastcolor._C: ", block_name(l, "h_conv.weight"),
                " must be (2F, C_in, 1, k) with k odd, got ", b[2].sizes());
    check_shape(vw, {F2, g.in_ch, k, k}, block_name(l, "v_conv.weight"), dtype_);
    check_shape(b[1], {F2}, block_name(l, "v_conv.bias"), dtype_);
    check_shape(b[2], {F2, g.in_ch, 1, kh}, block_name(l, "h_conv.weight"), dtype_);
    check_shape(b[3], {F2}, block_name(l, "h_conv.bias"), dtype_);
    check_shape(b[4], {F2, F2, 1, 1}, block_name(l, "v_to_h.weight"), dtype_);
    check_shape(b[5], {F2}, block_name(l, "v_to_h.bias"), dtype_);
    check_shape(b[6], {F2, Cc, 1, 1}, block_name(l, "v_cond.weight"), dtype_);
    check_shape(b[7], {F2, Cc, 1, 1}, block_name(l, "h_cond.weight"), dtype_);
    check_shape(b[8], {F, F, 1, 1}, block_name(l, "h_out.weight"), dtype_);
    check_shape(b[9], {F}, block_name(l, "h_out.bias"), dtype_);
    g.v_kernel = static_cast<int>(k);
    g.v_rows = static_cast<int>(k / 2 + (g.first ? 0 : 1));
    g.h_cols = static_cast<int>(kh / 2 + (g.first ? 0 : 1));
    TORCH_CHECK(g.v_rows >= 1 && g.h_cols >= 1, "fastcolor._C: block ", l,
                " has a 1-wide kernel with mask a, which keeps no tap");
    // (2F, C_in, rows, k) -> (rows, k, C_in, 2F): im2col order, outputs contiguous
    g.v_weight_t = vw.narrow(2, 0, g.v_rows).permute({2, 3, 1, 0}).contiguous()
                       .reshape({g.v_rows * k * g.in_ch, F2});
    g.v_bias = b[1].contiguous();
    g.h_weight_t = b[2].select(2, 0).narrow(2, 0, g.h_cols).permute({2, 1, 0}).contiguous()
                       .reshape({g.h_cols * g.in_ch, F2});
    g.h_bias = b[3].contiguous();
    g.v_to_h_t = b[4].flatten(1).t().contiguous();
    g.v_to_h_bias = b[5].contiguous();
    g.v_cond = b[6].flatten(1).contiguous();
    g.h_cond = b[7].flatten(1).contiguous();
    g.out_t = b[8].flatten(1).t().contiguous();
    g.out_bias = b[9].contiguous();
    blocks_.push_back(std::move(g));
  }
  const auto& hw = head[0];
  TORCH_CHECK(hw.dim() == 4, "fastcolor._C: head_hidden.weight must be 4-D, got ", hw.sizes());
  head_channels_ = static_cast<int>(hw.size(0));
  check_shape(hw, {head_channels_, F, 1, 1}, "head_hidden.weight", dtype_);
  check_shape(head[1], {head_channels_}, "head_hidden.bias", dtype_);
  check_shape(head[2], {10 * mixtures_, head_channels_, 1, 1}, "head_out.weight", dtype_);
  check_shape(head[3], {10 * mixtures_}, "head_out.bias", dtype_);
  head_hidden_t_ = hw.flatten(1).t().contiguous();
  head_hidden_bias_ = head[1].contiguous();
  head_out_t_ = head[2].flatten(1).t().contiguous();
  head_out_bias_ = head[3].contiguous();
}

void CachedPixelCNN::check_cond(const torch::Tensor& cond) const {
  TORCH_CHECK(cond.dim() == 4 && cond.size(1) == cond_channels_,
              "fastcolor._C: cond must be (B, ", cond_channels_, ", H, W), got ", cond.sizes());
  TORCH_CHECK(cond.scalar_type() == dtype_, "fastcolor._C: cond has dtype ",
              cond.scalar_type(), " but the weights are ", dtype_);
  TORCH_CHECK(cond.device().is_cpu(), "fastcolor._C: cond must be a CPU tensor");
  TORCH_CHECK(cond.size(0) >= 1 && cond.size(2) >= 1 && cond.size(3) >= 1,
              "fastcolor._C: empty cond ", cond.sizes());
}

torch::Tensor CachedPixelCNN::teacher_forced_params(const torch::Tensor& cond,
                                                    const torch::Tensor& x) const {
  check_cond(cond);
  const int64_t B = cond.size(0), H = cond.size(2), W = cond.size(3);
  TORCH_CHECK(x.sizes() == torch::IntArrayRef({B, 3, H, W}) && x.scalar_type() == dtype_,
              "fastcolor._C: x must be (B, 3, H, W) = (", B, ", 3, ", H, ", ", W, ") of dtype ",
              dtype_, ", got ", x.sizes(), " ", x.scalar_type());
  torch::Tensor params = torch::empty({B, H, W, 10 * mixtures_}, cond.options());
  torch::Tensor noise = torch::zeros({B, mixtures_ + 3, H, W}, cond.options());
  torch::Tensor none;
  if (dtype_ == torch::kFloat64)
    generate_impl<double>(cond, noise, none, none, 1.0, x, params);
  else
    generate_impl<float>(cond, noise, none, none, 1.0f, x, params);
  return params.permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor CachedPixelCNN::generate(const torch::Tensor& cond, const torch::Tensor& noise,
                                       const torch::Tensor& hints,
                                       const torch::Tensor& hint_mask,
                                       double temperature) const {
  check_cond(cond);
  const int64_t B = cond.size(0), H = cond.size(2), W = cond.size(3);
  TORCH_CHECK(noise.sizes() == torch::IntArrayRef({B, mixtures_ + 3, H, W}),
              "fastcolor._C: noise must be (B, K + 3, H, W) = (", B, ", ", mixtures_ + 3, ", ",
              H, ", ", W, "), got ", noise.sizes());
  TORCH_CHECK(noise.scalar_type() == dtype_, "fastcolor._C: noise must have dtype ", dtype_);
  TORCH_CHECK(temperature >= 0 && std::isfinite(temperature),
              "fastcolor._C: temperature must be finite and >= 0, got ", temperature);
  const bool use_hints = hints.defined() && hints.numel() > 0;
  if (use_hints) {
    TORCH_CHECK(hints.sizes() == torch::IntArrayRef({B, 3, H, W}) && hints.scalar_type() == dtype_,
                "fastcolor._C: hints must be (B, 3, H, W) of the weights' dtype, got ",
                hints.sizes(), " ", hints.scalar_type());
    TORCH_CHECK(hint_mask.sizes() == torch::IntArrayRef({B, H, W}) &&
                    hint_mask.scalar_type() == torch::kBool,
                "fastcolor._C: hint_mask must be bool (B, H, W), got ", hint_mask.sizes(), " ",
                hint_mask.scalar_type());
  }
  torch::Tensor none;
  if (dtype_ == torch::kFloat64)
    return generate_impl<double>(cond, noise, hints, hint_mask, temperature, none, none);
  return generate_impl<float>(cond, noise, hints, hint_mask, static_cast<float>(temperature),
                              none, none);
}

template <typename T>
torch::Tensor CachedPixelCNN::generate_impl(const torch::Tensor& cond_in,
                                            const torch::Tensor& noise_in,
                                            const torch::Tensor& hints_in,
                                            const torch::Tensor& hint_mask_in,
                                            T temperature, const torch::Tensor& forced_in,
                                            torch::Tensor params_out) const {
  const int64_t B = cond_in.size(0), H = cond_in.size(2), W = cond_in.size(3);
  const int F = channels_, F2 = 2 * channels_, K = mixtures_, Hd = head_channels_;
  const int P = 10 * K;
  const auto opts = cond_in.options();
  const bool use_hints = hints_in.defined() && hints_in.numel() > 0;

  // channel-last views of the inputs
  const torch::Tensor cond_cl = cond_in.permute({0, 2, 3, 1}).contiguous().reshape({B * H * W, -1});
  const torch::Tensor noise = noise_in.contiguous();
  const torch::Tensor hints = use_hints ? hints_in.permute({0, 2, 3, 1}).contiguous() : torch::Tensor();
  const torch::Tensor hint_mask = use_hints ? hint_mask_in.contiguous() : torch::Tensor();
  const bool use_forced = forced_in.defined() && forced_in.numel() > 0;
  const torch::Tensor forced = use_forced ? forced_in.permute({0, 2, 3, 1}).contiguous() : torch::Tensor();
  T* params_rec = params_out.defined() ? params_out.data_ptr<T>() : nullptr;

  // per block, every constant term of the two gates at every position (B*H*W, 2F):
  // conditioning + vertical bias; conditioning + horizontal bias + link bias
  const size_t L = blocks_.size();
  std::vector<torch::Tensor> v_const(L), h_const(L), v_maps(L), v_pre_row(L), row_terms(L);
  for (size_t l = 0; l < L; ++l) {
    const auto& g = blocks_[l];
    v_const[l] = torch::addmm(g.v_bias, cond_cl, g.v_cond.t());
    h_const[l] = torch::addmm(g.h_bias + g.v_to_h_bias, cond_cl, g.h_cond.t());
    v_maps[l] = torch::zeros({B, H, W, F}, opts);    // gated vertical output (next block's input)
    v_pre_row[l] = torch::empty({B * W, F2}, opts);  // this row's vertical pre-activation
    row_terms[l] = torch::empty({B * W, F2}, opts);  // this row's horizontal constant terms
  }
  torch::Tensor x = torch::zeros({B, H, W, 3}, opts);  // the sample, channel-last
  // the current row of every block's horizontal output, per image: (B, L, W, F)
  std::vector<T> h_rows(static_cast<size_t>(B) * L * W * F, T(0));

  T* xp = x.data_ptr<T>();
  const T* noise_p = noise.data_ptr<T>();
  const long noise_stride = static_cast<long>(H * W);

  for (int64_t i = 0; i < H; ++i) {
    // ---- the vertical stack of every block for row i: one matrix product each ----
    for (size_t l = 0; l < L; ++l) {
      const auto& g = blocks_[l];
      const int C = g.in_ch, k = g.v_kernel, rows = g.v_rows, half = k / 2;
      const int64_t Kc = static_cast<int64_t>(rows) * k * C;
      torch::Tensor col = torch::zeros({B * W, Kc}, opts);
      T* colp = col.data_ptr<T>();
      const T* inp = (l == 0) ? xp : v_maps[l - 1].data_ptr<T>();
      for (int64_t b = 0; b < B; ++b)
        for (int r = 0; r < rows; ++r) {
          const int64_t src_row = i - half + r;
          if (src_row < 0) continue;
          for (int64_t w = 0; w < W; ++w)
            for (int t = 0; t < k; ++t) {
              const int64_t src_col = w - half + t;
              if (src_col < 0 || src_col >= W) continue;
              const T* src = inp + ((b * H + src_row) * W + src_col) * C;
              T* dst = colp + (b * W + w) * Kc + (static_cast<int64_t>(r) * k + t) * C;
              for (int c = 0; c < C; ++c) dst[c] = src[c];
            }
        }
      torch::Tensor& vpre = v_pre_row[l];
      torch::mm_out(vpre, col, g.v_weight_t);
      // + constants of row i; gate into the vertical map
      const T* vc = v_const[l].data_ptr<T>();
      T* vp = vpre.data_ptr<T>();
      T* vmap = v_maps[l].data_ptr<T>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t w = 0; w < W; ++w) {
          T* pre = vp + (b * W + w) * F2;
          const T* cst = vc + ((b * H + i) * W + w) * F2;
          T* out = vmap + ((b * H + i) * W + w) * F;
          for (int o = 0; o < F2; ++o) pre[o] += cst[o];
          gate<T>(pre, F, out);
        }
      torch::Tensor& rt = row_terms[l];
      torch::mm_out(rt, vpre, g.v_to_h_t);
      T* rtp = rt.data_ptr<T>();
      const T* hc = h_const[l].data_ptr<T>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t w = 0; w < W; ++w) {
          T* dst = rtp + (b * W + w) * F2;
          const T* cst = hc + ((b * H + i) * W + w) * F2;
          for (int o = 0; o < F2; ++o) dst[o] += cst[o];
        }
    }

    // ---- the horizontal stack, head and sample, pixel by pixel; images in parallel ----
    std::vector<const T*> rt_ptr(L), hw_ptr(L), out_ptr(L), ob_ptr(L);
    for (size_t l = 0; l < L; ++l) {
      rt_ptr[l] = row_terms[l].data_ptr<T>();
      hw_ptr[l] = blocks_[l].h_weight_t.data_ptr<T>();
      out_ptr[l] = blocks_[l].out_t.data_ptr<T>();
      ob_ptr[l] = blocks_[l].out_bias.data_ptr<T>();
    }
    const T* hh_w = head_hidden_t_.data_ptr<T>();
    const T* hh_b = head_hidden_bias_.data_ptr<T>();
    const T* ho_w = head_out_t_.data_ptr<T>();
    const T* ho_b = head_out_bias_.data_ptr<T>();
    const T* hint_p = use_hints ? hints.data_ptr<T>() : nullptr;
    const bool* mask_p = use_hints ? hint_mask.data_ptr<bool>() : nullptr;
    const T* forced_p = use_forced ? forced.data_ptr<T>() : nullptr;
    // OpenMP across the batch (torch's pool, via at::parallel_for) when a row of one
    // image is worth a thread (~100k multiply-adds); small models stay on one thread,
    // where fork/join would cost more than it saves.
    int64_t row_macs = 0;
    for (const auto& g : blocks_) row_macs += (int64_t(g.h_cols) * g.in_ch * F2 + F * F) * W;
    row_macs += (int64_t(F) * Hd + int64_t(Hd) * P) * W;
    const int64_t grain = row_macs >= 100000 ? 1 : B;
    int max_c = 3;
    for (const auto& g : blocks_) max_c = std::max(max_c, g.h_cols * g.in_ch);

    at::parallel_for(0, B, grain, [&](int64_t b_begin, int64_t b_end) {
      std::vector<T> window(max_c), pre(F2), gated(F), hid(Hd), params(P);
      for (int64_t b = b_begin; b < b_end; ++b) {
        T* hrow_b = h_rows.data() + static_cast<size_t>(b) * L * W * F;
        for (int64_t j = 0; j < W; ++j) {
          const T* hout = nullptr;
          for (size_t l = 0; l < L; ++l) {
            const auto& g = blocks_[l];
            const int C = g.in_ch, cols = g.h_cols;
            const int64_t half = (cols - (g.first ? 0 : 1));  // kh / 2
            // the kept taps: columns j - half .. j - 1 (mask a) or .. j (mask b)
            const T* in_row = (l == 0) ? xp + (b * H + i) * W * 3 : hrow_b + (l - 1) * W * F;
            for (int t = 0; t < cols; ++t) {
              const int64_t c0 = j - half + t;
              for (int c = 0; c < C; ++c)
                window[t * C + c] = (c0 >= 0) ? in_row[c0 * C + c] : T(0);
            }
            const T* rt = rt_ptr[l] + (b * W + j) * F2;
            for (int o = 0; o < F2; ++o) pre[o] = rt[o];
            matvec_acc<T>(hw_ptr[l], window.data(), cols * C, F2, pre.data());
            gate<T>(pre.data(), F, gated.data());
            T* out = hrow_b + l * W * F + j * F;
            for (int f = 0; f < F; ++f) out[f] = ob_ptr[l][f];
            matvec_acc<T>(out_ptr[l], gated.data(), F, F, out);
            if (!g.first) {
              const T* res = in_row + j * F;
              for (int f = 0; f < F; ++f) out[f] = res[f] + out[f];
            }
            hout = out;
          }
          // head: relu -> 1x1 -> relu -> 1x1
          for (int f = 0; f < F; ++f) gated[f] = std::max<T>(hout[f], T(0));
          for (int d = 0; d < Hd; ++d) hid[d] = hh_b[d];
          matvec_acc<T>(hh_w, gated.data(), F, Hd, hid.data());
          for (int d = 0; d < Hd; ++d) hid[d] = std::max<T>(hid[d], T(0));
          for (int p = 0; p < P; ++p) params[p] = ho_b[p];
          matvec_acc<T>(ho_w, hid.data(), Hd, P, params.data());

          T* px = xp + ((b * H + i) * W + j) * 3;
          const int64_t pos = (b * H + i) * W + j;
          if (params_rec)
            std::copy(params.begin(), params.end(), params_rec + pos * P);
          if (forced_p) {
            for (int c = 0; c < 3; ++c) px[c] = forced_p[pos * 3 + c];
          } else if (use_hints && mask_p[pos]) {
            for (int c = 0; c < 3; ++c) px[c] = hint_p[pos * 3 + c];
          } else {
            const T* nz = noise_p + b * (K + 3) * noise_stride + i * W + j;
            dlmm_sample_pixel<T>(params.data(), K, nz, noise_stride, temperature, px);
          }
        }
      }
    });
  }
  return x.permute({0, 3, 1, 2}).contiguous();
}


}  // namespace fastcolor
