// ReLU bit-mask kernels: SSE2 (every x86-64) on eight elements at a time, a scalar loop for the
// tail and for other targets. Memory-bound, so wider vectors would gain nothing.
#include "kernels/mask.h"

#include <cstring>
#include <type_traits>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace fastgrad {
namespace {

template <class T>
void forward_tail(int64_t i, int64_t n, const T* x, T* y, uint8_t* bits) {
  for (; i < n; ++i) {
    const bool on = x[i] > T(0);
    y[i] = on ? x[i] : T(0);
    if (i % 8 == 0) bits[i / 8] = 0;
    bits[i / 8] = static_cast<uint8_t>(bits[i / 8] | (on << (i % 8)));
  }
}

template <class T>
void backward_tail(int64_t i, int64_t n, const T* g, const uint8_t* bits, T* out) {
  for (; i < n; ++i) out[i] = (bits[i / 8] >> (i % 8)) & 1 ? g[i] : T(0);
}

#if defined(__x86_64__)
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Lane masks for 4 bits (float) and 2 bits (double).
struct Masks {
  alignas(16) uint32_t f[16][4];
  alignas(16) uint64_t d[4][2];
  Masks() {
    for (int b = 0; b < 16; ++b)
      for (int j = 0; j < 4; ++j) f[b][j] = (b >> j) & 1 ? 0xffffffffu : 0u;
    for (int b = 0; b < 4; ++b)
      for (int j = 0; j < 2; ++j) d[b][j] = (b >> j) & 1 ? ~uint64_t{0} : 0u;
  }
};
const Masks kMasks;

template <bool kStream>
inline void put(float* p, __m128 v) {
  if (kStream) _mm_stream_ps(p, v);
  else _mm_storeu_ps(p, v);
}
template <bool kStream>
inline void put(double* p, __m128d v) {
  if (kStream) _mm_stream_pd(p, v);
  else _mm_storeu_pd(p, v);
}

template <bool kStream>
int64_t forward8(int64_t n, const float* x, float* y, uint8_t* bits) {
  const __m128 zero = _mm_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
    const __m128 ma = _mm_cmpgt_ps(a, zero), mb = _mm_cmpgt_ps(b, zero);
    put<kStream>(y + i, _mm_and_ps(a, ma));
    put<kStream>(y + i + 4, _mm_and_ps(b, mb));
    bits[i / 8] = static_cast<uint8_t>(_mm_movemask_ps(ma) | (_mm_movemask_ps(mb) << 4));
  }
  return i;
}

template <bool kStream>
int64_t forward8(int64_t n, const double* x, double* y, uint8_t* bits) {
  const __m128d zero = _mm_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    int byte = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128d a = _mm_loadu_pd(x + i + 2 * k);
      const __m128d m = _mm_cmpgt_pd(a, zero);
      put<kStream>(y + i + 2 * k, _mm_and_pd(a, m));
      byte |= _mm_movemask_pd(m) << (2 * k);
    }
    bits[i / 8] = static_cast<uint8_t>(byte);
  }
  return i;
}

template <bool kStream>
int64_t backward8(int64_t n, const float* g, const uint8_t* bits, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const unsigned byte = bits[i / 8];
    const __m128 lo = _mm_load_ps(reinterpret_cast<const float*>(kMasks.f[byte & 15]));
    const __m128 hi = _mm_load_ps(reinterpret_cast<const float*>(kMasks.f[byte >> 4]));
    put<kStream>(out + i, _mm_and_ps(_mm_loadu_ps(g + i), lo));
    put<kStream>(out + i + 4, _mm_and_ps(_mm_loadu_ps(g + i + 4), hi));
  }
  return i;
}

template <bool kStream>
int64_t backward8(int64_t n, const double* g, const uint8_t* bits, double* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const unsigned byte = bits[i / 8];
    for (int k = 0; k < 4; ++k) {
      const __m128d m = _mm_load_pd(
          reinterpret_cast<const double*>(kMasks.d[(byte >> (2 * k)) & 3]));
      put<kStream>(out + i + 2 * k, _mm_and_pd(_mm_loadu_pd(g + i + 2 * k), m));
    }
  }
  return i;
}
#endif

// vec(std::bool_constant<stream>) runs the vector loop and returns how many elements it did;
// tail(i) finishes from there. Streaming needs a 16-byte aligned output.
template <class Vec, class Tail>
void run(bool stream, const void* out, Vec vec, Tail tail) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (stream && aligned16(out)) {
    i = vec(std::true_type{});
    _mm_sfence();
  } else {
    i = vec(std::false_type{});
  }
#else
  (void)stream;
  (void)out;
  (void)vec;
#endif
  tail(i);
}

template <class T>
void forward(int64_t n, const T* x, T* y, uint8_t* bits, bool stream) {
  run(stream, y, [&](auto s) { return forward8<decltype(s)::value>(n, x, y, bits); },
      [&](int64_t i) { forward_tail(i, n, x, y, bits); });
}

template <class T>
void backward(int64_t n, const T* g, const uint8_t* bits, T* out, bool stream) {
  run(stream, out, [&](auto s) { return backward8<decltype(s)::value>(n, g, bits, out); },
      [&](int64_t i) { backward_tail(i, n, g, bits, out); });
}

}  // namespace

void relu_mask_forward(int64_t n, const float* x, float* y, uint8_t* bits, bool stream) {
  forward(n, x, y, bits, stream);
}
void relu_mask_forward(int64_t n, const double* x, double* y, uint8_t* bits, bool stream) {
  forward(n, x, y, bits, stream);
}
void relu_mask_backward(int64_t n, const float* g, const uint8_t* bits, float* out, bool stream) {
  backward(n, g, bits, out, stream);
}
void relu_mask_backward(int64_t n, const double* g, const uint8_t* bits, double* out, bool stream) {
  backward(n, g, bits, out, stream);
}

}  // namespace fastgrad
