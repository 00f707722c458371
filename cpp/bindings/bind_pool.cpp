// Python bindings of the pooling family (autograd/ops_pool.cpp); the GIL is released for the
// kernels, which never call back into Python.
#include <pybind11/stl.h>

#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace fastgrad::bindings {

void bind_pool(pybind11::module_& m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("max_pool2d", &fastgrad::max_pool2d, release());
}

}  // namespace fastgrad::bindings
