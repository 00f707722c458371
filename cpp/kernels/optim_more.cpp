// Fused kernels of RMSprop, Adagrad, Adadelta, Adamax, NAdam and RAdam: one pass over each
// parameter updates it and its state in place, PyTorch's single-tensor formulas in its operation
// order, in the parameter's type. Plain loops, no intrinsics; per-parameter scalars that depend
// on the step count are computed by the op (autograd/ops_optim.cpp) and passed in.
//
// Dimension key: K = number of parameters; n[k] = elements of parameter k; [lo, hi) = one chunk.
#include <cmath>
#include <type_traits>

#include "kernels/optim.h"
#include "kernels/optim_chunks.h"

namespace fastgrad {
namespace {

using optim_detail::for_each_chunk;
using optim_detail::lerp;

// torch.maximum: NaN propagates.
template <class T>
inline T nan_max(T a, T b) {
  return (a < b || b != b) ? b : a;
}

// The loops. Scalars by value and arrays __restrict so the compiler vectorises (see optim.cpp).
// The flags are template arguments: with a conditional store to a or b inside the loop it
// stayed scalar (no masked stores on the baseline target).
template <class T, bool kCentered, bool kMomentum>
inline void rmsprop_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                          T* __restrict v, T* __restrict b, T* __restrict a, T sign, T wd, T alpha,
                          T w, T one_minus_w, bool small, T eps, T mom, T neg_lr, bool use_wd) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    if (use_wd) gi = gi + wd * p[i];
    const T vi = v[i] * alpha + w * gi * gi;
    v[i] = vi;
    T avg;
    if constexpr (kCentered) {
      const T ai = lerp(a[i], gi, w, one_minus_w, small);
      a[i] = ai;
      avg = std::sqrt(vi + T(-1) * ai * ai);
    } else {
      avg = std::sqrt(vi);
    }
    avg = avg + eps;
    if constexpr (kMomentum) {
      const T bi = b[i] * mom + gi / avg;
      b[i] = bi;
      p[i] = p[i] + neg_lr * bi;
    } else {
      p[i] = p[i] + neg_lr * gi / avg;
    }
  }
}

template <class T>
inline void adagrad_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                          T* __restrict s, T sign, T wd, T eps, T neg_clr, bool use_wd) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    if (use_wd) gi = gi + wd * p[i];
    const T si = s[i] + gi * gi;
    s[i] = si;
    p[i] = p[i] + neg_clr * gi / (std::sqrt(si) + eps);
  }
}

template <class T>
inline void adadelta_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                           T* __restrict v, T* __restrict acc, T sign, T wd, T rho, T w, T eps,
                           T neg_lr, bool use_wd) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    if (use_wd) gi = gi + wd * p[i];
    const T vi = v[i] * rho + w * gi * gi;
    v[i] = vi;
    const T std_ = std::sqrt(vi + eps);
    const T delta = std::sqrt(acc[i] + eps) / std_ * gi;
    acc[i] = acc[i] * rho + w * delta * delta;
    p[i] = p[i] + neg_lr * delta;
  }
}

template <class T>
inline void adamax_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                         T* __restrict m, T* __restrict u, T sign, T wd, T w1, T one_minus_w1,
                         bool small, T b2, T eps, T neg_clr, bool use_wd) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    if (use_wd) gi = gi + wd * p[i];
    const T mi = lerp(m[i], gi, w1, one_minus_w1, small);
    m[i] = mi;
    const T ui = nan_max(u[i] * b2, std::abs(gi) + eps);
    u[i] = ui;
    p[i] = p[i] + neg_clr * mi / ui;
  }
}

template <class T>
inline void nadam_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                        T* __restrict m, T* __restrict v, T sign, T wd, T decay, T w1,
                        T one_minus_w1, bool small, T b2, T w2, T eps, T bc2, T c_grad, T c_avg,
                        bool decoupled, bool coupled_wd) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    T pi = p[i];
    if (decoupled) pi = pi * decay;
    if (coupled_wd) gi = gi + wd * pi;
    const T mi = lerp(m[i], gi, w1, one_minus_w1, small);
    const T vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi / bc2) + eps;
    pi = pi + c_grad * gi / denom;
    p[i] = pi + c_avg * mi / denom;
  }
}

template <class T>
inline void radam_chunk(int64_t lo, int64_t hi, const T* __restrict g, T* __restrict p,
                        T* __restrict m, T* __restrict v, T sign, T wd, T decay, T w1,
                        T one_minus_w1, bool small, T b2, T w2, T eps, T bc1, T bc2_sqrt, T rect,
                        T lr, bool adaptive, bool decoupled, bool coupled_wd) {
  for (int64_t i = lo; i < hi; ++i) {
    T gi = sign * g[i];
    T pi = p[i];
    if (decoupled) pi = pi * decay;
    if (coupled_wd) gi = gi + wd * pi;
    const T mi = lerp(m[i], gi, w1, one_minus_w1, small);
    const T vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const T mh = mi / bc1 * lr;
    p[i] = adaptive ? pi - mh * (bc2_sqrt / (std::sqrt(vi) + eps)) * rect : pi - mh;
  }
}

}  // namespace

// p, g, v, b, a (n,) for each parameter.
template <class T>
void rmsprop_update(int64_t K, const int64_t* n, const T* const* g, const RmspropScalars& s,
                    T* const* p, T* const* v, T* const* b, T* const* a) {
  const T sign = s.maximize ? T(-1) : T(1), wd = static_cast<T>(s.weight_decay);
  const T alpha = static_cast<T>(s.alpha), w = static_cast<T>(1 - s.alpha);
  const T one_minus_w = T(1) - w, eps = static_cast<T>(s.eps);
  const T mom = static_cast<T>(s.momentum), neg_lr = static_cast<T>(-s.lr);
  const bool small = std::abs(1 - s.alpha) < 0.5, use_wd = s.weight_decay != 0;
  const bool centered = s.centered, use_mom = s.momentum > 0;
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    T* bk = use_mom ? b[k] : nullptr;
    T* ak = centered ? a[k] : nullptr;
    auto run = [&](auto c, auto m) {
      rmsprop_chunk<T, decltype(c)::value, decltype(m)::value>(lo, hi, g[k], p[k], v[k], bk, ak,
                                                               sign, wd, alpha, w, one_minus_w,
                                                               small, eps, mom, neg_lr, use_wd);
    };
    using Yes = std::true_type;
    using No = std::false_type;
    if (centered) {
      use_mom ? run(Yes{}, Yes{}) : run(Yes{}, No{});
    } else {
      use_mom ? run(No{}, Yes{}) : run(No{}, No{});
    }
  });
}

// p, g, sum (n,) for each parameter.
template <class T>
void adagrad_update(int64_t K, const int64_t* n, const T* const* g, const double* clr,
                    double weight_decay, double eps, bool maximize, T* const* p, T* const* sum) {
  const T sign = maximize ? T(-1) : T(1), wd = static_cast<T>(weight_decay);
  const T e = static_cast<T>(eps);
  const bool use_wd = weight_decay != 0;
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    adagrad_chunk<T>(lo, hi, g[k], p[k], sum[k], sign, wd, e, static_cast<T>(-clr[k]), use_wd);
  });
}

// p, g, v, acc (n,) for each parameter.
template <class T>
void adadelta_update(int64_t K, const int64_t* n, const T* const* g, double lr, double rho,
                     double eps, double weight_decay, bool maximize, T* const* p, T* const* v,
                     T* const* acc) {
  const T sign = maximize ? T(-1) : T(1), wd = static_cast<T>(weight_decay);
  const T r = static_cast<T>(rho), w = static_cast<T>(1 - rho), e = static_cast<T>(eps);
  const T neg_lr = static_cast<T>(-lr);
  const bool use_wd = weight_decay != 0;
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    adadelta_chunk<T>(lo, hi, g[k], p[k], v[k], acc[k], sign, wd, r, w, e, neg_lr, use_wd);
  });
}

// p, g, m, u (n,) for each parameter.
template <class T>
void adamax_update(int64_t K, const int64_t* n, const T* const* g, const double* clr, double beta1,
                   double beta2, double eps, double weight_decay, bool maximize, T* const* p,
                   T* const* m, T* const* u) {
  const T sign = maximize ? T(-1) : T(1), wd = static_cast<T>(weight_decay);
  const T w1 = static_cast<T>(1 - beta1), one_minus_w1 = T(1) - w1;
  const bool small = std::abs(1 - beta1) < 0.5, use_wd = weight_decay != 0;
  const T b2 = static_cast<T>(beta2), e = static_cast<T>(eps);
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    adamax_chunk<T>(lo, hi, g[k], p[k], m[k], u[k], sign, wd, w1, one_minus_w1, small, b2, e,
                    static_cast<T>(-clr[k]), use_wd);
  });
}

// p, g, m, v (n,) for each parameter.
template <class T>
void nadam_update(int64_t K, const int64_t* n, const T* const* g, const NadamCoef* coef,
                  const AdamFamilyScalars& s, T* const* p, T* const* m, T* const* v) {
  const T sign = s.maximize ? T(-1) : T(1), wd = static_cast<T>(s.weight_decay);
  const T decay = static_cast<T>(1 - s.lr * s.weight_decay);
  const T w1 = static_cast<T>(1 - s.beta1), one_minus_w1 = T(1) - w1;
  const bool small = std::abs(1 - s.beta1) < 0.5;
  const T b2 = static_cast<T>(s.beta2), w2 = static_cast<T>(1 - s.beta2);
  const T eps = static_cast<T>(s.eps);
  const bool decoupled = s.decoupled && s.weight_decay != 0;
  const bool coupled_wd = !s.decoupled && s.weight_decay != 0;
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    const NadamCoef& c = coef[k];
    nadam_chunk<T>(lo, hi, g[k], p[k], m[k], v[k], sign, wd, decay, w1, one_minus_w1, small, b2, w2,
                   eps, static_cast<T>(c.bc2), static_cast<T>(c.c_grad), static_cast<T>(c.c_avg),
                   decoupled, coupled_wd);
  });
}

// p, g, m, v (n,) for each parameter.
template <class T>
void radam_update(int64_t K, const int64_t* n, const T* const* g, const RadamCoef* coef,
                  const AdamFamilyScalars& s, T* const* p, T* const* m, T* const* v) {
  const T sign = s.maximize ? T(-1) : T(1), wd = static_cast<T>(s.weight_decay);
  const T decay = static_cast<T>(1 - s.lr * s.weight_decay);
  const T w1 = static_cast<T>(1 - s.beta1), one_minus_w1 = T(1) - w1;
  const bool small = std::abs(1 - s.beta1) < 0.5;
  const T b2 = static_cast<T>(s.beta2), w2 = static_cast<T>(1 - s.beta2);
  const T eps = static_cast<T>(s.eps), lr = static_cast<T>(s.lr);
  const bool decoupled = s.decoupled && s.weight_decay != 0;
  const bool coupled_wd = !s.decoupled && s.weight_decay != 0;
  for_each_chunk(K, n, [&](int64_t k, int64_t lo, int64_t hi) {
    const RadamCoef& c = coef[k];
    radam_chunk<T>(lo, hi, g[k], p[k], m[k], v[k], sign, wd, decay, w1, one_minus_w1, small, b2, w2,
                   eps, static_cast<T>(c.bc1), static_cast<T>(c.bc2_sqrt), static_cast<T>(c.rect),
                   lr, c.rect >= 0, decoupled, coupled_wd);
  });
}

#define FG_OPTIM_MORE_INSTANTIATE(T)                                                               \
  template void rmsprop_update<T>(int64_t, const int64_t*, const T* const*, const RmspropScalars&, \
                                  T* const*, T* const*, T* const*, T* const*);                     \
  template void adagrad_update<T>(int64_t, const int64_t*, const T* const*, const double*, double, \
                                  double, bool, T* const*, T* const*);                             \
  template void adadelta_update<T>(int64_t, const int64_t*, const T* const*, double, double,       \
                                   double, double, bool, T* const*, T* const*, T* const*);         \
  template void adamax_update<T>(int64_t, const int64_t*, const T* const*, const double*, double,  \
                                 double, double, double, bool, T* const*, T* const*, T* const*);   \
  template void nadam_update<T>(int64_t, const int64_t*, const T* const*, const NadamCoef*,        \
                                const AdamFamilyScalars&, T* const*, T* const*, T* const*);        \
  template void radam_update<T>(int64_t, const int64_t*, const T* const*, const RadamCoef*,        \
                                const AdamFamilyScalars&, T* const*, T* const*, T* const*);
FG_OPTIM_MORE_INSTANTIATE(float)
FG_OPTIM_MORE_INSTANTIATE(double)
#undef FG_OPTIM_MORE_INSTANTIATE

}  // namespace fastgrad
