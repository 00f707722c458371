// Bindings of the fused recurrent-cell ops (autograd/ops_rnn.cpp); the GIL is released around
// each kernel. No math here.
#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace fastgrad::bindings {

void bind_rnn(pybind11::module_& m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("lstm_cell", &fastgrad::lstm_cell, release());
  m.def("gru_cell", &fastgrad::gru_cell, release());
}

}  // namespace fastgrad::bindings
