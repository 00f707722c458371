// Strided N-operand iteration: the loop skeleton shared by elementwise kernels, copies and casts.
// Operand strides are in elements (0 for a broadcast dim). Dimensions are coalesced first, so a
// contiguous op is a single 1-D row; rows are split across OpenMP threads above kParallelMin
// elements, in fixed blocks, so results never depend on the thread count.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/check.h"

namespace fastgrad {

// Elements; below this, one thread. Idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE, see
// fastgrad/__init__.py), so a region first wakes its worker: a few microseconds on bare metal,
// 65-90 µs measured on a 2-vCPU KVM guest (AMD EPYC, 2026-12-04), where an add, a ReLU
// forward+backward and an SGD update of 401,408 floats (a 784x512 weight) ran 1.4-1.9x slower on
// two threads than on one at the old 1 << 18, and broke even at about 1 << 20. When the other core
// is busy the join can wait milliseconds: at 1 << 16 the ReLU and bias gradients of a batch-128
// MLP step went parallel and the step ran 30% slower on two threads than on one.
constexpr int64_t kParallelMin = 1 << 20;
// For kernels with an exp or a libm call per element (softmax cross-entropy; sin, cos), several
// adds' worth of work each: at 1 << 18 the (512, 1000) loss and gradient ran 0.80x the one-thread
// time on two threads, the libm log and tanh of before of 300,000 floats 0.78x and 0.61x. The
// vectorised exp and sigmoid are as cheap as an add: 1.18x and 1.40x there.
constexpr int64_t kParallelMinExp = 1 << 18;

// The thread count every parallel region uses (fastgrad.set_num_threads); one global value, not
// OpenMP's per-thread setting, so every Python thread sees the same count.
int num_threads();
void set_num_threads(int n);
constexpr int64_t kBlock = 1 << 14;        // elements per parallel block of a 1-D row

template <size_t N>
struct Geometry {
  Shape shape;
  std::array<Shape, N> strides;
};

// Merges dim i into dim i+1 when every operand is contiguous across them.
template <size_t N>
Geometry<N> coalesce(const Shape& shape, const std::array<Shape, N>& strides) {
  Geometry<N> g;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!g.shape.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k)
        if (g.strides[k].back() != strides[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        g.shape.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) g.strides[k].back() = strides[k][d];
        continue;
      }
    }
    g.shape.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) g.strides[k].push_back(strides[k][d]);
  }
  return g;
}

// Runs f(t) for t in [0, n), split statically over the threads when `parallel`; small work runs
// serially without entering an OpenMP region (even one with a false `if` costs microseconds).
template <class F>
inline void parallel_for(int64_t n, bool parallel, F&& f) {
  if (!parallel || n < 2 || num_threads() == 1) {
    for (int64_t t = 0; t < n; ++t) f(t);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t t = 0; t < n; ++t) f(t);
}

// Calls f(offsets, n, inner_strides) for pieces of rows covering `shape` once; split over the
// threads from `parallel_min` elements.
template <size_t N, class F>
void for_each_row(const Shape& shape, const std::array<Shape, N>& strides, F&& f,
                  int64_t parallel_min = kParallelMin) {
  Geometry<N> g = coalesce<N>(shape, strides);
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  if (total == 0) return;
  std::array<int64_t, N> inner{};
  if (g.shape.empty()) {
    std::array<int64_t, N> off{};
    f(off, int64_t{1}, inner);
    return;
  }
  const int64_t nd = static_cast<int64_t>(g.shape.size());
  const int64_t n = g.shape[nd - 1];
  for (size_t k = 0; k < N; ++k) inner[k] = g.strides[k][nd - 1];
  const int64_t rows = total / n;
  // Offsets of row r (a flat index over the outer dims).
  auto row_offsets = [&](int64_t r) {
    std::array<int64_t, N> off{};
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t i = r % g.shape[d];
      r /= g.shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * g.strides[k][d];
    }
    return off;
  };
  // Small work never enters an OpenMP region: even a region with a false `if` costs microseconds.
  const bool parallel = total >= parallel_min && num_threads() > 1;
  if (!parallel) {
    if (rows == 1) {
      f(std::array<int64_t, N>{}, n, inner);
      return;
    }
    for (int64_t r = 0; r < rows; ++r) f(row_offsets(r), n, inner);
    return;
  }
  if (rows == 1) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) num_threads(num_threads())
    for (int64_t b = 0; b < blocks; ++b) {
      std::array<int64_t, N> off{};
      for (size_t k = 0; k < N; ++k) off[k] = b * kBlock * inner[k];
      int64_t len = (b + 1) * kBlock < n ? kBlock : n - b * kBlock;
      f(off, len, inner);
    }
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t r = 0; r < rows; ++r) f(row_offsets(r), n, inner);
}

// Strides of `strides`/`shape` broadcast to `out_shape` (0 where broadcast).
inline Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& out_shape) {
  Shape r(out_shape.size(), 0);
  size_t lead = out_shape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) r[lead + i] = shape[i] == 1 ? 0 : strides[i];
  return r;
}

inline Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t n = a.size() > b.size() ? a.size() : b.size();
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    FG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace fastgrad
