// Creation: new tensors filled with one value (full and its shorthands). No autograd: a fresh
// tensor has no history and does not require grad. Not here: copies and casts
// (ops_elementwise.cpp), random tensors (the Python layer).
#include "autograd/ops.h"

namespace fastgrad {

Tensor full(const Shape& shape, double value, DType d) {
  Tensor out = empty(shape, d);
  FG_DISPATCH_ALL(d, T, {
    T v = static_cast<T>(value);
    T* p = out->data<T>();
    for (int64_t i = 0, n = out->numel(); i < n; ++i) p[i] = v;
  });
  return out;
}

Tensor scalar_tensor(double value, DType d) { return full({}, value, d); }

Tensor zeros_like(const Tensor& x) { return full(x->shape(), 0.0, x->dtype()); }

}  // namespace fastgrad
