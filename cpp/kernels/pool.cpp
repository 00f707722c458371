// Max pooling (see pool.h): one pass per output element over its window's valid taps; threads
// over planes above kParallelMin taps (each output written by one thread: deterministic).
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/iter.h"

namespace fastgrad {
namespace {

// Bits of a float or double as the unsigned integer of its size.
template <class T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

// (best, at) <- (v, q) if `take`, with masks instead of a jump: on real data the comparison is a
// coin toss, and GCC compiles `take ? v : best` on floats to a branch (a 2x2 pool over random
// data ran 7x slower mispredicting it).
template <class T>
inline __attribute__((always_inline)) void select_if(bool take, T v, int64_t q, T& best,
                                                     int64_t& at) {
  const Bits<T> mask = Bits<T>{0} - static_cast<Bits<T>>(take);
  Bits<T> vb, bb;
  std::memcpy(&vb, &v, sizeof(T));
  std::memcpy(&bb, &best, sizeof(T));
  bb ^= (vb ^ bb) & mask;
  std::memcpy(&best, &bb, sizeof(T));
  at += (q - at) & -static_cast<int64_t>(take);
}

// The valid taps [t0, t1) of every output position along one axis: taps t with
// 0 <= o * stride - pad + t * dil < n. Computed once per call, so the per-output loop divides
// nothing (two integer divisions per output cost more than the window's compares).
struct TapRange {
  int64_t start, t0, t1;  // start = o * stride - pad
};

std::vector<TapRange> tap_ranges(int64_t outs, int64_t n, int64_t k, int64_t stride, int64_t pad,
                                 int64_t dil) {
  std::vector<TapRange> r(static_cast<size_t>(outs));
  for (int64_t o = 0; o < outs; ++o) {
    const int64_t s0 = o * stride - pad;
    const int64_t t0 = s0 < 0 ? (-s0 + dil - 1) / dil : 0;
    const int64_t t1 = std::min(k, s0 >= n ? 0 : (n - 1 - s0) / dil + 1);
    r[static_cast<size_t>(o)] = {s0, t0, t1};
  }
  return r;
}

template <class T>
void plane(const PoolGeom& g, const std::vector<TapRange>& rows, const std::vector<TapRange>& cols,
           int64_t p, const T* x, T* y, int64_t* idx) {
  const T* xp = x + p * g.H * g.W;
  T* yp = y + p * g.OH * g.OW;
  int64_t* ip = idx + p * g.OH * g.OW;
  const int64_t base = p * g.H * g.W;
  for (int64_t oy = 0; oy < g.OH; ++oy) {
    const TapRange ry = rows[static_cast<size_t>(oy)];
    for (int64_t ox = 0; ox < g.OW; ++ox) {
      const TapRange rx = cols[static_cast<size_t>(ox)];
      T best = -INFINITY;
      int64_t at = -1;
      for (int64_t i = ry.t0; i < ry.t1; ++i) {
        const int64_t r = (ry.start + i * g.dh) * g.W;
        for (int64_t j = rx.t0; j < rx.t1; ++j) {
          const int64_t q = r + rx.start + j * g.dw;
          const T v = xp[q];
          select_if((at < 0) | (v > best) | ((v != v) & (best == best)), v, q, best,
                    at);  // NaN wins
        }
      }
      yp[oy * g.OW + ox] = best;
      ip[oy * g.OW + ox] = at < 0 ? base : base + at;
    }
  }
}

// The common window (no padding, no dilation, every window inside x) with its size fixed at
// compile time: taps unrolled, in the generic loop's row-major order, so the first maximum and
// the NaN rule give the same answer bit for bit (2x2 went from about 127 instructions per output
// to about 20).
template <class T, int KH, int KW>
void plane_fixed(const PoolGeom& g, int64_t p, const T* x, T* y, int64_t* idx) {
  const int64_t W = g.W, OH = g.OH, OW = g.OW, sh = g.sh, sw = g.sw;
  const T* xp = x + p * g.H * W;
  T* yp = y + p * OH * OW;
  int64_t* ip = idx + p * OH * OW;
  const int64_t base = p * g.H * W;
  for (int64_t oy = 0; oy < OH; ++oy) {
    const int64_t row = oy * sh * W;
    const T* r = xp + row;
    for (int64_t ox = 0; ox < OW; ++ox) {
      const int64_t c = ox * sw;
      T best = r[c];
      int64_t at = c;
#pragma GCC unroll 16
      for (int t = 1; t < KH * KW; ++t) {
        const int64_t q = (t / KW) * W + c + t % KW;
        const T v = r[q];
        select_if((v > best) | ((v != v) & (best == best)), v, q, best, at);  // a NaN wins
      }
      yp[oy * OW + ox] = best;
      ip[oy * OW + ox] = base + row + at;
    }
  }
}

template <class T>
using PlaneFn = void (*)(const PoolGeom&, int64_t, const T*, T*, int64_t*);

template <class T>
PlaneFn<T> fixed_plane(const PoolGeom& g) {
  const bool inside = g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1 &&
                      (g.OH - 1) * g.sh + g.KH <= g.H && (g.OW - 1) * g.sw + g.KW <= g.W;
  if (!inside) return nullptr;
  if (g.KH == 2 && g.KW == 2) return plane_fixed<T, 2, 2>;
  if (g.KH == 3 && g.KW == 3) return plane_fixed<T, 3, 3>;
  return nullptr;
}

template <class T>
void forward_impl(const PoolGeom& g, const T* x, T* y, int64_t* idx) {
  const int64_t work = g.planes * g.OH * g.OW * g.KH * g.KW;
  if (g.OH > 0 && g.OW > 0) {
    if (const PlaneFn<T> f = fixed_plane<T>(g)) {
      const int threads = num_threads();
      if (threads > 1 && g.planes > 1 && work >= kParallelMin) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t p = 0; p < g.planes; ++p) f(g, p, x, y, idx);
        return;
      }
      for (int64_t p = 0; p < g.planes; ++p) f(g, p, x, y, idx);
      return;
    }
  }
  const auto rows = tap_ranges(g.OH, g.H, g.KH, g.sh, g.ph, g.dh);
  const auto cols = tap_ranges(g.OW, g.W, g.KW, g.sw, g.pw, g.dw);
  const int threads = num_threads();
  if (threads > 1 && g.planes > 1 && work >= kParallelMin) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < g.planes; ++p) plane(g, rows, cols, p, x, y, idx);
    return;
  }
  for (int64_t p = 0; p < g.planes; ++p) plane(g, rows, cols, p, x, y, idx);
}

}  // namespace

void max_pool2d_forward(const PoolGeom& g, const float* x, float* y, int64_t* idx) {
  forward_impl(g, x, y, idx);
}
void max_pool2d_forward(const PoolGeom& g, const double* x, double* y, int64_t* idx) {
  forward_impl(g, x, y, idx);
}

}  // namespace fastgrad
