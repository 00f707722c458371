// 2-D convolution as GEMMs over packed image patches (see conv.h). The forward is an implicit
// GEMM: image patches go straight into the GEMM's B micro-panels (gemm_ex with a packer), no
// im2col matrix, and bias and ReLU are the GEMM's store epilogue. The gradients' patch matrices
// are made per image and per block of output positions (at most kColElems elements, in a reused
// per-thread buffer); a 1x1, stride-1, unpadded convolution reads the image in place.
// Threads: over images when the batch is at least the thread count (each GEMM then runs on its
// thread), else inside each GEMM. Every output element is computed by one fixed sequence of
// operations, so results are bitwise identical for any thread count.
#include "kernels/conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm.h"
#include "tensor/iter.h"

namespace fastgrad {
namespace {

constexpr int64_t kColElems = 1 << 20;  // patch block per thread: 4 MB of float32
constexpr int64_t kWorkMin = 1 << 16;   // multiply-adds below which no thread is started
constexpr int64_t kChunks = 8;          // image chunks of the weight gradient

// Output positions per patch block for K patch rows and P positions.
int64_t block_positions(int64_t K, int64_t P) {
  if (K * P <= kColElems) return P;
  return std::max<int64_t>(64, kColElems / std::max<int64_t>(K, 1));
}

bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// dst[p - p0] for p in [p0, p1) = patch row r = (c, i, j) of output position p: x_c at the input
// position of output p and tap (i, j), 0 in the padding. x points at the group's first channel
// of one image.
template <class T>
void patch_row(const ConvGeom& g, const T* x, int64_t r, int64_t p0, int64_t p1,
               T* __restrict dst) {
  const int64_t j = r % g.KW, i = (r / g.KW) % g.KH, c = r / (g.KW * g.KH);
  const T* xc = x + c * g.H * g.W;
  const int64_t off = j * g.dw - g.pw;
  // ox in [lo_all, hi_all) reads inside the row: 0 <= ox * sw + off < W
  const int64_t lo_all = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
  const int64_t hi_all = g.W - off <= 0 ? 0 : (g.W - off + g.sw - 1) / g.sw;
  for (int64_t p = p0; p < p1;) {
    const int64_t oy = p / g.OW, ox0 = p % g.OW;
    const int64_t ox1 = std::min(g.OW, ox0 + (p1 - p));
    const int64_t iy = oy * g.sh - g.ph + i * g.dh;
    T* d = dst + (p - p0) - ox0;  // d[ox]
    if (iy < 0 || iy >= g.H) {
      for (int64_t ox = ox0; ox < ox1; ++ox) d[ox] = T(0);
    } else {
      const T* __restrict src = xc + iy * g.W + off;
      const int64_t lo = std::clamp(lo_all, ox0, ox1), hi = std::clamp(hi_all, lo, ox1);
      for (int64_t ox = ox0; ox < lo; ++ox) d[ox] = T(0);
      if (g.sw == 1) {
        for (int64_t ox = lo; ox < hi; ++ox) d[ox] = src[ox];
      } else {
        for (int64_t ox = lo; ox < hi; ++ox) d[ox] = src[ox * g.sw];
      }
      for (int64_t ox = hi; ox < ox1; ++ox) d[ox] = T(0);
    }
    p += ox1 - ox0;
  }
}

// The patch matrix (K, P) = (patch row, position) of one image and group as the B operand of the
// forward's implicit GEMM (GemmPackB): micro-panels are filled straight from the image, a patch
// row at a time through a small buffer in L1; no im2col matrix is stored.
template <class T>
struct PatchB {
  const ConvGeom* g;
  const T* x;
};

constexpr int64_t kRowChunk = 512;  // positions per patch_row call (a multiple of any nr)

template <class T>
void pack_patch_panels(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
                       T* out) {
  const PatchB<T>& s = *static_cast<const PatchB<T>*>(ctx);
  alignas(64) T buf[kRowChunk];
  // B[r][p]: rows r = k0.., columns p = j0..
  for (int64_t c0 = 0; c0 < nc; c0 += kRowChunk) {
    const int64_t c1 = std::min(nc, c0 + kRowChunk);
    for (int64_t k = 0; k < kc; ++k) {
      patch_row(*s.g, s.x, k0 + k, j0 + c0, j0 + c1, buf);
      const int64_t full = c0 + (c1 - c0) / nr * nr;
      if (nr == 16) {  // the AVX2 float tile: a fixed-size copy the compiler keeps in registers
        for (int64_t c = c0; c < full; c += 16)
          std::memcpy(out + (c / 16) * kc * 16 + k * 16, buf + (c - c0), sizeof(T) * 16);
      } else {
        for (int64_t c = c0; c < full; c += nr) {
          T* __restrict dst = out + (c / nr) * kc * nr + k * nr;
          const T* __restrict src = buf + (c - c0);
          for (int64_t e = 0; e < nr; ++e) dst[e] = src[e];
        }
      }
      if (full < c1) {
        T* dst = out + (full / nr) * kc * nr + k * nr;
        for (int64_t e = 0; e < nr; ++e) dst[e] = e < c1 - full ? buf[full - c0 + e] : T(0);
      }
    }
  }
}

// A per-thread buffer of at least n elements, reused across calls (not zeroed).
template <class T>
T* scratch(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// The adjoint of patch_row over all rows (K, p1-p0): dx_c at each input position += the col entries that read it.
template <class T>
void unpack_add(const ConvGeom& g, int64_t Cg, const T* col, int64_t p0, int64_t p1, T* dx) {
  const int64_t pb = p1 - p0;
  for (int64_t c = 0; c < Cg; ++c) {
    T* dc = dx + c * g.H * g.W;
    for (int64_t i = 0; i < g.KH; ++i) {
      for (int64_t j = 0; j < g.KW; ++j) {
        const T* row = col + ((c * g.KH + i) * g.KW + j) * pb;
        for (int64_t p = p0; p < p1;) {
          const int64_t oy = p / g.OW, ox0 = p % g.OW;
          const int64_t ox1 = std::min(g.OW, ox0 + (p1 - p));
          const int64_t iy = oy * g.sh - g.ph + i * g.dh;
          if (iy >= 0 && iy < g.H) {
            T* dst = dc + iy * g.W;
            const T* src = row + (p - p0);
            const int64_t off = j * g.dw - g.pw;
            int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
            int64_t hi = g.W - off <= 0 ? 0 : (g.W - off + g.sw - 1) / g.sw;
            lo = std::clamp(lo, ox0, ox1);
            hi = std::clamp(hi, lo, ox1);
            if (g.sw == 1) {
              T* __restrict d = dst + off;
              const T* __restrict q = src - ox0;
              for (int64_t ox = lo; ox < hi; ++ox) d[ox] += q[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.sw + off] += src[ox - ox0];
            }
          }
          p += ox1 - ox0;
        }
      }
    }
  }
}

// Runs body(n, col) for every image n: on threads over images when there are enough images and
// work, else serially (the GEMMs inside then use the threads). col: a per-thread buffer.
template <class T, class F>
void for_images(const ConvGeom& g, int64_t col_len, int64_t work, F body) {
  const int threads = num_threads();
  if (threads > 1 && g.N >= threads && work >= kWorkMin) {
#pragma omp parallel num_threads(threads)
    {
      T* col = scratch<T>(static_cast<size_t>(col_len));
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) body(n, col);
    }
    return;
  }
  T* col = scratch<T>(static_cast<size_t>(col_len));
  for (int64_t n = 0; n < g.N; ++n) body(n, col);
}

// --- depthwise (one input and one output channel per group): direct loops --------------------
// Note [Depthwise order]: each output sums its taps in (i, j) order, each weight gradient its
// images in order, whatever the threads: deterministic, and different from the GEMM path's order.

// The output columns [lo, hi) whose tap at column offset off reads inside a row of width W.
inline void tap_range(int64_t off, int64_t sw, int64_t W, int64_t OW, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - off <= 0 ? 0 : (W - off + sw - 1) / sw;
  lo = std::min(lo, OW);
  hi = std::clamp(hi, lo, OW);
}

bool is_depthwise(const ConvGeom& g) { return g.C == g.groups && g.O == g.groups; }

template <class F>
void for_planes(int64_t planes, int64_t work, F body) {
  const int threads = num_threads();
  if (threads > 1 && planes > 1 && work >= kWorkMin) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < planes; ++p) body(p);
    return;
  }
  for (int64_t p = 0; p < planes; ++p) body(p);
}

// 3x3 taps, unit horizontal stride and dilation (any vertical ones): each output sums its taps
// in registers, in (i, j) order skipping taps outside the input, so the same value as the
// tap-by-tap loops below (Note [Depthwise order]); the row's interior columns vectorise.
inline bool depthwise_3x3_fast(const ConvGeom& g) {
  return g.KH == 3 && g.KW == 3 && g.sw == 1 && g.dw == 1;
}

// y[ox] (output row oy of one plane) = the sum of its in-range taps in (i, j) order.
template <class T>
void depthwise_row_3x3(const ConvGeom& g, const T* __restrict xp, const T* __restrict wc,
                       int64_t oy, T* __restrict yr) {
  const int64_t iy0 = oy * g.sh - g.ph;
  const auto tap_sum = [&](int64_t ox) {
    T acc = T(0);
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t iy = iy0 + i * g.dh;
      if (iy < 0 || iy >= g.H) continue;
      for (int64_t j = 0; j < 3; ++j) {
        const int64_t ix = ox - g.pw + j;
        if (ix >= 0 && ix < g.W) acc += wc[i * 3 + j] * xp[iy * g.W + ix];
      }
    }
    return acc;
  };
  int64_t lo = 0, hi = 0;  // columns whose three taps are inside the row
  if (iy0 >= 0 && iy0 + 2 * g.dh < g.H) {
    lo = std::clamp<int64_t>(g.pw, 0, g.OW);
    hi = std::clamp<int64_t>(g.W - 2 + g.pw, lo, g.OW);
  }
  for (int64_t ox = 0; ox < lo; ++ox) yr[ox] = tap_sum(ox);
  if (lo < hi) {
    // a[t] = row iy0 at column t + lo - pw: the first tap of column lo + t (never before x)
    const T* __restrict a = xp + iy0 * g.W + (lo - g.pw);
    const T* __restrict b = a + g.dh * g.W;
    const T* __restrict c = b + g.dh * g.W;
    yr += lo;
    const T w0 = wc[0], w1 = wc[1], w2 = wc[2], w3 = wc[3], w4 = wc[4], w5 = wc[5], w6 = wc[6],
            w7 = wc[7], w8 = wc[8];
    for (int64_t ox = 0; ox < hi - lo; ++ox) {
      T acc = T(0);
      acc += w0 * a[ox];
      acc += w1 * a[ox + 1];
      acc += w2 * a[ox + 2];
      acc += w3 * b[ox];
      acc += w4 * b[ox + 1];
      acc += w5 * b[ox + 2];
      acc += w6 * c[ox];
      acc += w7 * c[ox + 1];
      acc += w8 * c[ox + 2];
      yr[ox] = acc;
    }
    yr -= lo;
  }
  for (int64_t ox = std::max(lo, hi); ox < g.OW; ++ox) yr[ox] = tap_sum(ox);
}

template <class T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, bool relu, T* y) {
  const int64_t HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  const bool fast = depthwise_3x3_fast(g);
  for_planes(g.N * g.C, g.N * g.C * P * KK, [&](int64_t q) {
    const int64_t c = q % g.C;
    const T* xp = x + q * HW;
    T* yp = y + q * P;
    if (fast) {
      for (int64_t oy = 0; oy < g.OH; ++oy) depthwise_row_3x3(g, xp, w + c * 9, oy, yp + oy * g.OW);
    } else {
      std::fill(yp, yp + P, T(0));
      for (int64_t i = 0; i < g.KH; ++i) {
        for (int64_t j = 0; j < g.KW; ++j) {
          const T wv = w[c * KK + i * g.KW + j];
          const int64_t off = j * g.dw - g.pw;
          int64_t lo, hi;
          tap_range(off, g.sw, g.W, g.OW, lo, hi);
          for (int64_t oy = 0; oy < g.OH; ++oy) {
            const int64_t iy = oy * g.sh - g.ph + i * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            const T* __restrict xr = xp + iy * g.W + off;
            T* __restrict yr = yp + oy * g.OW;
            if (g.sw == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox * g.sw];
            }
          }
        }
      }
    }
    // the epilogue on the plane while it is in cache: + bias, relu (as conv2d_forward)
    if (bias) {
      const T b = bias[c];
      for (int64_t e = 0; e < P; ++e) yp[e] = yp[e] + b;
    }
    if (relu) {
      for (int64_t e = 0; e < P; ++e) yp[e] = yp[e] > T(0) ? yp[e] : T(0);
    }
  });
}

// dx row iy of one plane for 3x3 taps, unit strides and horizontal dilation: each input position
// gathers its in-range taps in (i, j) order, the order of the tap-by-tap loops below.
template <class T>
void depthwise_grad_row_3x3(const ConvGeom& g, const T* __restrict gp, const T* __restrict wc,
                            int64_t iy, T* __restrict dr) {
  const int64_t oy0 = iy + g.ph;  // output row of tap i: oy0 - i * dh
  const auto tap_sum = [&](int64_t ix) {
    T acc = T(0);
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t oy = oy0 - i * g.dh;
      if (oy < 0 || oy >= g.OH) continue;
      for (int64_t j = 0; j < 3; ++j) {
        const int64_t ox = ix + g.pw - j;
        if (ox >= 0 && ox < g.OW) acc += wc[i * 3 + j] * gp[oy * g.OW + ox];
      }
    }
    return acc;
  };
  int64_t lo = 0, hi = 0;  // columns all of whose taps fall inside the output row
  if (oy0 - 2 * g.dh >= 0 && oy0 < g.OH) {
    lo = std::clamp<int64_t>(2 - g.pw, 0, g.W);
    hi = std::clamp<int64_t>(g.OW - g.pw, lo, g.W);
  }
  for (int64_t ix = 0; ix < lo; ++ix) dr[ix] = tap_sum(ix);
  if (lo < hi) {
    // a[t] = output row of tap i = 0 at column lo + t + pw (tap j reads a[t - j])
    const T* __restrict a = gp + oy0 * g.OW + (lo + g.pw);
    const T* __restrict b = a - g.dh * g.OW;
    const T* __restrict c = b - g.dh * g.OW;
    const T w0 = wc[0], w1 = wc[1], w2 = wc[2], w3 = wc[3], w4 = wc[4], w5 = wc[5], w6 = wc[6],
            w7 = wc[7], w8 = wc[8];
    T* __restrict d = dr + lo;
    for (int64_t t = 0; t < hi - lo; ++t) {
      T acc = T(0);
      acc += w0 * a[t];
      acc += w1 * a[t - 1];
      acc += w2 * a[t - 2];
      acc += w3 * b[t];
      acc += w4 * b[t - 1];
      acc += w5 * b[t - 2];
      acc += w6 * c[t];
      acc += w7 * c[t - 1];
      acc += w8 * c[t - 2];
      d[t] = acc;
    }
  }
  for (int64_t ix = std::max(lo, hi); ix < g.W; ++ix) dr[ix] = tap_sum(ix);
}

template <class T>
void depthwise_input_grad(const ConvGeom& g, const T* gy, const T* w, T* dx) {
  const int64_t HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  const bool fast = depthwise_3x3_fast(g) && g.sh == 1;
  for_planes(g.N * g.C, g.N * g.C * P * KK, [&](int64_t q) {
    const int64_t c = q % g.C;
    const T* gp = gy + q * P;
    T* dp = dx + q * HW;
    if (fast) {
      for (int64_t iy = 0; iy < g.H; ++iy)
        depthwise_grad_row_3x3(g, gp, w + c * 9, iy, dp + iy * g.W);
      return;
    }
    std::fill(dp, dp + HW, T(0));
    for (int64_t i = 0; i < g.KH; ++i) {
      for (int64_t j = 0; j < g.KW; ++j) {
        const T wv = w[c * KK + i * g.KW + j];
        const int64_t off = j * g.dw - g.pw;
        int64_t lo, hi;
        tap_range(off, g.sw, g.W, g.OW, lo, hi);
        for (int64_t oy = 0; oy < g.OH; ++oy) {
          const int64_t iy = oy * g.sh - g.ph + i * g.dh;
          if (iy < 0 || iy >= g.H) continue;
          T* __restrict dr = dp + iy * g.W + off;
          const T* __restrict gr = gp + oy * g.OW;
          if (g.sw == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) dr[ox] += wv * gr[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) dr[ox * g.sw] += wv * gr[ox];
          }
        }
      }
    }
  });
}

template <class T>
void depthwise_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* dw) {
  const int64_t HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  // Per channel, per tap, one partial sum per output column (a vectorisable update), summed
  // over columns at the end: a fixed order (Note [Depthwise order]).
  const auto body = [&](int64_t c, T* acc) {
    std::fill(acc, acc + KK * g.OW, T(0));
    for (int64_t n = 0; n < g.N; ++n) {
      const T* xp = x + (n * g.C + c) * HW;
      const T* gp = gy + (n * g.C + c) * P;
      for (int64_t i = 0; i < g.KH; ++i) {
        for (int64_t j = 0; j < g.KW; ++j) {
          const int64_t off = j * g.dw - g.pw;
          int64_t lo, hi;
          tap_range(off, g.sw, g.W, g.OW, lo, hi);
          T* __restrict a = acc + (i * g.KW + j) * g.OW;
          for (int64_t oy = 0; oy < g.OH; ++oy) {
            const int64_t iy = oy * g.sh - g.ph + i * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            const T* __restrict xr = xp + iy * g.W + off;
            const T* __restrict gr = gp + oy * g.OW;
            if (g.sw == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) a[ox] += gr[ox] * xr[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) a[ox] += gr[ox] * xr[ox * g.sw];
            }
          }
        }
      }
    }
    for (int64_t t = 0; t < KK; ++t) {
      T sum = 0;
      for (int64_t ox = 0; ox < g.OW; ++ox) sum += acc[t * g.OW + ox];
      dw[c * KK + t] = sum;
    }
  };
  const size_t len = static_cast<size_t>(KK * g.OW);
  const int threads = num_threads();
  if (threads > 1 && g.C > 1 && g.N * g.C * P * KK >= kWorkMin) {
#pragma omp parallel num_threads(threads)
    {
      std::vector<T> acc(len);
#pragma omp for schedule(static)
      for (int64_t c = 0; c < g.C; ++c) body(c, acc.data());
    }
    return;
  }
  std::vector<T> acc(len);
  for (int64_t c = 0; c < g.C; ++c) body(c, acc.data());
}

template <class T>
void forward_impl(const ConvGeom& g, const T* x, const T* w, const T* bias, bool relu, T* y) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW, HW = g.H * g.W;
  if (g.N == 0 || g.O == 0 || P == 0) return;
  if (K == 0) {
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t o = 0; o < g.O; ++o) {
        const T v = bias ? T(0) + bias[o] : T(0);
        std::fill(y + (n * g.O + o) * P, y + (n * g.O + o + 1) * P, v > T(0) || !relu ? v : T(0));
      }
    return;
  }
  if (is_depthwise(g)) {
    depthwise_forward(g, x, w, bias, relu, y);
    return;
  }
  const bool pointwise = is_pointwise(g);
  for_images<T>(g, 0, g.O * K * P, [&](int64_t n, T*) {
    for (int64_t k = 0; k < g.groups; ++k) {
      const T* xk = x + (n * g.C + k * Cg) * HW;
      const T* wk = w + k * Og * K;
      T* yk = y + (n * g.O + k * Og) * P;
      GemmEpilogue<T> ep;
      ep.row_bias = bias ? bias + k * Og : nullptr;
      ep.relu = relu;
      if (pointwise) {
        gemm_ex(Og, P, K, wk, K, 1, xk, HW, 1, T(0), yk, P, 1, ep, nullptr);
        continue;
      }
      const PatchB<T> src{&g, xk};
      const GemmPackB<T> packer{&pack_patch_panels<T>, &src};
      gemm_ex(Og, P, K, wk, K, 1, static_cast<const T*>(nullptr), 0, 0, T(0), yk, P, 1, ep,
              &packer);
    }
  });
}

template <class T>
void input_grad_impl(const ConvGeom& g, const T* gy, const T* w, T* dx) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW, HW = g.H * g.W;
  if (g.N == 0 || g.C == 0 || HW == 0) return;
  if (is_depthwise(g) && P > 0) {
    depthwise_input_grad(g, gy, w, dx);
    return;
  }
  const bool pointwise = is_pointwise(g);
  const int64_t pb_max = block_positions(K, P);
  for_images<T>(g, pointwise ? 0 : K * pb_max, g.O * K * P, [&](int64_t n, T* col) {
    T* dxn = dx + n * g.C * HW;
    if (!pointwise || g.O == 0) std::fill(dxn, dxn + g.C * HW, T(0));
    if (g.O == 0 || P == 0) return;
    for (int64_t k = 0; k < g.groups; ++k) {
      const T* wk = w + k * Og * K;
      const T* gk = gy + (n * g.O + k * Og) * P;
      T* dxk = dxn + k * Cg * HW;
      if (pointwise) {  // dx_k (Cg, HW) = W_k^T (Cg, Og) @ gy_k (Og, HW)
        gemm(K, P, Og, wk, 1, K, gk, P, 1, T(0), dxk, HW, 1);
        continue;
      }
      for (int64_t p0 = 0; p0 < P; p0 += pb_max) {
        const int64_t p1 = std::min(P, p0 + pb_max), pb = p1 - p0;
        gemm(K, pb, Og, wk, 1, K, gk + p0, P, 1, T(0), col, pb, 1);
        unpack_add(g, Cg, col, p0, p1, dxk);
      }
    }
  });
}

// dw (+)= sum over images [n0, n1) of gy_n @ patches(x_n)^T; beta: 0 for the first product. The
// patch matrix is stored per block of positions (col) and read transposed by the GEMM's packing:
// measured faster here than packing the transposed patches straight into the panels.
template <class T>
void weight_grad_images(const ConvGeom& g, const T* x, const T* gy, int64_t n0, int64_t n1, T* dw,
                        T* col, int64_t pb_max) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  bool first = true;
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t p0 = 0; p0 < P; p0 += pb_max) {
      const int64_t p1 = std::min(P, p0 + pb_max), pb = p1 - p0;
      for (int64_t k = 0; k < g.groups; ++k) {
        const T* xk = x + (n * g.C + k * Cg) * HW;
        const T* gk = gy + (n * g.O + k * Og) * P;
        T* dwk = dw + k * Og * K;
        const T beta = first ? T(0) : T(1);
        if (pointwise) {  // dw_k (Og, Cg) = gy_k (Og, P) @ x_k^T (P, Cg)
          gemm(Og, K, pb, gk + p0, P, 1, xk + p0, 1, HW, beta, dwk, K, 1);
        } else {
          for (int64_t r = 0; r < K; ++r) patch_row(g, xk, r, p0, p1, col + r * pb);
          gemm(Og, K, pb, gk + p0, P, 1, col, 1, pb, beta, dwk, K, 1);
        }
      }
      first = false;
    }
  }
}

template <class T>
void weight_grad_impl(const ConvGeom& g, const T* x, const T* gy, T* dw) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW;
  const int64_t len = g.O * K;
  if (len == 0) return;
  if (g.N == 0 || P == 0) {
    std::fill(dw, dw + len, T(0));
    return;
  }
  if (is_depthwise(g)) {
    depthwise_weight_grad(g, x, gy, dw);
    return;
  }
  const int64_t pb_max = block_positions(K, P);
  const int64_t col_len = is_pointwise(g) ? 0 : K * pb_max;
  const int64_t chunks = std::min(g.N, kChunks);
  const int threads = num_threads();
  if (chunks == 1 || threads == 1 || g.O * K * P * g.N < kWorkMin) {
    // Same chunks and the same order of sums as the threaded path below.
    std::vector<T> part(static_cast<size_t>(chunks > 1 ? len : 0));
    T* col = scratch<T>(static_cast<size_t>(col_len));
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t n0 = g.N * c / chunks, n1 = g.N * (c + 1) / chunks;
      T* dst = c == 0 ? dw : part.data();
      weight_grad_images(g, x, gy, n0, n1, dst, col, pb_max);
      if (c > 0) {
        for (int64_t e = 0; e < len; ++e) dw[e] += part[e];
      }
    }
    return;
  }
  std::vector<T> parts(static_cast<size_t>(chunks * len));
#pragma omp parallel num_threads(threads)
  {
    T* col = scratch<T>(static_cast<size_t>(col_len));
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t n0 = g.N * c / chunks, n1 = g.N * (c + 1) / chunks;
      weight_grad_images(g, x, gy, n0, n1, parts.data() + c * len, col, pb_max);
    }
  }
  std::copy(parts.begin(), parts.begin() + len, dw);
  for (int64_t c = 1; c < chunks; ++c) {
    const T* src = parts.data() + c * len;
    for (int64_t e = 0; e < len; ++e) dw[e] += src[e];
  }
}

}  // namespace

void conv2d_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, bool relu,
                    float* y) {
  forward_impl(g, x, w, bias, relu, y);
}
void conv2d_forward(const ConvGeom& g, const double* x, const double* w, const double* bias,
                    bool relu, double* y) {
  forward_impl(g, x, w, bias, relu, y);
}
void conv2d_input_grad(const ConvGeom& g, const float* gy, const float* w, float* dx) {
  input_grad_impl(g, gy, w, dx);
}
void conv2d_input_grad(const ConvGeom& g, const double* gy, const double* w, double* dx) {
  input_grad_impl(g, gy, w, dx);
}
void conv2d_weight_grad(const ConvGeom& g, const float* x, const float* gy, float* dw) {
  weight_grad_impl(g, x, gy, dw);
}
void conv2d_weight_grad(const ConvGeom& g, const double* x, const double* gy, double* dw) {
  weight_grad_impl(g, x, gy, dw);
}

}  // namespace fastgrad
