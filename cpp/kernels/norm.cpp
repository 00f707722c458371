// Batch normalization kernels (see norm.h). Channels are independent: threads split the channels
// above kParallelMin elements, and each channel's sums run in one fixed order (16 double lanes per
// row, combined pairwise in a fixed tree), so results never depend on the thread count. A
// channel's second pass reads what its first just read (N * S values, often still in cache).
#include "kernels/norm.h"

#include <cmath>
#include <limits>

#include "tensor/iter.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FG_CLONES
#endif
#define FG_INLINE inline __attribute__((always_inline))

namespace fastgrad {
namespace {

constexpr int kLanes = 16;

FG_INLINE double combine(double* a) {
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) a[j] += a[j + w];
  return a[0];
}

// s1 = sum(x - k), s2 = sum((x - k)^2) over the N rows of S values of one channel (row stride ld).
template <class T>
FG_INLINE void channel_moments(int64_t N, int64_t S, int64_t ld, const T* x, double k, double& s1,
                               double& s2) {
  double a1[kLanes] = {}, a2[kLanes] = {};
  for (int64_t n = 0; n < N; ++n) {
    const T* p = x + n * ld;
    int64_t i = 0;
    for (; i + kLanes <= S; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const double v = static_cast<double>(p[i + j]) - k;
        a1[j] += v;
        a2[j] += v * v;
      }
    for (; i < S; ++i) {
      const double v = static_cast<double>(p[i]) - k;
      a1[i - (S / kLanes) * kLanes] += v;
      a2[i - (S / kLanes) * kLanes] += v * v;
    }
  }
  s1 = combine(a1);
  s2 = combine(a2);
}

// One channel c of the forward.
template <class T>
FG_INLINE void forward_channel(int64_t N, int64_t C, int64_t S, int64_t c, const T* x, const T* w,
                               const T* b, double eps, T* y, T* mean, T* invstd) {
  const int64_t cnt = N * S, ld = C * S;
  {
    if (cnt == 0) {
      mean[c] = invstd[c] = std::numeric_limits<T>::quiet_NaN();
      return;
    }
    const T* xc = x + c * S;
    const double k = static_cast<double>(xc[0]);
    double s1, s2;
    channel_moments(N, S, ld, xc, k, s1, s2);
    const double d = s1 / static_cast<double>(cnt);
    const double var = std::fmax(s2 / static_cast<double>(cnt) - d * d, 0.0);
    const double m = k + d, r = 1.0 / std::sqrt(var + eps);
    mean[c] = static_cast<T>(m);
    invstd[c] = static_cast<T>(r);
    const double sc = w ? static_cast<double>(w[c]) * r : r;
    const T a = static_cast<T>(sc);
    const T sh = static_cast<T>((b ? static_cast<double>(b[c]) : 0.0) - m * sc);
    for (int64_t n = 0; n < N; ++n) {
      const T* p = xc + n * ld;
      T* q = y + c * S + n * ld;
      for (int64_t i = 0; i < S; ++i) q[i] = p[i] * a + sh;
    }
  }
}

// One channel c of the backward.
template <class T>
FG_INLINE void backward_channel(int64_t N, int64_t C, int64_t S, int64_t c, const T* dy, int64_t sn,
                                int64_t sc, int64_t ss, const T* x, const T* mean, const T* invstd,
                                const T* w, T* dx, T* dw, T* db) {
  const int64_t cnt = N * S, ld = C * S;
  {
    const T* xc = x + c * S;
    const double m = static_cast<double>(mean[c]), r = static_cast<double>(invstd[c]);
    // sums of dy and dy * (x - mean) over the channel
    double a1[kLanes] = {}, a2[kLanes] = {};
    for (int64_t n = 0; n < N; ++n) {
      const T* p = xc + n * ld;
      const T* g = dy + n * sn + c * sc;
      if (ss == 0) {  // dy constant along the row (an expanded gradient)
        double b1[kLanes] = {};
        int64_t i = 0;
        for (; i + kLanes <= S; i += kLanes)
          for (int j = 0; j < kLanes; ++j) b1[j] += static_cast<double>(p[i + j]) - m;
        for (; i < S; ++i) b1[i - (S / kLanes) * kLanes] += static_cast<double>(p[i]) - m;
        const double gv = static_cast<double>(g[0]);
        a1[0] += gv * static_cast<double>(S);
        a2[0] += gv * combine(b1);
        continue;
      }
      int64_t i = 0;
      for (; i + kLanes <= S; i += kLanes)
        for (int j = 0; j < kLanes; ++j) {
          const double gv = static_cast<double>(g[i + j]);
          a1[j] += gv;
          a2[j] += gv * (static_cast<double>(p[i + j]) - m);
        }
      for (; i < S; ++i) {
        const double gv = static_cast<double>(g[i]);
        a1[i - (S / kLanes) * kLanes] += gv;
        a2[i - (S / kLanes) * kLanes] += gv * (static_cast<double>(p[i]) - m);
      }
    }
    const double sdy = combine(a1), sdyx = combine(a2);
    if (db) db[c] = static_cast<T>(sdy);
    if (dw) dw[c] = cnt == 0 ? T(0) : static_cast<T>(sdyx * r);
    if (!dx || cnt == 0) return;
    // dx = k (dy - sdy / cnt - (x - m) r^2 sdyx / cnt) = k dy + c0 - c1 x
    const double inv = 1.0 / static_cast<double>(cnt);
    const double kk = w ? static_cast<double>(w[c]) * r : r;
    const double bb = r * r * sdyx * inv;
    const T k1 = static_cast<T>(kk), c1 = static_cast<T>(kk * bb);
    const T c0 = static_cast<T>(kk * (bb * m - sdy * inv));
    for (int64_t n = 0; n < N; ++n) {
      const T* p = xc + n * ld;
      const T* g = dy + n * sn + c * sc;
      T* q = dx + c * S + n * ld;
      if (ss == 0) {
        const T cg = k1 * g[0] + c0;
        for (int64_t i = 0; i < S; ++i) q[i] = cg - c1 * p[i];
      } else {
        for (int64_t i = 0; i < S; ++i) q[i] = k1 * g[i] + c0 - c1 * p[i];
      }
    }
  }
}

#define FG_FWD(T, NAME)                                                                   \
  FG_CLONES void NAME(int64_t N, int64_t C, int64_t S, int64_t c, const T* x, const T* w, \
                      const T* b, double eps, T* y, T* mean, T* invstd) {                 \
    forward_channel(N, C, S, c, x, w, b, eps, y, mean, invstd);                           \
  }
#define FG_BWD(T, NAME)                                                                    \
  FG_CLONES void NAME(int64_t N, int64_t C, int64_t S, int64_t c, const T* dy, int64_t sn, \
                      int64_t sc, int64_t ss, const T* x, const T* mean, const T* invstd,  \
                      const T* w, T* dx, T* dw, T* db) {                                   \
    backward_channel(N, C, S, c, dy, sn, sc, ss, x, mean, invstd, w, dx, dw, db);          \
  }
FG_FWD(float, fwd_f)
FG_FWD(double, fwd_d)
FG_BWD(float, bwd_f)
FG_BWD(double, bwd_d)
#undef FG_FWD
#undef FG_BWD

}  // namespace

void batch_norm_forward(int64_t N, int64_t C, int64_t S, const float* x, const float* w,
                        const float* b, double eps, float* y, float* mean, float* invstd) {
  parallel_for(C, N * S * C >= kParallelMin,
               [&](int64_t c) { fwd_f(N, C, S, c, x, w, b, eps, y, mean, invstd); });
}
void batch_norm_forward(int64_t N, int64_t C, int64_t S, const double* x, const double* w,
                        const double* b, double eps, double* y, double* mean, double* invstd) {
  parallel_for(C, N * S * C >= kParallelMin,
               [&](int64_t c) { fwd_d(N, C, S, c, x, w, b, eps, y, mean, invstd); });
}
void batch_norm_backward(int64_t N, int64_t C, int64_t S, const float* dy, int64_t sn, int64_t sc,
                         int64_t ss, const float* x, const float* mean, const float* invstd,
                         const float* w, float* dx, float* dw, float* db) {
  parallel_for(C, N * S * C >= kParallelMin, [&](int64_t c) {
    bwd_f(N, C, S, c, dy, sn, sc, ss, x, mean, invstd, w, dx, dw, db);
  });
}
void batch_norm_backward(int64_t N, int64_t C, int64_t S, const double* dy, int64_t sn, int64_t sc,
                         int64_t ss, const double* x, const double* mean, const double* invstd,
                         const double* w, double* dx, double* dw, double* db) {
  parallel_for(C, N * S * C >= kParallelMin, [&](int64_t c) {
    bwd_d(N, C, S, c, dy, sn, sc, ss, x, mean, invstd, w, dx, dw, db);
  });
}

}  // namespace fastgrad
