// Bindings of the matmul family's custom-signature primitives (autograd/ops_matmul.cpp): linear.
// (matmul itself is a binary primitive of the op table, bound in bind_ops.cpp.) No math here; the
// GIL is released only for products big enough to gain from it (ReleaseIfLarge).
#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace fastgrad::bindings {

void bind_matmul(pybind11::module_& m) {
  // bias None -> a null Tensor (no bias).
  m.def("linear", [](const Tensor& x, const Tensor& w, const Tensor& b) {
    ReleaseIfLarge nogil(x->numel() + w->numel());
    return fastgrad::linear(x, w, b);
  });
}

}  // namespace fastgrad::bindings
