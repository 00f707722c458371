// Shared helpers of the fused optimizer kernels (kernels/optim.cpp, optim_more.cpp, clip.cpp):
// chunking a list of parameters for OpenMP, and torch.lerp's two-branch formula. Internal to
// kernels/: no Tensor, no checks.
//
// Dimension key: K = number of parameters; n[k] = elements of parameter k; [lo, hi) = one chunk.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/iter.h"

namespace fastgrad::optim_detail {

struct Chunk {
  int64_t k, lo, hi;
};

// Every parameter cut into kBlock-element chunks, in parameter then element order.
inline std::vector<Chunk> make_chunks(int64_t K, const int64_t* n) {
  std::vector<Chunk> chunks;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t lo = 0; lo < n[k]; lo += kBlock)
      chunks.push_back({k, lo, std::min(n[k], lo + kBlock)});
  return chunks;
}

// Calls f(k, lo, hi) over chunks covering every parameter once; in parallel when the total is
// large. Each chunk writes only its own elements, so the order of chunks does not matter.
template <class F>
void for_each_chunk(int64_t K, const int64_t* n, F&& f) {
  int64_t total = 0;
  for (int64_t k = 0; k < K; ++k) total += n[k];
  if (total < kParallelMin || num_threads() == 1) {
    for (int64_t k = 0; k < K; ++k) f(k, int64_t{0}, n[k]);
    return;
  }
  const std::vector<Chunk> chunks = make_chunks(K, n);
  const int64_t c = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t i = 0; i < c; ++i) f(chunks[i].k, chunks[i].lo, chunks[i].hi);
}

// torch.lerp(a, b, w): a + w * (b - a) for |w| < 0.5, else b - (b - a) * (1 - w).
template <class T>
inline T lerp(T a, T b, T w, T one_minus_w, bool small) {
  return small ? a + w * (b - a) : b - (b - a) * one_minus_w;
}

}  // namespace fastgrad::optim_detail
