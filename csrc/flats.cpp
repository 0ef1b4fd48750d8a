// Flat regions of a line drawing; see flats.h and fastcolor/flats/reference.py.
//
// The ink, its skeleton and the closed map are bitmaps (64 pixels a word, a zero word
// before and after each row, a zero row above and below: neighbours need no bounds
// check); the labels are written straight into the caller's (H, W) int32 output.
#include "flats.h"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace fastcolor {
namespace {

// OpenMP runs the end-point searches only, and only when they are tens of milliseconds of
// work (many ends, a long reach): each parallel region can wait a scheduler time slice
// for a thread the OS has parked, and on a busy machine (other work on the cores) the
// short, memory-bound passes of the other steps ran 2-4x slower on 2 threads than on one.
constexpr int64_t kParallelWork = int64_t{1} << 25;

// A bit per pixel. Row y (-1..h) starts at word (y + 1) * stride + 1; the words before
// and after it, rows -1 and h and the bits past the width are zero.
struct Bits {
  int64_t h, w, words, stride;
  std::vector<uint64_t> v;
  Bits(int64_t h_, int64_t w_)
      : h(h_), w(w_), words((w_ + 63) / 64), stride((w_ + 63) / 64 + 2),
        v(static_cast<size_t>((h_ + 2) * ((w_ + 63) / 64 + 2)), 0) {}
  uint64_t* row(int64_t y) { return v.data() + (y + 1) * stride + 1; }
  const uint64_t* row(int64_t y) const { return v.data() + (y + 1) * stride + 1; }
  // -1 <= y <= h, -1 <= x <= w
  bool test(int64_t y, int64_t x) const { return row(y)[x >> 6] >> (x & 63) & 1; }
  void set(int64_t y, int64_t x) { row(y)[x >> 6] |= uint64_t{1} << (x & 63); }
};

// The first x in [from, w) whose bit is `bit` in a row, or w.
template <bool bit>
int64_t next_bit(const uint64_t* row, int64_t words, int64_t w, int64_t from) {
  if (from >= w) return w;
  int64_t j = from >> 6;
  uint64_t m = (bit ? row[j] : ~row[j]) & (~uint64_t{0} << (from & 63));
  while (!m) {
    if (++j >= words) return w;
    m = bit ? row[j] : ~row[j];
  }
  return std::min(w, j * 64 + __builtin_ctzll(m));
}

// ---------------------------------------------------------------- step 1: ink

// The ink bits of a row of w gray levels: gray < threshold (0..256). Returns whether the
// row has ink.
bool ink_row(const uint8_t* gray, int64_t w, int threshold, uint64_t* out) {
  const int64_t words = (w + 63) / 64;
  if (threshold <= 0 || threshold > 255) {  // no ink, or all ink
    std::fill(out, out + words, threshold <= 0 ? 0 : ~uint64_t{0});
    if (threshold > 255 && w % 64) out[words - 1] = (uint64_t{1} << (w % 64)) - 1;
    return threshold > 255;
  }
  uint64_t any = 0;
  int64_t x = 0;
#ifdef __AVX2__
  // v < threshold <=> min(v, threshold - 1) == v, 32 levels at a time
  const __m256i top = _mm256_set1_epi8(static_cast<char>(threshold - 1));
  for (; x + 64 <= w; x += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gray + x));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gray + x + 32));
    const uint32_t lo = static_cast<uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(a, top), a)));
    const uint32_t hi = static_cast<uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(b, top), b)));
    out[x >> 6] = lo | static_cast<uint64_t>(hi) << 32;
    any |= out[x >> 6];
  }
#endif
  for (; x < w; x += 64) {
    uint64_t m = 0;
    for (int64_t i = 0; i < 64 && x + i < w; ++i)
      m |= static_cast<uint64_t>(gray[x + i] < threshold) << i;
    out[x >> 6] = m;
    any |= m;
  }
  return any != 0;
}

// ---------------------------------------------------------------- step 2: thinning

// The 8 neighbours of the 64 pixels of word j of a row, as words (Zhang-Suen's names:
// p2 N, p3 NE, p4 E, p5 SE, p6 S, p7 SW, p8 W, p9 NW).
struct Ring {
  uint64_t p[8];  // p2..p9
  Ring(const uint64_t* up, const uint64_t* mid, const uint64_t* down, int64_t j) {
    auto west = [j](const uint64_t* r) { return r[j] << 1 | r[j - 1] >> 63; };
    auto east = [j](const uint64_t* r) { return r[j] >> 1 | r[j + 1] << 63; };
    p[0] = up[j], p[1] = east(up), p[2] = east(mid), p[3] = east(down);
    p[4] = down[j], p[5] = west(down), p[6] = west(mid), p[7] = west(up);
  }
  // The neighbour count 0..8 of every pixel, bit-sliced: c[k] holds bit k of the counts.
  void count(uint64_t c[4]) const {
    auto full = [](uint64_t a, uint64_t b, uint64_t d, uint64_t& carry) {
      carry = (a & b) | (d & (a ^ b));
      return a ^ b ^ d;
    };
    uint64_t ca, cb, cd, ce;
    const uint64_t sa = full(p[0], p[1], p[2], ca), sb = full(p[3], p[4], p[5], cb);
    const uint64_t sc = p[6] ^ p[7], cc = p[6] & p[7];
    c[0] = full(sa, sb, sc, cd);
    const uint64_t se = full(ca, cb, cc, ce);
    c[1] = se ^ cd;
    const uint64_t cf = se & cd;
    c[2] = ce ^ cf;
    c[3] = ce & cf;
  }
};

// The pixels of word j (row `mid`) that sub-iteration `step` of Zhang-Suen deletes.
uint64_t zhang_suen_deletes(const uint64_t* up, const uint64_t* mid, const uint64_t* down,
                            int64_t j, int step) {
  const Ring r(up, mid, down, j);
  uint64_t c[4];
  r.count(c);
  const uint64_t b_2_to_6 = (c[1] | c[2] | c[3]) & ~(c[3] | (c[2] & c[1] & c[0]));
  uint64_t once = 0, twice = 0;  // 0 -> 1 steps around p2, p3, ..., p9, p2
  for (int i = 0; i < 8; ++i) {
    const uint64_t t = ~r.p[i] & r.p[(i + 1) & 7];
    twice |= once & t;
    once |= t;
  }
  const uint64_t p2 = r.p[0], p4 = r.p[2], p6 = r.p[4], p8 = r.p[6];
  const uint64_t side = step == 0 ? ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
                                  : ~(p2 & p4 & p8) & ~(p2 & p6 & p8);
  return mid[j] & b_2_to_6 & once & ~twice & side;
}

// Zhang-Suen thinning of `img`, in place. A sub-iteration decides on the state at its
// start, and tests only the words next to a word that changed in one of the last two
// sub-iterations (a pixel whose neighbourhood did not change since the last test of the
// same kind is still not deletable); the first two test every word with ink.
void thin(Bits& img) {
  const int64_t stride = img.stride;
  uint64_t* v = img.v.data();
  std::vector<int64_t> active;
  for (int64_t y = 0; y < img.h; ++y)
    for (int64_t j = 0; j < img.words; ++j)
      if (img.row(y)[j]) active.push_back((y + 1) * stride + 1 + j);
  const std::vector<int64_t> all_ink = active;
  std::vector<int32_t> listed(img.v.size(), -1);  // the sub-iteration that listed a word
  std::vector<uint64_t> del;
  // the words changed by the last two sub-iterations ([step & 1]) and their deleted bits
  std::vector<std::pair<int64_t, uint64_t>> changed[2];
  for (int step = 0;; ++step) {
    if (step >= 2) {
      if (changed[0].empty() && changed[1].empty()) return;
      active.clear();
      auto list = [&](int64_t u) {
        if (listed[u] != step && v[u]) {
          listed[u] = step;
          active.push_back(u);
        }
      };
      for (const auto& words : changed)
        for (const auto& [k, bits] : words)
          for (int64_t u = k - stride; u <= k + stride; u += stride) {
            list(u);
            if (bits & 1) list(u - 1);  // bit 0's neighbours reach into the word before
            if (bits >> 63) list(u + 1);
          }
    } else if (step == 1) {
      active = all_ink;
    }
    const int64_t n = static_cast<int64_t>(active.size());
    del.resize(n);
    const int kind = step & 1;
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t* mid = v + active[i];
      del[i] = zhang_suen_deletes(mid - stride, mid, mid + stride, 0, kind);
    }
    auto& now = changed[kind];
    now.clear();
    for (int64_t i = 0; i < n; ++i)
      if (del[i]) {
        v[active[i]] &= ~del[i];
        now.emplace_back(active[i], del[i]);
      }
  }
}

// ---------------------------------------------------------------- step 2: gap closing

struct Offset {
  int32_t dy, dx;
  int64_t d2;
};

// Every offset with dy^2 + dx^2 <= r^2, by (distance, dy, dx): for one centre the first
// pixel met in this order that passes a test is the nearest, ties first in raster order.
std::vector<Offset> disc_offsets(int64_t r) {
  std::vector<Offset> out;
  for (int64_t dy = -r; dy <= r; ++dy)
    for (int64_t dx = -r; dx <= r; ++dx)
      if (dy * dy + dx * dx <= r * r)
        out.push_back({static_cast<int32_t>(dy), static_cast<int32_t>(dx), dy * dy + dx * dx});
  std::sort(out.begin(), out.end(), [](const Offset& a, const Offset& b) {
    if (a.d2 != b.d2) return a.d2 < b.d2;
    if (a.dy != b.dy) return a.dy < b.dy;
    return a.dx < b.dx;
  });
  return out;
}

// Above this largest reach the search scans the box in raster order instead of walking
// a sorted disc (whose table grows with the square of the reach).
constexpr int64_t kMaxTableReach = 96;

// The largest k <= cap whose chessboard ring around (y, x) lies in the image, all ink.
int64_t half_thickness(const Bits& ink, int64_t y, int64_t x, int64_t cap) {
  for (int64_t k = 1; k <= cap; ++k) {
    if (y - k < 0 || x - k < 0 || y + k >= ink.h || x + k >= ink.w) return k - 1;
    for (int64_t i = -k; i <= k; ++i)
      if (!ink.test(y - k, x + i) || !ink.test(y + k, x + i) || !ink.test(y + i, x - k) ||
          !ink.test(y + i, x + k))
        return k - 1;
  }
  return cap;
}

using Point = std::pair<int32_t, int32_t>;  // (y, x)

// Per-thread scratch of the end-point searches: the "own stroke" marks of a window around
// the end point (stamped, never cleared), the own pixels in breadth-first order and the tip.
struct EndScratch {
  std::vector<uint32_t> stamp;
  uint32_t current = 0;
  std::vector<Point> own, tip;
  uint32_t fresh(size_t cells) {
    if (stamp.size() < cells) stamp.resize(cells, 0);
    if (++current == 0) {  // wrapped: forget every old stamp
      std::fill(stamp.begin(), stamp.end(), 0);
      current = 1;
    }
    return current;
  }
};

// The search of one end point e = (y, x) (reference.close_gaps): its direction
// d = n e - sum(own), its tip, and the tests a candidate pixel must pass.
struct EndSearch {
  int64_t y, x, limit;  // limit: (gap + 1)^2, the largest squared distance to the tip
  int64_t dy, dx;
  int64_t wy0, wx0, ww;  // the window of the stamps
  const uint32_t* own;
  uint32_t st;
  const std::vector<Point>& tip;

  // p = (py, px), an ink pixel within the reach: not own, ahead of the stroke (within 60
  // degrees of d; exact in 128 bits) and within gap + 1 of a tip pixel.
  bool accepts(int64_t py, int64_t px, int64_t d2) const {
    if (own[(py - wy0) * ww + (px - wx0)] == st) return false;
    if (dy || dx) {
      const __int128 dot = static_cast<__int128>(py - y) * dy + static_cast<__int128>(px - x) * dx;
      const __int128 dd = static_cast<__int128>(dy) * dy + static_cast<__int128>(dx) * dx;
      if (dot <= 0 || 4 * dot * dot < d2 * dd) return false;
    }
    for (const auto& [ty, tx] : tip)
      if ((ty - py) * (ty - py) + (tx - px) * (tx - px) <= limit) return true;
    return false;
  }
};

// The pixel (y, x) of the end point e = (ey, ex) is joined to, or (-1, -1) for none.
Point closing_target(const Bits& ink, int64_t ey, int64_t ex, int64_t gap,
                     const std::vector<Offset>& disc, EndScratch& sc) {
  const int64_t reach = gap + 2 * half_thickness(ink, ey, ex, gap) + 3;
  const int64_t depth = 2 * reach + 2;
  // the window of every pixel within `depth` chessboard steps holds the whole search
  const int64_t wy0 = std::max<int64_t>(0, ey - depth), wy1 = std::min(ink.h - 1, ey + depth);
  const int64_t wx0 = std::max<int64_t>(0, ex - depth), wx1 = std::min(ink.w - 1, ex + depth);
  const int64_t ww = wx1 - wx0 + 1;
  const uint32_t st = sc.fresh(static_cast<size_t>((wy1 - wy0 + 1) * ww));
  uint32_t* own = sc.stamp.data();

  // own stroke: ink reachable through 8-connected ink in <= depth steps, level by level
  own[(ey - wy0) * ww + (ex - wx0)] = st;
  sc.own.assign(1, {static_cast<int32_t>(ey), static_cast<int32_t>(ex)});
  int64_t sum_y = ey, sum_x = ex;
  for (size_t begin = 0, d = 0; d < static_cast<size_t>(depth) && begin < sc.own.size(); ++d) {
    const size_t end = sc.own.size();
    for (size_t i = begin; i < end; ++i) {
      const int64_t cy = sc.own[i].first, cx = sc.own[i].second;
      for (int64_t ny = cy - 1; ny <= cy + 1; ++ny)
        for (int64_t nx = cx - 1; nx <= cx + 1; ++nx) {
          if (!ink.test(ny, nx)) continue;  // outside the image is paper
          uint32_t& m = own[(ny - wy0) * ww + (nx - wx0)];
          if (m == st) continue;
          m = st;
          sc.own.emplace_back(static_cast<int32_t>(ny), static_cast<int32_t>(nx));
          sum_y += ny;
          sum_x += nx;
        }
    }
    begin = end;
  }
  const int64_t n = static_cast<int64_t>(sc.own.size());
  const EndSearch e{ey, ex, (gap + 1) * (gap + 1), n * ey - sum_y, n * ex - sum_x,
                    wy0, wx0, ww, own, st, sc.tip};
  sc.tip.clear();
  for (const auto& [oy, ox] : sc.own)
    if (static_cast<__int128>(oy - ey) * e.dy + static_cast<__int128>(ox - ex) * e.dx >= 0)
      sc.tip.emplace_back(oy, ox);
  // the stroke goes on past e (reference._stroke_goes_on): an own pixel farther than
  // 2H + 2 from e (H: the half thickness capped at `depth`) within 60 degrees ahead of d;
  // thinning broke the skeleton, not the line, so there is nothing to close
  if (e.dy || e.dx) {
    const int64_t half = half_thickness(ink, ey, ex, depth);
    const int64_t near2 = (2 * half + 2) * (2 * half + 2);
    const __int128 dd = static_cast<__int128>(e.dy) * e.dy + static_cast<__int128>(e.dx) * e.dx;
    for (const auto& [oy, ox] : sc.own) {
      const int64_t vy = oy - ey, vx = ox - ex, d2 = vy * vy + vx * vx;
      if (d2 <= near2) continue;
      const __int128 dot = static_cast<__int128>(vy) * e.dy + static_cast<__int128>(vx) * e.dx;
      if (dot > 0 && 4 * dot * dot >= d2 * dd) return {-1, -1};
    }
  }

  // the nearest accepted ink pixel within the reach, ties first in raster order
  const int64_t r2 = reach * reach;
  if (!disc.empty()) {
    for (const Offset& o : disc) {
      if (o.d2 > r2) break;
      const int64_t py = ey + o.dy, px = ex + o.dx;
      if (py < 0 || px < 0 || py >= ink.h || px >= ink.w || !ink.test(py, px)) continue;
      if (e.accepts(py, px, o.d2)) return {static_cast<int32_t>(py), static_cast<int32_t>(px)};
    }
    return {-1, -1};
  }
  Point best{-1, -1};
  int64_t best_d2 = INT64_MAX;
  for (int64_t py = std::max<int64_t>(0, ey - reach); py <= std::min(ink.h - 1, ey + reach); ++py)
    for (int64_t px = std::max<int64_t>(0, ex - reach); px <= std::min(ink.w - 1, ex + reach); ++px) {
      const int64_t d2 = (py - ey) * (py - ey) + (px - ex) * (px - ex);
      if (d2 <= r2 && d2 < best_d2 && ink.test(py, px) && e.accepts(py, px, d2)) {
        best_d2 = d2;
        best = {static_cast<int32_t>(py), static_cast<int32_t>(px)};
      }
    }
  return best;
}

// The 8-connected Bresenham segment (y0, x0) -> (y1, x1), both ends included.
void draw_segment(Bits& img, int64_t y0, int64_t x0, int64_t y1, int64_t x1) {
  const int64_t dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const int64_t dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int64_t err = dx + dy;
  while (true) {
    img.set(y0, x0);
    if (x0 == x1 && y0 == y1) return;
    const int64_t e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

// The end points of a skeleton (pixels with exactly one skeleton neighbour), raster order.
std::vector<Point> skeleton_ends(const Bits& skel) {
  std::vector<Point> out;
  for (int64_t y = 0; y < skel.h; ++y)
    for (int64_t j = 0; j < skel.words; ++j) {
      const uint64_t* mid = skel.row(y);
      if (!mid[j]) continue;
      uint64_t c[4];
      Ring(skel.row(y - 1), mid, skel.row(y + 1), j).count(c);
      for (uint64_t m = mid[j] & c[0] & ~(c[1] | c[2] | c[3]); m; m &= m - 1)
        out.emplace_back(static_cast<int32_t>(y), static_cast<int32_t>(j * 64 + __builtin_ctzll(m)));
    }
  return out;
}

// `closed` (a copy of `ink`) gets the closing segments of every skeleton end.
void close_gaps(const Bits& ink, Bits& closed, int64_t gap) {
  Bits skel = ink;
  thin(skel);
  const std::vector<Point> ends = skeleton_ends(skel);
  const int64_t max_reach = 3 * gap + 3;
  const std::vector<Offset> disc = max_reach <= kMaxTableReach ? disc_offsets(max_reach)
                                                               : std::vector<Offset>();
  const int64_t n = static_cast<int64_t>(ends.size());
  const int64_t window = 2 * (6 * gap + 8) + 1;  // the largest search window's side
  const bool parallel = static_cast<double>(n) * std::min(window, ink.h) * std::min(window, ink.w) >=
                        static_cast<double>(kParallelWork);
  std::vector<Point> target(n);  // each end's own slot: the same for any number of threads
#pragma omp parallel if (parallel)
  {
    EndScratch sc;
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; ++i)
      target[i] = closing_target(ink, ends[i].first, ends[i].second, gap, disc, sc);
  }
  for (int64_t i = 0; i < n; ++i)
    if (target[i].first >= 0)
      draw_segment(closed, ends[i].first, ends[i].second, target[i].first, target[i].second);
}

// ---------------------------------------------------------------- step 3: paper regions

struct Run {
  int32_t x0, x1;  // paper pixels x0 <= x < x1 of a row
};

int32_t find_root(std::vector<int32_t>& parent, int32_t a) {
  while (parent[a] != a) {
    parent[a] = parent[parent[a]];
    a = parent[a];
  }
  return a;
}

// The smaller root becomes the root: every root is its set's first run in raster order.
void unite(std::vector<int32_t>& parent, int32_t a, int32_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a < b) parent[b] = a;
  else if (b < a) parent[a] = b;
}

// Joins the runs [a, a_end) of a row with the 4-adjacent runs [b, b_end) of the next.
void unite_rows(const std::vector<Run>& runs, std::vector<int32_t>& parent, int32_t a,
                int32_t a_end, int32_t b, int32_t b_end) {
  while (a < a_end && b < b_end) {
    if (runs[a].x0 < runs[b].x1 && runs[b].x0 < runs[a].x1) unite(parent, a, b);
    if (runs[a].x1 < runs[b].x1) ++a;
    else ++b;
  }
}

// The regions of the map being built: labels 1..n; per label its paper area and its
// first pixel y * w + x in raster order (index 0 unused).
struct Regions {
  int32_t n = 0;
  std::vector<int64_t> area{0}, first{0};
};

// 4-connected regions of the pixels that are not `closed`, numbered 1.. in raster order
// of their first pixel, written to `lab` (h x w; closed pixels 0).
Regions label_paper(const Bits& closed, int32_t* lab) {
  const int64_t h = closed.h, w = closed.w;
  std::vector<int32_t> row_start(h + 1, 0);  // the runs of row y: [row_start[y], row_start[y+1])
  std::vector<Run> runs;
  for (int64_t y = 0; y < h; ++y) {
    const uint64_t* row = closed.row(y);
    for (int64_t x = next_bit<false>(row, closed.words, w, 0); x < w;) {
      const int64_t end = next_bit<true>(row, closed.words, w, x);
      runs.push_back({static_cast<int32_t>(x), static_cast<int32_t>(end)});
      x = next_bit<false>(row, closed.words, w, end);
    }
    row_start[y + 1] = static_cast<int32_t>(runs.size());
  }
  std::vector<int32_t> parent(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) parent[i] = static_cast<int32_t>(i);
  for (int64_t y = 1; y < h; ++y)
    unite_rows(runs, parent, row_start[y - 1], row_start[y], row_start[y], row_start[y + 1]);
  std::vector<int32_t> run_label(runs.size());
  Regions reg;
  for (int64_t y = 0; y < h; ++y)
    for (int32_t i = row_start[y]; i < row_start[y + 1]; ++i) {
      const int32_t r = find_root(parent, i);
      if (r == i) {
        run_label[i] = ++reg.n;
        reg.area.push_back(0);
        reg.first.push_back(y * w + runs[i].x0);
      } else {
        run_label[i] = run_label[r];  // r < i: labelled already
      }
      reg.area[run_label[i]] += runs[i].x1 - runs[i].x0;
    }
  for (int64_t y = 0; y < h; ++y) {
    int32_t* row = lab + y * w;
    int64_t x = 0;
    for (int32_t k = row_start[y]; k < row_start[y + 1]; ++k) {
      std::fill(row + x, row + runs[k].x0, 0);
      std::fill(row + runs[k].x0, row + runs[k].x1, run_label[k]);
      x = runs[k].x1;
    }
    std::fill(row + x, row + w, 0);
  }
  return reg;
}

// ---------------------------------------------------------------- step 4: trapping

// The set bits x of a row, increasing (fn(x)) or decreasing.
template <typename Fn>
void for_bits(const uint64_t* row, int64_t words, Fn fn) {
  for (int64_t j = 0; j < words; ++j)
    for (uint64_t m = row[j]; m; m &= m - 1) fn(j * 64 + __builtin_ctzll(m));
}
template <typename Fn>
void for_bits_reversed(const uint64_t* row, int64_t words, Fn fn) {
  for (int64_t j = words - 1; j >= 0; --j)
    for (uint64_t m = row[j]; m;) {
      const int b = 63 - __builtin_clzll(m);
      m &= ~(uint64_t{1} << b);
      fn(j * 64 + b);
    }
}

// Trapping gives a closed pixel the smallest label among its labelled 4-neighbours in the
// round it is reached; by induction over the rounds that is the smallest label of the
// paper pixels nearest to it in the L1 metric (a shortest L1 path from a pixel to its
// nearest paper crosses no other paper). So the labels are the L1 distance transform of
// the paper carrying (distance, label) keys compared as one integer: two raster passes
// (up/left, then down/right), exact for L1, over the closed pixels alone.
using Key = uint64_t;  // distance << 32 | label
constexpr Key kFar = ~Key{0};
inline Key step_key(Key k) { return k == kFar ? kFar : k + (Key{1} << 32); }

void trap(int32_t* lab, const Bits& closed, Regions& reg) {
  const int64_t h = closed.h, w = closed.w;
  int64_t count = 0;
  for (uint64_t word : closed.v) count += __builtin_popcountll(word);
  std::vector<Key> pass(count);
  std::vector<Key> above(w), here(w);  // keys of the closed pixels of the last row and this
  auto paper = [&](int64_t y, int64_t x) { return Key{1} << 32 | static_cast<uint32_t>(lab[y * w + x]); };
  int64_t i = 0;
  for (int64_t y = 0; y < h; ++y) {
    for_bits(closed.row(y), closed.words, [&](int64_t x) {
      Key k = kFar;
      if (x > 0) k = std::min(k, closed.test(y, x - 1) ? step_key(here[x - 1]) : paper(y, x - 1));
      if (y > 0) k = std::min(k, closed.test(y - 1, x) ? step_key(above[x]) : paper(y - 1, x));
      here[x] = pass[i++] = k;
    });
    std::swap(above, here);
  }
  for (int64_t y = h - 1; y >= 0; --y) {
    for_bits_reversed(closed.row(y), closed.words, [&](int64_t x) {
      Key k = pass[--i];
      if (x + 1 < w) k = std::min(k, closed.test(y, x + 1) ? step_key(here[x + 1]) : paper(y, x + 1));
      if (y + 1 < h) k = std::min(k, closed.test(y + 1, x) ? step_key(above[x]) : paper(y + 1, x));
      here[x] = k;
      const int32_t l = static_cast<int32_t>(k & 0xFFFFFFFFu);
      lab[y * w + x] = l;
      reg.first[l] = std::min(reg.first[l], y * w + x);
    });
    std::swap(above, here);
  }
}

// ---------------------------------------------------------------- step 5: merging

using PairKey = uint64_t;  // two labels a < b: a << 32 | b
inline PairKey pair_key(int32_t a, int32_t b) {
  return static_cast<uint64_t>(std::min(a, b)) << 32 | static_cast<uint32_t>(std::max(a, b));
}

// Counts of 4-adjacent pixel pairs per label pair: open addressing, linear probing. There
// are fewer than 2 H W pixel pairs, so a count fits 32 bits.
class PairCounts {
 public:
  PairCounts() { rehash(0); }
  uint32_t& at(PairKey k) {  // inserts the pair with count 0 if it is not there
    size_t i = hash(k);
    while (keys_[i] != k && keys_[i] != kEmpty) i = (i + 1) & mask_;
    if (keys_[i] == kEmpty) {
      if (2 * (used_ + 1) > keys_.size()) {
        rehash(used_ + 1);
        return at(k);
      }
      keys_[i] = k;
      ++used_;
    }
    return counts_[i];
  }
  template <typename Fn>
  void for_each(Fn fn) const {  // fn(key, count) for every pair
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] != kEmpty) fn(keys_[i], counts_[i]);
  }

 private:
  static constexpr PairKey kEmpty = ~PairKey{0};
  std::vector<PairKey> keys_;
  std::vector<uint32_t> counts_;
  size_t mask_ = 0, used_ = 0;
  int shift_ = 0;
  size_t hash(PairKey k) const { return (k * 0x9E3779B97F4A7C15ull) >> shift_; }
  void rehash(size_t entries) {  // at least 4 slots per entry: room to double
    size_t cap = 64;
    shift_ = 58;
    while (cap < 4 * entries) {
      cap *= 2;
      --shift_;
    }
    std::vector<PairKey> keys(cap, kEmpty);
    std::vector<uint32_t> counts(cap, 0);
    std::swap(keys, keys_);
    std::swap(counts, counts_);
    mask_ = cap - 1;
    used_ = 0;
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] != kEmpty) at(keys[i]) = counts[i];
  }
};

// 4-adjacent pixel pairs of different labels, per label pair, for the pairs with a small
// label (the others are never read: only small regions are merged, and a merge moves the
// merged region's counts alone), sorted by key. Two 4-adjacent paper pixels are in one
// region, so every such pair has a closed pixel: only those are visited.
std::vector<std::pair<PairKey, uint32_t>> small_adjacency(const int32_t* lab, const Bits& closed,
                                                          const std::vector<uint8_t>& small) {
  const int64_t h = closed.h, w = closed.w;
  std::vector<std::pair<PairKey, uint32_t>> all;
  for (int64_t band = 0; band < h; band += 64) {
    PairCounts tally;  // the pairs of 64 rows: few, so the table stays in cache
    auto pair = [&](int32_t a, int32_t b) {
      if (a != b && (small[a] || small[b])) ++tally.at(pair_key(a, b));
    };
    for (int64_t y = band; y < std::min(h, band + 64); ++y)
      for_bits(closed.row(y), closed.words, [&](int64_t x) {
        const int32_t* p = lab + y * w + x;
        // each pair once: right and down always, left and up when that side is paper
        if (x + 1 < w) pair(p[0], p[1]);
        if (y + 1 < h) pair(p[0], p[w]);
        if (x > 0 && !closed.test(y, x - 1)) pair(p[0], p[-1]);
        if (y > 0 && !closed.test(y - 1, x)) pair(p[0], p[-w]);
      });
    tally.for_each([&](PairKey k, uint32_t n) { all.emplace_back(k, n); });
  }
  std::sort(all.begin(), all.end());
  size_t k = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (k > 0 && all[k - 1].first == all[i].first) all[k - 1].second += all[i].second;
    else all[k++] = all[i];
  }
  all.resize(k);
  return all;
}

// Step 5 on the trapped map (labels 1..n): returns root[l], the region label l ends in.
// Each region lists (neighbour, count) entries: first the map's pairs, then one entry per
// change a merge brings. The count of a pair is the sum of its entries in either list, and
// entries naming a region merged away are dead: a merge only appends, a list is read once
// (when its region is merged) and the work is the number of entries.
std::vector<int32_t> merge_small(const int32_t* lab, const Bits& closed, const Regions& reg,
                                 int64_t min_area) {
  const int32_t n = reg.n;
  std::vector<int64_t> area = reg.area;
  std::vector<int32_t> parent(n + 1);
  for (int32_t r = 0; r <= n; ++r) parent[r] = r;
  std::vector<uint8_t> small(n + 1, 0);
  std::vector<int32_t> order;
  for (int32_t r = 1; r <= n; ++r)
    if (area[r] < min_area) {
      small[r] = 1;
      order.push_back(r);
    }
  if (order.empty()) return parent;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return area[a] < area[b]; });  // (area, label)

  using Entry = std::pair<int32_t, uint32_t>;  // (neighbour, count)
  const auto pairs = small_adjacency(lab, closed, small);
  std::vector<int64_t> start(n + 2, 0);  // the map's entries of r: first[start[r], start[r+1])
  for (const auto& [key, c] : pairs) {
    ++start[(key >> 32) + 1];
    ++start[(key & 0xFFFFFFFFu) + 1];
  }
  for (int32_t r = 0; r <= n; ++r) start[r + 1] += start[r];
  std::vector<Entry> first(start[n + 1]);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (const auto& [key, c] : pairs) {
      const int32_t a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xFFFFFFFFu);
      first[fill[a]++] = {b, c};
      first[fill[b]++] = {a, c};
    }
  }
  std::vector<std::vector<Entry>> more(n + 1);  // the entries merges appended
  std::vector<int32_t> seen(n + 1, 0);          // = r while r's entries are summed
  std::vector<uint32_t> sum(n + 1, 0);
  std::vector<int32_t> live;
  for (int32_t r : order) {
    if (parent[r] != r || area[r] >= min_area) continue;
    live.clear();
    auto add = [&](const Entry& e) {
      const int32_t x = e.first;
      if (parent[x] != x) return;
      if (seen[x] != r) {
        seen[x] = r;
        sum[x] = 0;
        live.push_back(x);
      }
      sum[x] += e.second;
    };
    for (int64_t i = start[r]; i < start[r + 1]; ++i) add(first[i]);
    for (const Entry& e : more[r]) add(e);
    std::vector<Entry>().swap(more[r]);
    if (live.empty()) continue;
    int32_t target = -1;
    uint32_t most = 0;
    for (int32_t x : live)
      if (sum[x] > most || (sum[x] == most && x < target)) {
        most = sum[x];
        target = x;
      }
    for (int32_t x : live)
      if (x != target) {
        more[target].emplace_back(x, sum[x]);
        more[x].emplace_back(target, sum[x]);
      }
    area[target] += area[r];
    parent[r] = target;
  }
  for (int32_t r = 1; r <= n; ++r) {  // parents point to regions merged later: follow them
    int32_t root = r;
    while (parent[root] != root) root = parent[root];
    for (int32_t x = r; parent[x] != root;) {
      const int32_t up = parent[x];
      parent[x] = root;
      x = up;
    }
  }
  return parent;
}

// ---------------------------------------------------------------- step 6: renumbering

// lab[p] = the number (0..) of region root[lab[p]] in raster order of first pixel: a
// region's first pixel is the first of the first pixels of the labels merged into it.
void renumber(int32_t* lab, int64_t h, int64_t w, const std::vector<int32_t>& root,
              const Regions& reg) {
  const int32_t n = reg.n;
  std::vector<int64_t> first(n + 1, INT64_MAX);
  for (int32_t l = 1; l <= n; ++l) first[root[l]] = std::min(first[root[l]], reg.first[l]);
  std::vector<int32_t> roots;
  for (int32_t l = 1; l <= n; ++l)
    if (root[l] == l) roots.push_back(l);
  std::sort(roots.begin(), roots.end(), [&](int32_t a, int32_t b) { return first[a] < first[b]; });
  std::vector<int32_t> renamed(n + 1, -1);
  for (size_t k = 0; k < roots.size(); ++k) renamed[roots[k]] = static_cast<int32_t>(k);
  for (int32_t l = 1; l <= n; ++l) renamed[l] = renamed[root[l]];
  for (int32_t* p = lab, *e = lab + h * w; p < e; ++p) *p = renamed[*p];
}

}  // namespace

void flat_regions(const uint8_t* gray, int64_t height, int64_t width, int64_t gap,
                  int64_t min_area, int64_t threshold, int32_t* labels) {
  if (height < 1 || width < 1)
    throw std::invalid_argument("flat_regions: the line art has no pixels (" +
                                std::to_string(height) + " x " + std::to_string(width) + ")");
  if (height * width > INT32_MAX)
    throw std::invalid_argument("flat_regions: the line art has more than 2^31 - 1 pixels");
  if (gap < 0 || min_area < 0 || threshold < 0 || threshold > 256)
    throw std::invalid_argument("flat_regions: gap and min_area must be >= 0 and threshold "
                                "0..256, got gap=" + std::to_string(gap) + ", min_area=" +
                                std::to_string(min_area) + ", threshold=" +
                                std::to_string(threshold));
  // A breadth-first path has fewer than H*W steps and every pixel is within H + W: a
  // larger gap reaches the same pixels.
  gap = std::min<int64_t>(gap, height * width);
  {  // |d| <= own pixels * their distance; the 60-degree test squares (p - e) . d in 128 bits
    const int64_t side = std::max(height, width), depth = 6 * gap + 8;
    const double along = static_cast<double>(std::min(depth, side));
    const double across = static_cast<double>(std::min(3 * gap + 3, side));
    const double own = std::min(static_cast<double>(height) * width,
                                static_cast<double>(2 * depth + 1) * (2 * depth + 1));
    if (2.0 * across * along * own >= 4.6e18)
      throw std::invalid_argument("flat_regions: gap=" + std::to_string(gap) +
                                  " is too large for a line art this size");
  }
  // step 1: ink
  Bits ink(height, width);
  bool any_ink = false;
  for (int64_t y = 0; y < height; ++y)
    any_ink = ink_row(gray + y * width, width, static_cast<int>(threshold), ink.row(y)) || any_ink;
  // step 2: gap closing
  Bits closed = ink;
  if (gap > 0 && any_ink) close_gaps(ink, closed, gap);
  // step 3: paper regions; step 4: trapping
  Regions reg = label_paper(closed, labels);
  if (reg.n == 0) {  // no paper at all: one region
    std::fill(labels, labels + height * width, 1);
    reg.n = 1;
    reg.area = {0, 0};
    reg.first = {0, 0};
  } else {
    trap(labels, closed, reg);
  }
  // step 5: merging; step 6: renumbering
  const std::vector<int32_t> root = merge_small(labels, closed, reg, min_area);
  renumber(labels, height, width, root, reg);
}

}  // namespace fastcolor
