// Binding of the fused batch normalization op (autograd/ops_norm.cpp); the GIL is released around
// the kernels, which never call back into Python. No math here.
#include <pybind11/stl.h>

#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace fastgrad::bindings {

void bind_norm(pybind11::module_& m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("batch_norm_train", &fastgrad::batch_norm_train, release());
}

}  // namespace fastgrad::bindings
