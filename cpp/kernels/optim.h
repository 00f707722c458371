// Fused optimizer updates over a list of parameters: SGD (momentum, dampening, Nesterov, weight
// decay) and Adam / AdamW (amsgrad, maximize), PyTorch's formulas in PyTorch's operation order,
// computed in the parameter's type. Pure compute on raw pointers: no Tensor, no checks (the ops in
// autograd/ops_optim.cpp validate first).
//
// Dimension key: K = number of parameters; n[k] = elements of parameter k. Every operand of
// parameter k (p, g and its state buffers) is a contiguous (n[k],) array; operands of different
// parameters never overlap. Elementwise only, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace fastgrad {

struct SgdScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first;  // the momentum buffers are new: buf = g instead of momentum * buf + ...
};

struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;  // decoupled: AdamW's p *= 1 - lr * weight_decay
};

// p[k] (n[k],) -= lr * update(g[k]); buf[k] (n[k],) is the momentum buffer (unused, may be null,
// when momentum == 0). T: float, double.
template <class T>
void sgd_update(int64_t K, const int64_t* n, const T* const* g, const SgdScalars& s, T* const* p,
                T* const* buf);

// One Adam step of p[k] at step count step[k] (>= 1, already incremented); m, v: the first and
// second moment buffers, vmax: the running max of v (only read when amsgrad). T: float, double.
template <class T>
void adam_update(int64_t K, const int64_t* n, const T* const* g, const int64_t* step,
                 const AdamScalars& s, T* const* p, T* const* m, T* const* v, T* const* vmax);

// --- kernels/optim_more.cpp: RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam ----------------
// PyTorch's single-tensor formulas, g = -grad when maximize, g += weight_decay * p (coupled).
// Per-parameter scalars that depend on the step count come in as arrays of K doubles.

struct RmspropScalars {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// v = alpha v + (1 - alpha) g^2; centered: a = lerp(a, g, 1 - alpha), d = sqrt(v - a^2) + eps,
// else d = sqrt(v) + eps; momentum: b = momentum b + g / d, p -= lr b; else p -= lr g / d.
// v, b (null unless momentum > 0), a (null unless centered): (n[k],). T: float, double.
template <class T>
void rmsprop_update(int64_t K, const int64_t* n, const T* const* g, const RmspropScalars& s,
                    T* const* p, T* const* v, T* const* b, T* const* a);

// s += g^2; p -= clr[k] g / (sqrt(s) + eps) with clr[k] = lr / (1 + (step - 1) lr_decay).
template <class T>
void adagrad_update(int64_t K, const int64_t* n, const T* const* g, const double* clr,
                    double weight_decay, double eps, bool maximize, T* const* p, T* const* sum);

// v = rho v + (1 - rho) g^2; u = sqrt(acc + eps) / sqrt(v + eps) g;
// acc = rho acc + (1 - rho) u^2; p -= lr u.
template <class T>
void adadelta_update(int64_t K, const int64_t* n, const T* const* g, double lr, double rho,
                     double eps, double weight_decay, bool maximize, T* const* p, T* const* v,
                     T* const* acc);

// m = lerp(m, g, 1 - beta1); u = max(beta2 u, |g| + eps); p -= clr[k] m / u with
// clr[k] = lr / (1 - beta1^step).
template <class T>
void adamax_update(int64_t K, const int64_t* n, const T* const* g, const double* clr, double beta1,
                   double beta2, double eps, double weight_decay, bool maximize, T* const* p,
                   T* const* m, T* const* u);

// Per-parameter scalars of NAdam and RAdam, computed from the step count by the op.
struct NadamCoef {
  double bc2;     // 1 - beta2^step
  double c_grad;  // -lr (1 - mu) / (1 - mu_product)
  double c_avg;   // -lr mu_next / (1 - mu_product mu_next)
};
struct RadamCoef {
  double bc1;       // 1 - beta1^step
  double bc2_sqrt;  // sqrt(1 - beta2^step)
  double rect;      // the variance rectification term; < 0: rho_t <= 5, no adaptive step
};
struct AdamFamilyScalars {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, maximize;
};

// (decoupled: p *= 1 - lr wd) m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
// d = sqrt(v / bc2) + eps; p += c_grad g / d; p += c_avg m / d.
template <class T>
void nadam_update(int64_t K, const int64_t* n, const T* const* g, const NadamCoef* coef,
                  const AdamFamilyScalars& s, T* const* p, T* const* m, T* const* v);

// m, v as Adam; mh = m / bc1; rect >= 0: p -= mh lr (bc2_sqrt / (sqrt(v) + eps)) rect;
// else p -= mh lr.
template <class T>
void radam_update(int64_t K, const int64_t* n, const T* const* g, const RadamCoef* coef,
                  const AdamFamilyScalars& s, T* const* p, T* const* m, T* const* v);

// --- kernels/clip.cpp: gradient clipping ------------------------------------------------------
// The norm of each x[k] (n[k],), accumulated in double over fixed kBlock chunks combined in
// order (bitwise the same at any thread count): out[k] = (sum |x|^ord)^(1/ord); ord = inf: max
// |x|, -inf: min |x|, 0: the count of non-zeros. NaN propagates.
template <class T>
void norms(int64_t K, const int64_t* n, const T* const* x, double ord, double* out);

// x[k] *= f for every k.
template <class T>
void scale(int64_t K, const int64_t* n, double f, T* const* x);

}  // namespace fastgrad
