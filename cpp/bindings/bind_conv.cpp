// Python bindings of the convolution family (autograd/ops_conv.cpp); the GIL is released for the
// kernels, which never call back into Python.
#include <pybind11/stl.h>

#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace fastgrad::bindings {

void bind_conv(pybind11::module_& m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("conv2d", &fastgrad::conv2d, release());
  m.def("conv_transpose2d", &fastgrad::conv_transpose2d, release());
  m.def("conv2d_weight", &fastgrad::conv2d_weight, release());
  m.def("conv2d_fused", &fastgrad::conv2d_fused, release());
}

}  // namespace fastgrad::bindings
