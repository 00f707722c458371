// Vectorised elementwise math on contiguous arrays: exp, log, sigmoid and tanh (the std:: ones
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

// c ? a : b by bit masks. Both values are computed whatever c is; written as a ?: GCC may move an
// arm's arithmetic under a branch (under -ftrapping-math it "might trap") and the loop stays
// scalar: log and the float64 tanh ran 3-4x slower that way.
inline float select(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return bits_as<float>((bits_as<uint32_t>(a) & m) | (bits_as<uint32_t>(b) & ~m));
}
inline double select(bool c, double a, double b) {
  const uint64_t m = uint64_t{0} - static_cast<uint64_t>(c);
  return bits_as<double>((bits_as<uint64_t>(a) & m) | (bits_as<uint64_t>(b) & ~m));
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
  const float c = select(a > 10.0f, 10.0f, a);  // NaN stays NaN
  const float big = 1.0f - 2.0f / (exp_core(2.0f * c) + 1.0f);
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * a + a;
  return bits_as<float>(bits_as<uint32_t>(select(a < 0.625f, small, big)) | sign);
}

inline double tanh_core(double x) {
  const uint64_t sign = bits_as<uint64_t>(x) & 0x8000000000000000ull;
  const double a = bits_as<double>(bits_as<uint64_t>(x) ^ sign);
  const double c = select(a > 20.0, 20.0, a);
  const double big = 1.0 - 2.0 / (exp_core(2.0 * c) + 1.0);
  const double z = a * a;
  const double p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z -
                   1.61468768441708447952e3;
  const double q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z +
                   4.84406305325125486048e3;
  const double small = a + a * z * (p / q);
  return bits_as<double>(bits_as<uint64_t>(select(a < 0.625, small, big)) | sign);
}

// log(x) for any x, branch-free like exp_core (std::log is a scalar libm call, about 2-3 ns per
// float): subnormals scaled into the normal range first, x = 2^e m with m in [sqrt(1/2),
// sqrt(2)), f = m - 1 (exact), log m = 2 atanh(s) = f - s (f - R) with s = f / (2 + f), |s| <
// 0.172, R = s^2 (2/3 + 2 s^2/5 + ...) (to s^9 for float, s^23 for double, where the next term is
// below half an ulp; fdlibm's arrangement, the small correction carrying the rounding), plus
// e ln 2 in two parts (e ln2_hi exact). Within 1 ulp (float, against log in double; double,
// against glibc's) on 3.2 million points over the whole range; 0 gives -inf, +inf +inf, NaN and
// x < 0 NaN. Also the scalar twin of vlog for strided loops.
inline float log_core(float x) {
  const bool sub = x < 1.17549435e-38f;  // subnormal, zero, negative or -inf: handled below
  const float xs = select(sub, x * 16777216.0f, x);  // 2^24
  const uint32_t bits = bits_as<uint32_t>(xs);
  float m = bits_as<float>((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  float e = static_cast<float>(static_cast<int32_t>(bits >> 23) - 127) - select(sub, 24.0f, 0.0f);
  const bool hi = m > 1.41421356f;
  m = select(hi, m * 0.5f, m);
  e = select(hi, e + 1.0f, e);
  const float f = m - 1.0f, s = f / (2.0f + f), z = s * s;
  float r = 2.0f / 9;
  r = r * z + 2.0f / 7;
  r = r * z + 2.0f / 5;
  r = r * z + 2.0f / 3;
  const float y = e * 0.693359375f + (f - (s * (f - z * r) - e * -2.12194440e-4f));
  const float inf = __builtin_huge_valf();
  // x > 0 and finite: y; 0: -inf; +inf: +inf; negative or NaN: NaN.
  const float special = select(x == 0.0f, -inf, select(x == inf, inf, __builtin_nanf("")));
  return select((x > 0.0f) & (x < inf), y, special);
}

inline double log_core(double x) {
  const bool sub = x < 2.2250738585072014e-308;
  const double xs = select(sub, x * 18014398509481984.0, x);  // 2^54
  const uint64_t bits = bits_as<uint64_t>(xs);
  double m = bits_as<double>((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
  double e = static_cast<double>(static_cast<int64_t>(bits >> 52) - 1023) - select(sub, 54.0, 0.0);
  const bool hi = m > 1.4142135623730951;
  m = select(hi, m * 0.5, m);
  e = select(hi, e + 1.0, e);
  const double f = m - 1.0, s = f / (2.0 + f), z = s * s;
  double r = 2.0 / 23;  // Horner over 2/23, 2/21, ..., 2/3
  for (int k = 21; k >= 3; k -= 2) r = r * z + 2.0 / k;
  const double y = e * 6.93147180369123816490e-01 +
                   (f - (s * (f - z * r) - e * 1.90821492927058770002e-10));
  const double inf = __builtin_huge_val();
  const double special = select(x == 0.0, -inf, select(x == inf, inf, __builtin_nan("")));
  return select((x > 0.0) & (x < inf), y, special);
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
// y[i] = log_core(x[i]); same aliasing rule.
void vlog(int64_t n, const float* x, float* y);
void vlog(int64_t n, const double* x, double* y);
// y[i] = tanh_core(x[i]); same aliasing rule.
void vtanh(int64_t n, const float* x, float* y);
void vtanh(int64_t n, const double* x, double* y);

}  // namespace fastgrad
