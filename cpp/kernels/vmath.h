// Vectorised elementwise math on contiguous arrays: exp and sigmoid (std::exp is a scalar libm
// call; these loops compile to AVX-512, AVX2+FMA or baseline SSE2 code, chosen once at run time
// by GCC function multi-versioning), and exp_core, the branch-free exp they are built on, for
// other kernels to inline. No Tensor, no autograd, no checks.
#pragma once
#include <cstdint>
#include <cstring>

namespace fastgrad {

// exp(x) for x in [kExpLo, 88] (float) or [kExpLo, 709] (double), or NaN; callers clamp below.
// Branch-free so its loops vectorise (std::exp is a scalar call): x = (n1 + n2) ln 2 + r with r
// in [-ln2/2, ln2/2] (Cody-Waite), exp(r) by polynomial (Cephes expf; Taylor to degree 13 for
// double), scaled by 2^n1 * 2^n2 so that subnormal results need no special case. Within 1 ulp
// of std::exp on normal results.
template <class T> constexpr T kExpLo = T(-110);
template <> constexpr double kExpLo<double> = -750.0;

template <class To, class From>
inline To bits_as(From v) {
  To r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}

inline float exp_core(float x) {
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * 1.44269504088896341f + magic, n = t - magic;
  // Biased exponents of 2^n1 and 2^n2, n1 = round(n / 2); unsigned, so a NaN's bits wrap safely.
  const uint32_t e1 = bits_as<uint32_t>(n * 0.5f + magic) - bits_as<uint32_t>(magic) + 127;
  const uint32_t e2 = bits_as<uint32_t>(t) - bits_as<uint32_t>(magic) - e1 + 254;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return (p * r * r + r + 1.0f) * bits_as<float>(e1 << 23) * bits_as<float>(e2 << 23);
}

inline double exp_core(double x) {
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  const double t = x * 1.4426950408889634074 + magic, n = t - magic;
  const uint64_t e1 = bits_as<uint64_t>(n * 0.5 + magic) - bits_as<uint64_t>(magic) + 1023;
  const uint64_t e2 = bits_as<uint64_t>(t) - bits_as<uint64_t>(magic) - e1 + 2046;
  const double r = (x - n * 6.93145751953125e-1) - n * 1.42860682030941723212e-6;
  double p = 1.0 / 6227020800.0;  // Horner over 1/13!, 1/12!, ..., 1/2!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  return (p * r * r + r + 1.0) * bits_as<double>(e1 << 52) * bits_as<double>(e2 << 52);
}

// The largest argument whose exp is still finite is about 88.7 (float) and 709.8 (double): above
// kExpHi exp_core's result is +inf, as it must be, and +inf itself is clamped to kExpHi first.
template <class T> constexpr T kExpHi = T(89);
template <> constexpr double kExpHi<double> = 710.0;

// exp(x) for any x, NaN and infinities included: the scalar twin of vexp for strided loops.
template <class T>
inline T exp_any(T x) {
  const T c = x < kExpLo<T> ? kExpLo<T> : (x > kExpHi<T> ? kExpHi<T> : x);
  return exp_core(c);
}

// The max of x (n,), n >= 1, NaNs skipped; the sum of x (n,) in a fixed order (64-byte lanes,
// then in order), so the same on every run and thread count.
float vmax(int64_t n, const float* x);
double vmax(int64_t n, const double* x);
float vsum(int64_t n, const float* x);
double vsum(int64_t n, const double* x);
// y[i] = exp(x[i]) for i < n; x == y (in place) is allowed, other overlaps are not.
void vexp(int64_t n, const float* x, float* y);
void vexp(int64_t n, const double* x, double* y);
// y[i] = scale * exp(x[i] - shift) (softmax rows and their gradients); same aliasing rule.
void vexp_shift_scale(int64_t n, const float* x, float shift, float scale, float* y);
void vexp_shift_scale(int64_t n, const double* x, double shift, double scale, double* y);
// y[i] = 1 / (1 + exp(-x[i])); same aliasing rule.
void vsigmoid(int64_t n, const float* x, float* y);
void vsigmoid(int64_t n, const double* x, double* y);

}  // namespace fastgrad
