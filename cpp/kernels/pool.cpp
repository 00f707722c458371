// Max pooling (see pool.h): one pass per output element over its window's valid taps; threads
// over planes above kParallelMin taps (each output written by one thread: deterministic).
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>

#include "tensor/iter.h"

namespace fastgrad {
namespace {

template <class T>
void plane(const PoolGeom& g, int64_t p, const T* x, T* y, int64_t* idx) {
  const T* xp = x + p * g.H * g.W;
  T* yp = y + p * g.OH * g.OW;
  int64_t* ip = idx + p * g.OH * g.OW;
  const int64_t base = p * g.H * g.W;
  for (int64_t oy = 0; oy < g.OH; ++oy) {
    const int64_t y0 = oy * g.sh - g.ph;
    // taps i with 0 <= y0 + i * dh < H
    const int64_t i0 = y0 < 0 ? (-y0 + g.dh - 1) / g.dh : 0;
    const int64_t i1 = std::min(g.KH, y0 >= g.H ? 0 : (g.H - 1 - y0) / g.dh + 1);
    for (int64_t ox = 0; ox < g.OW; ++ox) {
      const int64_t x0 = ox * g.sw - g.pw;
      const int64_t j0 = x0 < 0 ? (-x0 + g.dw - 1) / g.dw : 0;
      const int64_t j1 = std::min(g.KW, x0 >= g.W ? 0 : (g.W - 1 - x0) / g.dw + 1);
      T best = -INFINITY;
      int64_t at = -1;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = (y0 + i * g.dh) * g.W;
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t q = r + x0 + j * g.dw;
          const T v = xp[q];
          if (at < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
            best = v;
            at = q;
          }
        }
      }
      yp[oy * g.OW + ox] = best;
      ip[oy * g.OW + ox] = at < 0 ? base : base + at;
    }
  }
}

template <class T>
void forward_impl(const PoolGeom& g, const T* x, T* y, int64_t* idx) {
  const int64_t work = g.planes * g.OH * g.OW * g.KH * g.KW;
  const int threads = num_threads();
  if (threads > 1 && g.planes > 1 && work >= kParallelMin) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < g.planes; ++p) plane(g, p, x, y, idx);
    return;
  }
  for (int64_t p = 0; p < g.planes; ++p) plane(g, p, x, y, idx);
}

}  // namespace

void max_pool2d_forward(const PoolGeom& g, const float* x, float* y, int64_t* idx) {
  forward_impl(g, x, y, idx);
}
void max_pool2d_forward(const PoolGeom& g, const double* x, double* y, int64_t* idx) {
  forward_impl(g, x, y, idx);
}

}  // namespace fastgrad
