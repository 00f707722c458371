// Bindings of the graph: Node objects (for grad_fn, hooks and fastgrad.viz), backward and grad,
// the thread-local modes, and nodes whose backward is a Python callable (autograd.Function).
// Python objects held by C++ are released under the GIL.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"

namespace py = pybind11;

namespace fastgrad::bindings {
namespace {

// A node whose backward is a Python callable (fastgrad.autograd.Function).
class PyNode : public Node {
 public:
  PyNode(std::string name, py::function fn)
      : name_(std::move(name)), fn_(std::make_shared<PyRef>(std::move(fn))) {}
  GradList apply(std::vector<Tensor>& grads) override {
    py::gil_scoped_acquire gil;
    py::list args;
    for (auto& g : grads) args.append(py::cast(g));
    py::object r = fn_->obj(args);
    GradList out;
    for (auto h : r) out.push_back(h.is_none() ? nullptr : h.cast<Tensor>());
    FG_RUNTIME_CHECK(out.size() == next_edges_.size(), "function ", name_, " returned ", out.size(),
                     " gradients but its forward had ", next_edges_.size(), " tensor inputs");
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

// Anomaly mode: the Python line that created a node, from the function the layer above registers
// (fastgrad.autograd.anomaly.creation_trace) with set_creation_trace_fn. Leaked on purpose:
// destroying a Python object after the interpreter is gone would crash.
py::object* g_trace_fn = nullptr;

std::string python_creation_trace() {
  py::gil_scoped_acquire gil;
  if (g_trace_fn == nullptr) return std::string();
  return (*g_trace_fn)().cast<std::string>();
}

void bind_node(py::module_& m) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", &Node::name)
      .def_property_readonly("next_functions",
                             [](const Node& n) {
    py::list l;
    for (auto& e : n.next_edges_) {
      if (e.fn) l.append(py::make_tuple(e.fn, e.input_nr));
      else l.append(py::make_tuple(py::none(), 0));
    }
    return py::tuple(l);
  })
      .def("output", [](const Node& n, size_t i) { return n.output(i); },
           "forward output i if it is still alive (or kept), else None (for fastgrad.viz)")
      .def("register_prehook",
           [](Node& n, uint32_t nr, py::function fn) {
    FG_CHECK(nr < n.num_outputs(), "register_prehook: ", n.name(), " has ", n.num_outputs(),
             " outputs, not ", nr + 1);
    n.extras().pre_hooks.emplace_back(nr, make_hook(std::move(fn)));
  }, "fn(grad of output nr) -> None or a replacement, before the node runs")
      .def_property_readonly("variable",
                             [](const Node& n) -> Tensor {
    auto* acc = dynamic_cast<const AccumulateGrad*>(&n);
    return acc ? acc->variable : nullptr;
  }, "the leaf of an AccumulateGrad node, else None")
      .def("__repr__", [](const Node& n) { return "<" + n.name() + ">"; });
}

void bind_modes(py::module_& m) {
  m.def("is_grad_enabled", &GradMode::is_enabled);
  m.def("set_grad_enabled", &GradMode::set_enabled);
  m.def("is_anomaly_enabled", &AnomalyMode::is_enabled);
  m.def("set_anomaly_enabled", &AnomalyMode::set_enabled);
  m.def("set_creation_trace_fn", [](py::function fn) {
    if (g_trace_fn == nullptr) g_trace_fn = new py::object();
    *g_trace_fn = std::move(fn);
  }, "fn() -> str, the Python line that created a node (called in anomaly mode)");
  AnomalyMode::set_trace_fn(&python_creation_trace);
  m.def("is_keep_outputs_enabled", &KeepOutputsMode::is_enabled);
  m.def("set_keep_outputs_enabled", &KeepOutputsMode::set_enabled);
}

}  // namespace

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

void bind_autograd(py::module_& m) {
  bind_node(m);
  bind_modes(m);
  m.def("detach", [](const Tensor& t) { return detach(t); });
  m.def("rebase_history", &rebase_history);
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
  // --- h8-dist: Tensor.register_post_accumulate_grad_hook ---
  m.def("register_post_accumulate_grad_hook", [](const Tensor& t, py::function fn) {
    FG_RUNTIME_CHECK(
        t->requires_grad_ && t->is_leaf(),
        "register_post_accumulate_grad_hook: only leaf tensors that require grad accumulate "
        "a .grad (this tensor is ",
        (t->is_leaf() ? "a leaf that does not require grad" : "not a leaf"), ")");
    auto ref = std::make_shared<PyRef>(std::move(fn));
    t->post_acc_hooks().push_back([ref](const Tensor& leaf) -> Tensor {
      py::gil_scoped_acquire gil;
      ref->obj(leaf);
      return nullptr;
    });
  }, "fn(leaf) after the leaf's .grad was accumulated in backward (the return value is ignored)");
  m.def("bump_version", [](const Tensor& t) { t->bump_version(); },
        "marks t's memory as written (fastgrad.distributed writes it through NumPy)");
  m.def("function_apply",
        [](const std::string& name, py::function backward_fn, const std::vector<Tensor>& inputs,
           const std::vector<Tensor>& outputs) {
    if (!any_requires_grad(inputs)) return;
    auto node = std::make_shared<PyNode>(name, std::move(backward_fn));
    set_history(node, inputs, outputs);
  });
}

}  // namespace fastgrad::bindings
