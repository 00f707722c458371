// Flat gather/scatter kernels (see index.h). Gathers and the range check are split across OpenMP
// threads in fixed blocks of positions; the scatter is serial on purpose, because duplicate
// positions make any thread split either racy or order-dependent.
//
// Dimension key: N = elements of the flat source or destination, M = positions, D = dims.
#include "kernels/index.h"

#include <type_traits>
#include <vector>

#include "tensor/iter.h"

namespace fastgrad {
namespace {

inline int64_t wrap(int64_t p, int64_t n) { return p < 0 ? p + n : p; }

int64_t num_blocks(int64_t m) { return (m + kBlock - 1) / kBlock; }

}  // namespace

// pos (M) -> first bad i or -1. Per-block results are combined in block order, so the answer is
// the same at any thread count.
int64_t first_out_of_range(int64_t m, int64_t n, const int64_t* pos) {
  const int64_t blocks = num_blocks(m);
  std::vector<int64_t> first(static_cast<size_t>(blocks), -1);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (m >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t end = (b + 1) * kBlock < m ? (b + 1) * kBlock : m;
    for (int64_t i = b * kBlock; i < end; ++i) {
      if (pos[i] < -n || pos[i] >= n) {
        first[b] = i;
        break;
      }
    }
  }
  for (int64_t f : first)
    if (f >= 0) return f;
  return -1;
}

// out (M) = x (N)[pos (M)]
template <class T>
void gather_flat(int64_t m, int64_t n, const T* x, const int64_t* pos, T* out) {
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (m >= kParallelMin)
  for (int64_t i = 0; i < m; ++i) out[i] = x[wrap(pos[i], n)];
}

// out (M) = x (shape[0..D), strides)[unravel(pos (M))]
template <class T>
void gather_strided(int64_t m, int64_t d, const int64_t* shape, const int64_t* strides, const T* x,
                    const int64_t* pos, T* out) {
  int64_t n = 1;
  for (int64_t k = 0; k < d; ++k) n *= shape[k];
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (m >= kParallelMin)
  for (int64_t i = 0; i < m; ++i) {
    int64_t p = wrap(pos[i], n), off = 0;
    for (int64_t k = d - 1; k >= 0; --k) {
      off += (p % shape[k]) * strides[k];
      p /= shape[k];
    }
    out[i] = x[off];
  }
}

// dx (N)[pos (M)] += src (M), serially in i order.
template <class T>
void scatter_add_flat(int64_t m, int64_t n, const T* src, const int64_t* pos, T* dx) {
  for (int64_t i = 0; i < m; ++i) {
    T& d = dx[wrap(pos[i], n)];
    if constexpr (std::is_same_v<T, bool>) {
      d = d || src[i];
    } else {
      d += src[i];
    }
  }
}

#define FG_INSTANTIATE(T)                                                                     \
  template void gather_flat<T>(int64_t, int64_t, const T*, const int64_t*, T*);               \
  template void gather_strided<T>(int64_t, int64_t, const int64_t*, const int64_t*, const T*, \
                                  const int64_t*, T*);                                        \
  template void scatter_add_flat<T>(int64_t, int64_t, const T*, const int64_t*, T*);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
FG_INSTANTIATE(int64_t)
FG_INSTANTIATE(bool)
#undef FG_INSTANTIATE

}  // namespace fastgrad
