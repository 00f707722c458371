// Gradient clipping kernels (nn.utils.clip_grad_norm_): the norm of each tensor of a list and an
// in-place scale of all of them. Sums are taken in double over fixed kBlock chunks (eight
// interleaved partial sums inside a chunk) and combined in chunk order, so the result is bitwise
// the same at any thread count. No Tensor, no checks (autograd/ops_optim.cpp validates).
//
// Dimension key: K = number of tensors; n[k] = elements of tensor k; [lo, hi) = one chunk.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/optim.h"
#include "kernels/optim_chunks.h"

namespace fastgrad {
namespace {

using optim_detail::Chunk;

enum class NormKind { kTwo, kOne, kInf, kNegInf, kZero, kPow };

// The partial of x[lo, hi): a sum for kTwo / kOne / kZero / kPow, an extreme for kInf / kNegInf.
template <class T>
double chunk_partial(const T* __restrict x, int64_t lo, int64_t hi, NormKind kind, double ord) {
  constexpr int kLanes = 8;
  double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int64_t len = hi - lo, full = lo + (len / kLanes) * kLanes;
  switch (kind) {
    case NormKind::kTwo:
      for (int64_t i = lo; i < full; i += kLanes)
        for (int j = 0; j < kLanes; ++j) {
          const double v = static_cast<double>(x[i + j]);
          acc[j] += v * v;
        }
      for (int64_t i = full; i < hi; ++i) {
        const double v = static_cast<double>(x[i]);
        acc[0] += v * v;
      }
      break;
    case NormKind::kOne:
      for (int64_t i = lo; i < full; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[j] += std::abs(static_cast<double>(x[i + j]));
      for (int64_t i = full; i < hi; ++i) acc[0] += std::abs(static_cast<double>(x[i]));
      break;
    case NormKind::kZero:
      for (int64_t i = lo; i < hi; ++i) acc[0] += x[i] != T(0) ? 1.0 : 0.0;
      break;
    case NormKind::kPow:
      for (int64_t i = lo; i < hi; ++i)
        acc[0] += std::pow(std::abs(static_cast<double>(x[i])), ord);
      break;
    case NormKind::kInf:
    case NormKind::kNegInf: {
      const bool mx = kind == NormKind::kInf;
      double r = mx ? 0.0 : std::numeric_limits<double>::infinity();
      for (int64_t i = lo; i < hi; ++i) {
        const double a = std::abs(static_cast<double>(x[i]));
        if (a != a || r != r) {
          r = std::numeric_limits<double>::quiet_NaN();
        } else if (mx ? a > r : a < r) {
          r = a;
        }
      }
      return r;
    }
  }
  double s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

}  // namespace

// x[k] (n[k],) -> out[k], a 0-d norm.
template <class T>
void norms(int64_t K, const int64_t* n, const T* const* x, double ord, double* out) {
  NormKind kind = NormKind::kPow;
  if (ord == 2) kind = NormKind::kTwo;
  else if (ord == 1) kind = NormKind::kOne;
  else if (ord == 0) kind = NormKind::kZero;
  else if (std::isinf(ord)) kind = ord > 0 ? NormKind::kInf : NormKind::kNegInf;
  const std::vector<Chunk> chunks = optim_detail::make_chunks(K, n);
  const int64_t c = static_cast<int64_t>(chunks.size());
  std::vector<double> part(static_cast<size_t>(c));
  int64_t total = 0;
  for (int64_t k = 0; k < K; ++k) total += n[k];
  const bool parallel = total >= kParallelMin && num_threads() > 1;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
  for (int64_t i = 0; i < c; ++i)
    part[i] = chunk_partial<T>(x[chunks[i].k], chunks[i].lo, chunks[i].hi, kind, ord);
  const bool extreme = kind == NormKind::kInf || kind == NormKind::kNegInf;
  for (int64_t k = 0; k < K; ++k)
    out[k] = extreme && kind == NormKind::kNegInf ? std::numeric_limits<double>::infinity() : 0.0;
  for (int64_t i = 0; i < c; ++i) {
    double& o = out[chunks[i].k];
    const double v = part[i];
    if (!extreme) {
      o += v;
    } else if (v != v || o != o) {
      o = std::numeric_limits<double>::quiet_NaN();
    } else if (kind == NormKind::kInf ? v > o : v < o) {
      o = v;
    }
  }
  if (kind == NormKind::kTwo) {
    for (int64_t k = 0; k < K; ++k) out[k] = std::sqrt(out[k]);
  } else if (kind == NormKind::kPow) {
    for (int64_t k = 0; k < K; ++k) out[k] = std::pow(out[k], 1.0 / ord);
  }
}

// x[k] (n[k],) *= f.
template <class T>
void scale(int64_t K, const int64_t* n, double f, T* const* x) {
  const T s = static_cast<T>(f);
  optim_detail::for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    T* __restrict p = x[k];
    for (int64_t i = lo; i < hi; ++i) p[i] = p[i] * s;
  });
}

template void norms<float>(int64_t, const int64_t*, const float* const*, double, double*);
template void norms<double>(int64_t, const int64_t*, const double* const*, double, double*);
template void scale<float>(int64_t, const int64_t*, double, float* const*);
template void scale<double>(int64_t, const int64_t*, double, double* const*);

}  // namespace fastgrad
