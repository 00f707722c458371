// Vectorised elementwise math on contiguous arrays: exp, sigmoid and tanh (std::exp and std::tanh
// are scalar libm calls; these loops compile to AVX-512, AVX2+FMA or baseline SSE2 code, chosen
// once at run time by GCC function multi-versioning), and exp_core, the branch-free exp they are
// built on, for other kernels to inline. No Tensor, no autograd, no checks.
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

// tanh(x) for any x, branch-free like exp_core (std::tanh is a scalar libm call, about 13 ns per
// float): of a = |x|, for a < 0.625 the odd minimax polynomial (float) or rational function
// (double) of Cephes' tanh, above it 1 - 2 / (exp(2a) + 1), a clamped to 10 (float) or 20
// (double) where the result rounds to 1; then the sign of x. Within 1.3 ulp (float, against
// tanh in double) and 2 ulp (double, against glibc's) on 3.4 million points from 1e-45 to 16;
// NaN gives NaN, +-inf +-1, -0 -0.
// Also the scalar twin of vtanh for strided loops.
inline float tanh_core(float x) {
  const uint32_t sign = bits_as<uint32_t>(x) & 0x80000000u;
  const float a = bits_as<float>(bits_as<uint32_t>(x) ^ sign);
  const float c = a > 10.0f ? 10.0f : a;  // NaN stays NaN
  const float big = 1.0f - 2.0f / (exp_core(2.0f * c) + 1.0f);
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * a + a;
  return bits_as<float>(bits_as<uint32_t>(a < 0.625f ? small : big) | sign);
}

inline double tanh_core(double x) {
  const uint64_t sign = bits_as<uint64_t>(x) & 0x8000000000000000ull;
  const double a = bits_as<double>(bits_as<uint64_t>(x) ^ sign);
  const double c = a > 20.0 ? 20.0 : a;
  const double big = 1.0 - 2.0 / (exp_core(2.0 * c) + 1.0);
  const double z = a * a;
  const double p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z -
                   1.61468768441708447952e3;
  const double q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z +
                   4.84406305325125486048e3;
  const double small = a + a * z * (p / q);
  return bits_as<double>(bits_as<uint64_t>(a < 0.625 ? small : big) | sign);
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
// y[i] = tanh_core(x[i]); same aliasing rule.
void vtanh(int64_t n, const float* x, float* y);
void vtanh(int64_t n, const double* x, double* y);

}  // namespace fastgrad
