// The pybind11 module fastgrad._core: tensor handles, graph nodes and every op of autograd/ops.h.
// No math here. Ops release the GIL; anything that calls back into Python (hooks, custom
// Function backward) takes it again. Python objects held by C++ are released under the GIL.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "autograd/engine.h"
#include "bindings/handle.h"
#include "bindings/bind.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "build_info.h"
#include "kernels/gemm.h"
#include "tensor/iter.h"
#include "tensor/pool.h"

namespace py = pybind11;
using namespace fastgrad;
using fastgrad::bindings::ReleaseIfLarge;

namespace {

using release = py::call_guard<py::gil_scoped_release>;

// A Python object that may be dropped from a thread without the GIL.
struct PyRef {
  py::object obj;
  explicit PyRef(py::object o) : obj(std::move(o)) {}
  ~PyRef() {
    py::gil_scoped_acquire gil;
    obj = py::object();
  }
};

DType dtype_from_numpy(const py::dtype& dt) {
  if (dt.is(py::dtype::of<float>())) return DType::Float32;
  if (dt.is(py::dtype::of<double>())) return DType::Float64;
  if (dt.is(py::dtype::of<int64_t>())) return DType::Int64;
  if (dt.is(py::dtype::of<bool>())) return DType::Bool;
  char kind = dt.kind();
  int size = static_cast<int>(dt.itemsize());
  if (dt.byteorder() != '=' && dt.byteorder() != '|' && size > 1) {
    FG_TYPE_ERROR("from_numpy: arrays of non-native byte order are not shared; use ",
                  "fastgrad.tensor(a) to copy it");
  }
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'b') return DType::Bool;
  FG_TYPE_ERROR("from_numpy: unsupported dtype ", std::string(py::str(dt)),
                "; fastgrad has float32, float64, int64 and bool");
}

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Bool: return py::dtype::of<bool>();
  }
  return py::dtype::of<float>();
}

Tensor from_numpy(py::array a) {
  DType d = dtype_from_numpy(a.dtype());
  const int64_t item = static_cast<int64_t>(itemsize(d));
  Shape shape, strides;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    shape.push_back(a.shape(i));
    FG_CHECK(a.strides(i) >= 0 && a.strides(i) % item == 0,
             "from_numpy: arrays with negative or unaligned strides cannot be shared; ",
             "use fastgrad.tensor(a) to copy it");
    strides.push_back(a.strides(i) / item);
  }
  auto st = pool::make<Storage>();
  auto owner = std::make_shared<PyRef>(py::reinterpret_borrow<py::object>(a));
  st->holder = owner;
  st->data = const_cast<void*>(a.data());
  st->nbytes = a.nbytes();
  return pool::make<TensorImpl>(std::move(st), 0, shape, strides, d);
}

py::array to_numpy(const Tensor& t) {
  auto keep = new std::shared_ptr<Storage>(t->storage());
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  std::vector<py::ssize_t> shape(t->shape().begin(), t->shape().end());
  std::vector<py::ssize_t> strides;
  for (int64_t s : t->strides()) strides.push_back(s * static_cast<int64_t>(itemsize(t->dtype())));
  return py::array(numpy_dtype(t->dtype()), shape, strides, t->raw(), base);
}

// A node whose backward is a Python callable (fastgrad.autograd.Function).
class PyNode : public Node {
 public:
  PyNode(std::string name, py::function fn) : name_(std::move(name)), fn_(std::make_shared<PyRef>(std::move(fn))) {}
  GradList apply(std::vector<Tensor>& grads) override {
    py::gil_scoped_acquire gil;
    py::list args;
    for (auto& g : grads) args.append(py::cast(g));
    py::object r = fn_->obj(args);
    GradList out;
    for (auto h : r) out.push_back(h.is_none() ? nullptr : h.cast<Tensor>());
    FG_RUNTIME_CHECK(out.size() == next_edges_.size(), "function ", name_, " returned ",
                     out.size(), " gradients but its forward had ", next_edges_.size(),
                     " tensor inputs");
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] && !needs_input_grad(i)) out[i] = nullptr;
    }
    return out;
  }
  std::string name() const override { return name_; }
  void release_saved() override {
    Node::release_saved();
    py::gil_scoped_acquire gil;
    fn_.reset();
  }

 private:
  std::string name_;
  std::shared_ptr<PyRef> fn_;
};

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

std::vector<int64_t> to_shape(const py::object& o) { return o.cast<std::vector<int64_t>>(); }

// Anomaly mode: the Python line that created a node (fastgrad.autograd.anomaly.creation_trace).
std::string python_creation_trace() {
  py::gil_scoped_acquire gil;
  // Leaked on purpose: destroying a Python object after the interpreter is gone would crash.
  static py::object* fn = new py::object(
      py::module_::import("fastgrad.autograd.anomaly").attr("creation_trace"));
  return (*fn)().cast<std::string>();
}

}  // namespace

namespace fastgrad::bindings {

py::object item(const Tensor& t) {
  FG_CHECK(t->numel() == 1, "item: a tensor with ", t->numel(),
           " elements cannot be converted to a Python scalar (shape ", t->shape(), ")");
  switch (t->dtype()) {
    case DType::Float32: return py::float_(*t->data<float>());
    case DType::Float64: return py::float_(*t->data<double>());
    case DType::Int64: return py::int_(*t->data<int64_t>());
    case DType::Bool: return py::bool_(*t->data<bool>());
  }
  return py::none();
}

std::function<Tensor(const Tensor&)> make_hook(py::function fn) {
  auto ref = std::make_shared<PyRef>(std::move(fn));
  return [ref](const Tensor& g) -> Tensor {
    py::gil_scoped_acquire gil;
    py::object r = ref->obj(g);
    if (r.is_none()) return nullptr;
    Tensor out = r.cast<Tensor>();
    FG_CHECK(out->shape() == g->shape(), "hook: returned a gradient of shape ", out->shape(),
             " for a tensor of shape ", g->shape());
    return out;
  };
}

}  // namespace fastgrad::bindings

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastgrad's C++ core: tensors, the autograd engine and the kernels";
  bindings::init_handle_type(m);
  fastgrad::bind_conv(m);  // bindings/bind_conv.cpp
  fastgrad::bind_pool(m);  // bindings/bind_pool.cpp
  py::register_exception<fastgrad::TypeError>(m, "FastgradTypeError", PyExc_TypeError);

  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", &Node::name)
      .def_property_readonly("next_functions", [](const Node& n) {
        py::list l;
        for (auto& e : n.next_edges_) {
          if (e.fn) l.append(py::make_tuple(e.fn, e.input_nr));
          else l.append(py::make_tuple(py::none(), 0));
        }
        return py::tuple(l);
      })
      .def("output", [](const Node& n, size_t i) { return n.output(i); },
           "forward output i if it is still alive (or kept), else None (for fastgrad.viz)")
      .def("register_prehook", [](Node& n, uint32_t nr, py::function fn) {
        FG_CHECK(nr < n.num_outputs(), "register_prehook: ", n.name(), " has ", n.num_outputs(),
                 " outputs, not ", nr + 1);
        n.extras().pre_hooks.emplace_back(nr, bindings::make_hook(std::move(fn)));
      }, "fn(grad of output nr) -> None or a replacement, before the node runs")
      .def_property_readonly("variable", [](const Node& n) -> Tensor {
        auto* acc = dynamic_cast<const AccumulateGrad*>(&n);
        return acc ? acc->variable : nullptr;
      }, "the leaf of an AccumulateGrad node, else None")
      .def("__repr__", [](const Node& n) { return "<" + n.name() + ">"; });

  m.def("from_numpy", &from_numpy, py::arg("a").noconvert());
  m.def("to_numpy", &to_numpy);
  m.def("scalar", [](double v, int d) { return scalar_tensor(v, static_cast<DType>(d)); });
  m.def("full", [](const py::object& shape, double v, int d) {
    Shape s = to_shape(shape);
    py::gil_scoped_release nogil;
    return full(s, v, static_cast<DType>(d));
  });
  m.def("detach", [](const Tensor& t) { return detach(t); });
  m.def("rebase_history", &rebase_history);
  m.def("clone", &fastgrad::clone, release());
  m.def("contiguous", &fastgrad::contiguous, release());

#define FG_BIND1(NAME)                          \
  m.def(#NAME, [](const Tensor& x) {            \
    ReleaseIfLarge nogil(x->numel());           \
    return fastgrad::NAME(x);                   \
  })
#define FG_BIND2(NAME)                                     \
  m.def(#NAME, [](const Tensor& a, const Tensor& b) {      \
    ReleaseIfLarge nogil(a->numel() + b->numel());         \
    return fastgrad::NAME(a, b);                           \
  })
  FG_BIND1(neg); FG_BIND1(exp); FG_BIND1(log); FG_BIND1(sqrt); FG_BIND1(abs); FG_BIND1(sign);
  FG_BIND1(sin); FG_BIND1(cos); FG_BIND1(tanh); FG_BIND1(sigmoid); FG_BIND1(relu);
  FG_BIND1(logical_not);
  FG_BIND2(relu_backward); FG_BIND2(sigmoid_backward); FG_BIND2(tanh_backward);
  FG_BIND2(add); FG_BIND2(sub); FG_BIND2(mul); FG_BIND2(div); FG_BIND2(pow);
  FG_BIND2(maximum); FG_BIND2(minimum);
  FG_BIND2(lt); FG_BIND2(le); FG_BIND2(gt); FG_BIND2(ge); FG_BIND2(eq); FG_BIND2(ne);
  FG_BIND2(matmul); FG_BIND2(take);
#undef FG_BIND1
#undef FG_BIND2
  m.def("where", &fastgrad::where, release());
  m.def("clamp", &fastgrad::clamp, release());
  m.def("to_dtype", [](const Tensor& x, int d) { return to_dtype(x, static_cast<DType>(d)); }, release());
  m.def("sum", &fastgrad::sum, release());
  m.def("amax", &fastgrad::amax, release());
  m.def("amin", &fastgrad::amin, release());
  m.def("argmax", &fastgrad::argmax, release());
  m.def("argmin", &fastgrad::argmin, release());
  m.def("softmax", &fastgrad::softmax, release());
  m.def("log_softmax", &fastgrad::log_softmax, release());
  m.def("sum_to", &fastgrad::sum_to, release());
  m.def("cross_entropy_rows", &fastgrad::cross_entropy_rows, release());
  m.def("cross_entropy_rows_backward", &fastgrad::cross_entropy_rows_backward, release());
  m.def("reshape", &fastgrad::reshape, release());
  m.def("permute", &fastgrad::permute, release());
  m.def("expand", &fastgrad::expand, release());
  m.def("slice", &fastgrad::slice, release());
  m.def("slice_backward", &fastgrad::slice_backward, release());
  m.def("cat", &fastgrad::cat, release());
  m.def("put_add", &fastgrad::put_add, release());
  m.def("copy_", &fastgrad::copy_, release());
  m.def("fill_", &fastgrad::fill_, release());
  m.def("put_", &fastgrad::put_, release());

  m.def("backward", [](const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                       bool retain_graph, bool create_graph) {
    py::gil_scoped_release nogil;
    run_backward(roots, grads, retain_graph, create_graph, {}, false);
  });
  m.def("grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                   bool allow_unused) {
    py::gil_scoped_release nogil;
    return run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs, allow_unused);
  });
  AnomalyMode::set_trace_fn(&python_creation_trace);
  m.def("is_anomaly_enabled", &AnomalyMode::is_enabled);
  m.def("is_keep_outputs_enabled", &KeepOutputsMode::is_enabled);
  m.def("set_keep_outputs_enabled", &KeepOutputsMode::set_enabled);
  m.def("set_anomaly_enabled", &AnomalyMode::set_enabled);
  m.def("is_grad_enabled", &GradMode::is_enabled);
  m.def("set_grad_enabled", &GradMode::set_enabled);
  m.def("function_apply", [](const std::string& name, py::function backward_fn,
                             const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
    if (!any_requires_grad(inputs)) return;
    auto node = std::make_shared<PyNode>(name, std::move(backward_fn));
    set_history(node, inputs, outputs);
  });
  m.def("set_num_threads", [](int n) {
    FG_CHECK(n >= 1, "set_num_threads: expected a positive count, got ", n);
    set_num_threads(n);
  });
  m.def("get_num_threads", &num_threads);
  // Test hook for kernels/gemm: c = a @ b + beta * c in place on 2-D tensors of one float dtype and
  // any strides, by the blocked kernel or (naive=True) by the one-dot-product-per-element twin.
  m.def("_gemm", [](const Tensor& a, const Tensor& b, const Tensor& c, double beta, bool naive) {
    FG_CHECK(a->dim() == 2 && b->dim() == 2 && c->dim() == 2 &&
                 a->shape()[1] == b->shape()[0] && c->shape()[0] == a->shape()[0] &&
                 c->shape()[1] == b->shape()[1],
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
  m.def("_gemm_kernel_name", [](bool is_double) { return std::string(gemm_kernel_name(is_double)); });
  m.def("build_info", &build_info);
  m.def("live_counts", [] { return py::make_tuple(TensorImpl::live_count(), Node::live_count()); },
        "(tensors, nodes) alive in the process: for leak tests");

  // optimizers
  m.def("sgd_step_", &fastgrad::sgd_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("bufs"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
        py::arg("nesterov"), py::arg("weight_decay"), py::arg("maximize"), py::arg("first"));
  m.def("adam_step_", &fastgrad::adam_step_, release(), py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
        py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled"));
}
