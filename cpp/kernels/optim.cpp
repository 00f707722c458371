// Fused optimizer kernels: one pass over each parameter updates it and its state in place, with
// no temporaries. Plain loops the compiler vectorises (the flags are loop invariant); no
// intrinsics. Work is cut into kBlock-element chunks across all parameters and split over OpenMP
// threads above kParallelMin elements in total.
//
// Dimension key: K = number of parameters; n[k] = elements of parameter k; [lo, hi) = one chunk.
#include "kernels/optim.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/optim_chunks.h"
#include "tensor/iter.h"

namespace fastgrad {
namespace {

using optim_detail::for_each_chunk;
using optim_detail::lerp;

// The loops proper. Every scalar is a by-value parameter and every array __restrict, so the
// compiler knows no store changes them and vectorises (read through the captures of a lambda,
// they were reloaded after each store and the loop stayed scalar).
template <class T>
inline void sgd_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                      T* __restrict b, T sign, T wd, T mom, T damp1, T neg_lr, bool use_wd,
                      bool use_mom, bool nesterov, bool first) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    if (use_wd) gi = gi + wd * p[i];
    if (use_mom) {
      const T bi = first ? gi : b[i] * mom + damp1 * gi;
      b[i] = bi;
      gi = nesterov ? gi + mom * bi : bi;
    }
    p[i] = p[i] + neg_lr * gi;
  }
}

template <class T>
inline void adam_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                       T* __restrict m, T* __restrict v, T* __restrict x, T neg_step_size, T bc2,
                       T sign, T decay, T wd, T w1, T one_minus_w1, T b2, T w2, T eps, bool small,
                       bool decoupled, bool coupled_wd, bool amsgrad) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    T pi = p[i];
    if (decoupled) pi = pi * decay;
    if (coupled_wd) gi = gi + wd * pi;
    const T mi = lerp(m[i], gi, w1, one_minus_w1, small);
    T vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if (amsgrad) {
      vi = x[i] < vi || vi != vi ? vi : x[i];  // torch.maximum: NaN propagates
      x[i] = vi;
    }
    const T denom = std::sqrt(vi) / bc2 + eps;
    p[i] = pi + neg_step_size * mi / denom;
  }
}

// h1-nnfast: the SGD loop compiled three times (x86-64-v4, v3 = AVX2+FMA, baseline), the clone
// picked at load time as in vmath.cpp: the baseline build alone ran it 4 floats wide, without FMA.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FG_CLONES
#endif
#define FG_SGD_CHUNK(T)                                                                            \
  FG_CLONES void sgd_chunk_cloned(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,  \
                                  T* __restrict b, T sign, T wd, T mom, T damp1, T neg_lr,         \
                                  bool use_wd, bool use_mom, bool nesterov, bool first) {          \
    sgd_chunk<T>(lo, hi, g, p, b, sign, wd, mom, damp1, neg_lr, use_wd, use_mom, nesterov, first); \
  }
FG_SGD_CHUNK(float)
FG_SGD_CHUNK(double)
#undef FG_SGD_CHUNK

}  // namespace

// p, g, buf (n,) for each parameter.
template <class T>
void sgd_update(int64_t K, const int64_t* n, const T* const* g, const SgdScalars& s, T* const* p,
                T* const* buf) {
  const T wd = static_cast<T>(s.weight_decay), mom = static_cast<T>(s.momentum);
  const T damp1 = static_cast<T>(1 - s.dampening), neg_lr = static_cast<T>(-s.lr);
  const bool use_wd = s.weight_decay != 0, use_mom = s.momentum != 0;
  const bool nesterov = s.nesterov, first = s.first;
  const T sign = s.maximize ? T(-1) : T(1);
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    sgd_chunk_cloned(lo, hi, g[k], p[k], use_mom ? buf[k] : nullptr, sign, wd, mom, damp1, neg_lr,
                     use_wd, use_mom, nesterov, first);
  });
}

// p, g, m, v, vmax (n,) for each parameter.
template <class T>
void adam_update(int64_t K, const int64_t* n, const T* const* g, const int64_t* step,
                 const AdamScalars& s, T* const* p, T* const* m, T* const* v, T* const* vmax) {
  const T w1 = static_cast<T>(1 - s.beta1), one_minus_w1 = T(1) - w1;
  const bool small = std::abs(1 - s.beta1) < 0.5;
  const T b2 = static_cast<T>(s.beta2), w2 = static_cast<T>(1 - s.beta2);
  const T eps = static_cast<T>(s.eps), wd = static_cast<T>(s.weight_decay);
  const T decay = static_cast<T>(1 - s.lr * s.weight_decay);
  const bool coupled_wd = !s.decoupled && s.weight_decay != 0, decoupled = s.decoupled;
  const bool amsgrad = s.amsgrad;
  const T sign = s.maximize ? T(-1) : T(1);
  // Bias corrections in double, as PyTorch computes them in Python.
  std::vector<std::pair<T, T>> corr(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    const double t = static_cast<double>(step[k]);
    const double step_size = s.lr / (1 - std::pow(s.beta1, t));
    const double bc2_sqrt = std::sqrt(1 - std::pow(s.beta2, t));
    corr[k] = {static_cast<T>(-step_size), static_cast<T>(bc2_sqrt)};
  }
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    adam_chunk<T>(lo, hi, g[k], p[k], m[k], v[k], amsgrad ? vmax[k] : nullptr, corr[k].first,
                  corr[k].second, sign, decay, wd, w1, one_minus_w1, b2, w2, eps, small, decoupled,
                  coupled_wd, amsgrad);
  });
}

template void sgd_update<float>(int64_t, const int64_t*, const float* const*, const SgdScalars&,
                                float* const*, float* const*);
template void sgd_update<double>(int64_t, const int64_t*, const double* const*, const SgdScalars&,
                                 double* const*, double* const*);
template void adam_update<float>(int64_t, const int64_t*, const float* const*, const int64_t*,
                                 const AdamScalars&, float* const*, float* const*, float* const*,
                                 float* const*);
template void adam_update<double>(int64_t, const int64_t*, const double* const*, const int64_t*,
                                  const AdamScalars&, double* const*, double* const*,
                                  double* const*, double* const*);

}  // namespace fastgrad
