// Binding of the fused attention op (autograd/ops_attention.cpp); the GIL is released around the
// kernel. No math here.
#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace fastgrad::bindings {

void bind_attention(pybind11::module_& m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("attention", &fastgrad::attention, release());
}

}  // namespace fastgrad::bindings
