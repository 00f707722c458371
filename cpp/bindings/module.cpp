// The pybind11 module fastgrad._core: PYBIND11_MODULE calls the bind_<family> functions (one per
// ops file of cpp/autograd/, see bind.h) and binds the runtime: threads, build facts, test hooks.
// No math here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "autograd/node.h"
#include "bindings/bind.h"
#include "bindings/handle.h"
#include "build_info.h"
#include "kernels/gemm.h"
#include "tensor/iter.h"
#include "tensor/pool.h"

namespace py = pybind11;
using namespace fastgrad;

namespace {
// How this module was built and which kernels this CPU runs: fastgrad.show_config() prints it.
py::dict build_info() {
  py::dict d;
  d["compiler"] = FASTGRAD_COMPILER;
  d["build_type"] = FASTGRAD_BUILD_TYPE;
  d["flags"] = FASTGRAD_BUILD_FLAGS;
  d["native"] = bool(FASTGRAD_NATIVE);
  d["sanitize"] = bool(FASTGRAD_SANITIZE);
#ifdef _OPENMP
  d["openmp"] = _OPENMP;  // the spec's date, e.g. 201511 for OpenMP 4.5
#else
  d["openmp"] = py::none();
#endif
  d["gemm_float32"] = gemm_kernel_name(false);
  d["gemm_float64"] = gemm_kernel_name(true);
  py::list levels;
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("x86-64-v4")) levels.append("x86-64-v4");
  if (__builtin_cpu_supports("x86-64-v3")) levels.append("x86-64-v3");
  if (__builtin_cpu_supports("x86-64-v2")) levels.append("x86-64-v2");
#endif
  d["cpu_levels"] = levels;
  return d;
}

void bind_runtime(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    FG_CHECK(n >= 1, "set_num_threads: expected a positive count, got ", n);
    set_num_threads(n);
  });
  m.def("get_num_threads", &num_threads);
  // Test hook for kernels/gemm: c = a @ b + beta * c in place on 2-D tensors of one float dtype and
  // any strides, by the blocked kernel or (naive=True) by the one-dot-product-per-element twin.
  m.def("_gemm", [](const Tensor& a, const Tensor& b, const Tensor& c, double beta, bool naive) {
    FG_CHECK(a->dim() == 2 && b->dim() == 2 && c->dim() == 2 && a->shape()[1] == b->shape()[0] &&
                 c->shape()[0] == a->shape()[0] && c->shape()[1] == b->shape()[1],
             "_gemm: shapes ", a->shape(), " @ ", b->shape(), " -> ", c->shape(), " do not fit");
    FG_TYPE_CHECK(is_floating(a->dtype()) && a->dtype() == b->dtype() && a->dtype() == c->dtype(),
                  "_gemm: expected three tensors of one floating dtype");
    const int64_t M = a->shape()[0], K = a->shape()[1], N = b->shape()[1];
    py::gil_scoped_release nogil;
    FG_DISPATCH_FLOAT(a->dtype(), "_gemm", T, {
      auto f = naive ? static_cast<void (*)(int64_t, int64_t, int64_t, const T*, int64_t, int64_t,
                                            const T*, int64_t, int64_t, T, T*, int64_t, int64_t)>(
                           &gemm_naive)
                     : static_cast<void (*)(int64_t, int64_t, int64_t, const T*, int64_t, int64_t,
                                            const T*, int64_t, int64_t, T, T*, int64_t, int64_t)>(
                           &gemm);
      f(M, N, K, a->data<T>(), a->strides()[0], a->strides()[1], b->data<T>(), b->strides()[0],
        b->strides()[1], static_cast<T>(beta), c->data<T>(), c->strides()[0], c->strides()[1]);
    });
  });
  m.def("_gemm_kernel_name",
        [](bool is_double) { return std::string(gemm_kernel_name(is_double)); });
  m.def("build_info", &build_info);
  m.def("live_counts", [] { return py::make_tuple(TensorImpl::live_count(), Node::live_count()); },
        "(tensors, nodes) alive in the process: for leak tests");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastgrad's C++ core: tensors, the autograd engine and the kernels";
  bindings::init_handle_type(m);
  py::register_exception<fastgrad::TypeError>(m, "FastgradTypeError", PyExc_TypeError);
  bindings::bind_autograd(m);
  bindings::bind_table_ops(m);
  bindings::bind_elementwise(m);
  bindings::bind_reduce(m);
  bindings::bind_shape(m);
  bindings::bind_index(m);
  bindings::bind_loss(m);
  bindings::bind_inplace(m);
  bindings::bind_optim(m);
  bindings::bind_rnn(m);
  bindings::bind_attention(m);
  bindings::bind_conv(m);
  bindings::bind_pool(m);
  bindings::bind_norm(m);
  bindings::bind_matmul(m);  // h1-nnfast
  bind_runtime(m);
}
