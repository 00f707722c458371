// Bindings of the fused optimizer steps of cpp/autograd/ops_optim.cpp (in place, no autograd).
#include <pybind11/stl.h>

#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace py = pybind11;

namespace fastgrad::bindings {

void bind_optim(py::module_& m) {
  using release = py::call_guard<py::gil_scoped_release>;
  m.def("sgd_step_", &fastgrad::sgd_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("bufs"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
        py::arg("nesterov"), py::arg("weight_decay"), py::arg("maximize"), py::arg("first"));
  m.def("adam_step_", &fastgrad::adam_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
        py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled"));
}

}  // namespace fastgrad::bindings
