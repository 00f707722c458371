// The pieces of the module fastgrad._core: PYBIND11_MODULE (module.cpp) calls one bind_<family>
// function per ops file of cpp/autograd/, plus the graph and runtime bindings. Only pybind11 code
// lives in cpp/bindings/; no math.
#pragma once
#include <pybind11/pybind11.h>

namespace fastgrad::bindings {

// A Python object that may be dropped from a thread without the GIL.
struct PyRef {
  pybind11::object obj;
  explicit PyRef(pybind11::object o) : obj(std::move(o)) {}
  ~PyRef() {
    pybind11::gil_scoped_acquire gil;
    obj = pybind11::object();
  }
};

// bind_ops.cpp: every unary and binary primitive of the op table (generated op_list.inc), then
// the custom-signature primitives of each family.
void bind_table_ops(pybind11::module_& m);
void bind_elementwise(pybind11::module_& m);  // data in and out, creation, casts, where, clamp
void bind_reduce(pybind11::module_& m);
void bind_shape(pybind11::module_& m);
void bind_index(pybind11::module_& m);
void bind_loss(pybind11::module_& m);
void bind_inplace(pybind11::module_& m);
void bind_optim(pybind11::module_& m);
// bind_autograd.cpp: graph nodes, backward and grad, grad/anomaly modes, custom Function nodes.
void bind_autograd(pybind11::module_& m);
// bind_rnn.cpp: lstm_cell, gru_cell; bind_attention.cpp: attention (fused, custom signatures).
void bind_rnn(pybind11::module_& m);
void bind_attention(pybind11::module_& m);
// bind_conv.cpp: conv2d, conv_transpose2d, conv2d_weight; bind_pool.cpp: max_pool2d.
void bind_conv(pybind11::module_& m);
void bind_pool(pybind11::module_& m);

// bind_norm.cpp: batch_norm_train (fused batch normalization, training mode).
void bind_norm(pybind11::module_& m);

// h1-nnfast: bind_matmul.cpp: linear (x @ w^T + b as one node).
void bind_matmul(pybind11::module_& m);

}  // namespace fastgrad::bindings
