// The contiguous loops of vmath.h, each compiled three times (x86-64-v4 = AVX-512, v3 = AVX2+FMA,
// baseline) with the clone picked at load time. Each is two passes over y: a clamp (so exp_core
// sees a finite range; a select inside the polynomial loop would stop it vectorising under
// -ftrapping-math), then the polynomial in place.
#include "kernels/vmath.h"

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FG_CLONES
#endif

namespace fastgrad {
namespace {

// y = sign * x - shift, clamped to exp_core's range (sign is 1 or -1: exact).
template <class T>
inline void clamp_into(int64_t n, const T* x, T* y, T sign, T shift) {
  for (int64_t i = 0; i < n; ++i) {
    const T v = sign * x[i] - shift;
    y[i] = v < kExpLo<T> ? kExpLo<T> : (v > kExpHi<T> ? kExpHi<T> : v);
  }
}

// 64 bytes of lanes (16 floats, 8 doubles), the same whichever instruction set a clone uses, so
// the summation order is the same everywhere. They are held as four 16-byte vectors: GCC lowers
// one 64-byte generic vector on AVX2 to per-lane spills and reloads (store-forwarding stalls made
// vmax 10x slower there, and softmax cross-entropy slower than PyTorch), while 16-byte vectors
// are native at every level. Lane k of the 64 bytes is lane k % W of part k / W.
typedef float VecF __attribute__((vector_size(16)));
typedef double VecD __attribute__((vector_size(16)));
template <class T> struct Vec16;
template <> struct Vec16<float> {
  using type = VecF;
};
template <> struct Vec16<double> {
  using type = VecD;
};
template <class T>
using V16 = typename Vec16<T>::type;
constexpr int kParts = 4;

template <class T>
inline T max_lanes(int64_t n, const T* x) {
  constexpr int64_t W = 16 / sizeof(T), L = kParts * W;
  T m = x[0];
  int64_t j = 0;
  if (n >= L) {
    V16<T> acc[kParts];
    std::memcpy(acc, x, 64);
    for (j = L; j + L <= n; j += L) {
      V16<T> v[kParts];
      std::memcpy(v, x + j, 64);
#pragma GCC unroll 4
      for (int q = 0; q < kParts; ++q) acc[q] = v[q] > acc[q] ? v[q] : acc[q];
    }
    m = acc[0][0];
    for (int64_t k = 1; k < L; ++k) {
      const T a = acc[k / W][k % W];
      m = a > m ? a : m;
    }
  }
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

template <class T>
inline T sum_lanes(int64_t n, const T* x) {
  constexpr int64_t W = 16 / sizeof(T), L = kParts * W;
  V16<T> acc[kParts] = {};
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    V16<T> v[kParts];
    std::memcpy(v, x + j, 64);
#pragma GCC unroll 4
    for (int q = 0; q < kParts; ++q) acc[q] += v[q];
  }
  T s = 0;
  for (int64_t k = 0; k < L; ++k) s += acc[k / W][k % W];
  for (; j < n; ++j) s += x[j];
  return s;
}

}  // namespace

FG_CLONES float vmax(int64_t n, const float* x) { return max_lanes(n, x); }
FG_CLONES double vmax(int64_t n, const double* x) { return max_lanes(n, x); }
FG_CLONES float vsum(int64_t n, const float* x) { return sum_lanes(n, x); }
FG_CLONES double vsum(int64_t n, const double* x) { return sum_lanes(n, x); }

template <class T>
inline void exp_shift_scale(int64_t n, const T* x, T shift, T scale, T* y) {
  clamp_into(n, x, y, T(1), shift);
  for (int64_t i = 0; i < n; ++i) y[i] = scale * exp_core(y[i]);
}

FG_CLONES void vexp_shift_scale(int64_t n, const float* x, float shift, float scale, float* y) {
  exp_shift_scale(n, x, shift, scale, y);
}

FG_CLONES void vexp_shift_scale(int64_t n, const double* x, double shift, double scale, double* y) {
  exp_shift_scale(n, x, shift, scale, y);
}

// exp(x - 0) * 1 is exp(x) bit for bit, NaN and infinities included.
FG_CLONES void vexp(int64_t n, const float* x, float* y) { exp_shift_scale(n, x, 0.0f, 1.0f, y); }
FG_CLONES void vexp(int64_t n, const double* x, double* y) { exp_shift_scale(n, x, 0.0, 1.0, y); }

FG_CLONES void vsigmoid(int64_t n, const float* x, float* y) {
  clamp_into(n, x, y, -1.0f, 0.0f);
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + exp_core(y[i]));
}

FG_CLONES void vsigmoid(int64_t n, const double* x, double* y) {
  clamp_into(n, x, y, -1.0, 0.0);
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0 / (1.0 + exp_core(y[i]));
}

FG_CLONES void vlog(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = log_core(x[i]);
}

FG_CLONES void vlog(int64_t n, const double* x, double* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = log_core(x[i]);
}

FG_CLONES void vtanh(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_core(x[i]);
}

FG_CLONES void vtanh(int64_t n, const double* x, double* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_core(x[i]);
}

}  // namespace fastgrad
