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

}  // namespace fastgrad
