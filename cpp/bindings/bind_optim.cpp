// Bindings of the fused optimizer steps and gradient-clipping kernels (autograd/ops_optim.cpp):
// lists of tensor handles in, updated in place, GIL released. No math here.
#include <pybind11/pybind11.h>
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
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled"));
  m.def("rmsprop_step_", &fastgrad::rmsprop_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("momentum_buffers"), py::arg("grad_avgs"), py::arg("lr"),
        py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
        py::arg("centered"), py::arg("maximize"));
  m.def("adagrad_step_", &fastgrad::adagrad_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("state_sums"), py::arg("steps"), py::arg("lr"), py::arg("lr_decay"),
        py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"));
  m.def("adadelta_step_", &fastgrad::adadelta_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("acc_deltas"), py::arg("lr"), py::arg("rho"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"));
  m.def("adamax_step_", &fastgrad::adamax_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_infs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"));
  m.def("nadam_step_", &fastgrad::nadam_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("mu_products"), py::arg("steps"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum_decay"), py::arg("decoupled"), py::arg("maximize"));
  m.def("radam_step_", &fastgrad::radam_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("maximize"));
  m.def("foreach_norm", &fastgrad::foreach_norm, release(), py::arg("tensors"), py::arg("ord"));
  m.def("foreach_mul_", &fastgrad::foreach_mul_, release(), py::arg("tensors"), py::arg("factor"));
}

}  // namespace fastgrad::bindings
