// The backward engine. 1) count each node's dependencies with an explicit stack; 2) run a node
// when its count reaches 0; 3) sum incoming gradients into a per-node buffer, reduce broadcast
// gradients with sum_to; 4) free each buffer once consumed and saved tensors after each node
// unless retain_graph. Not here: the derivative rules (ops_*.cpp).
#include "autograd/engine.h"

#include <cmath>
#include <unordered_map>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"

namespace fastgrad {
namespace {

struct NodeTask {
  int dependencies = 0;
  std::vector<Tensor> buffer;
};

void accumulate(std::vector<Tensor>& buffer, size_t nr, size_t n_outputs, Tensor g) {
  if (buffer.size() < n_outputs) buffer.resize(n_outputs);
  Tensor& slot = buffer[nr];
  slot = slot ? add(slot, g) : std::move(g);
}

bool all_finite(const Tensor& t) {
  if (!is_floating(t->dtype())) return true;
  Tensor c = t->is_contiguous() ? t : clone(detach(t));
  bool ok = true;
  FG_DISPATCH_FLOAT(c->dtype(), "detect_anomaly", T, {
    const T* p = c->data<T>();
    for (int64_t i = 0, n = c->numel(); i < n && ok; ++i) ok = std::isfinite(p[i]);
  });
  return ok;
}

// Anomaly mode: the first node whose backward returns NaN/inf names itself and the forward call
// that created it.
void check_anomaly(const Node& node, const std::vector<Tensor>& outs) {
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i] || all_finite(outs[i])) continue;
    const std::string& trace = node.creation_trace();
    std::string where = trace.empty()
        ? "(its forward ran outside detect_anomaly(), so where it was created is unknown)"
        : "The forward call that created it:\n" + trace;
    throw std::runtime_error(str_cat("detect_anomaly: function '", node.name(),
                                     "' returned nan or inf values in its output ", i,
                                     " (the gradient of input ", i, ", shape ",
                                     outs[i]->shape(), "). ", where));
  }
}

}  // namespace

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& grad_roots, bool keep_graph,
                                 bool create_graph, const std::vector<Tensor>& inputs,
                                 bool allow_unused) {
  FG_ASSERT(roots.size() == grad_roots.size(), "roots and grad_roots differ in length");
  std::unordered_map<Node*, NodeTask> tasks;
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    FG_RUNTIME_CHECK(r && r->requires_grad_, "element ", i,
                     " of tensors does not require grad and does not have a grad_fn");
    root_edges.push_back(gradient_edge(r));
  }

  // Inputs of fastgrad.grad(): the gradient arriving at each one's edge is captured.
  const bool capture = !inputs.empty();
  std::vector<Edge> input_edges;
  for (size_t i = 0; i < inputs.size(); ++i) {
    FG_RUNTIME_CHECK(inputs[i] && inputs[i]->requires_grad_, "grad: input ", i,
                     " does not require grad");
    input_edges.push_back(gradient_edge(inputs[i]));
  }
  std::vector<Tensor> captured(inputs.size());

  // 1) Dependency counts, by an explicit depth-first walk.
  {
    std::vector<Node*> stack;
    for (auto& e : root_edges) {
      if (tasks.emplace(e.fn.get(), NodeTask{}).second) stack.push_back(e.fn.get());
    }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (auto& e : n->next_edges_) {
        if (!e.fn) continue;
        auto [it, fresh] = tasks.emplace(e.fn.get(), NodeTask{});
        it->second.dependencies++;
        if (fresh) stack.push_back(e.fn.get());
      }
    }
  }

  // Seed the roots.
  for (size_t i = 0; i < roots.size(); ++i) {
    Tensor g = grad_roots[i];
    if (!g) {
      FG_RUNTIME_CHECK(roots[i]->numel() == 1,
                       "grad can be implicitly created only for scalar outputs; "
                       "pass gradient= for a tensor of shape ", roots[i]->shape());
      g = full(roots[i]->shape(), 1.0, roots[i]->dtype());
    }
    FG_CHECK(g->shape() == roots[i]->shape(), "backward: gradient of shape ", g->shape(),
             " does not match the tensor's shape ", roots[i]->shape());
    Node* n = root_edges[i].fn.get();
    accumulate(tasks[n].buffer, root_edges[i].input_nr, n->num_outputs(), std::move(g));
  }

  std::vector<Node*> ready;
  for (auto& e : root_edges) {
    NodeTask& t = tasks[e.fn.get()];
    if (t.dependencies == 0) {
      t.dependencies = -1;  // queued
      ready.push_back(e.fn.get());
    }
  }

  AutoGradMode mode(create_graph);
  const bool anomaly = AnomalyMode::is_enabled();
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    auto it = tasks.find(node);
    std::vector<Tensor> grads = std::move(it->second.buffer);
    grads.resize(node->num_outputs());
    for (size_t k = 0; k < grads.size(); ++k) {
      if (!grads[k]) grads[k] = full(node->output_meta_[k].shape, 0.0, node->output_meta_[k].dtype);
    }
    for (auto& [nr, hook] : node->pre_hooks_) {
      Tensor r = hook(grads[nr]);
      if (r) grads[nr] = r;
    }
    for (auto& [nr, weak] : node->retained_) {
      if (auto t = weak.lock()) {
        t->grad_ = t->grad_ ? add(t->grad_, grads[nr]) : (create_graph ? grads[nr] : clone(grads[nr]));
      }
    }

    bool skip = false;
    if (capture) {
      for (size_t i = 0; i < input_edges.size(); ++i) {
        if (input_edges[i].fn.get() == node) {
          captured[i] = grads[input_edges[i].input_nr];
          if (dynamic_cast<AccumulateGrad*>(node)) skip = true;
        }
      }
      if (!skip && dynamic_cast<AccumulateGrad*>(node)) skip = true;
    }

    std::vector<Tensor> outs;
    if (!skip) {
      FG_RUNTIME_CHECK(!node->released_,
                       "Trying to backward through the graph a second time (or to read saved "
                       "tensors after they were freed) in ", node->name(),
                       ". Saved tensors are freed after backward; pass retain_graph=True to the "
                       "first backward if you need to backward twice.");
      outs = node->apply(grads);
      if (anomaly) check_anomaly(*node, outs);
      if (!keep_graph) node->release_saved();
    }
    grads.clear();

    for (size_t i = 0; i < node->next_edges_.size(); ++i) {
      const Edge& e = node->next_edges_[i];
      if (!e.fn) continue;
      NodeTask& t = tasks[e.fn.get()];
      Tensor g = i < outs.size() ? outs[i] : nullptr;
      if (g) {
        const TensorMeta& m = node->input_meta_[i];
        if (g->shape() != m.shape) g = sum_to(g, m.shape);
        if (g->dtype() != m.dtype) g = to_dtype(g, m.dtype);
        accumulate(t.buffer, e.input_nr, e.fn->num_outputs(), std::move(g));
      }
      if (--t.dependencies == 0) ready.push_back(e.fn.get());
    }
    tasks.erase(it);
  }

  if (capture) {
    for (size_t i = 0; i < captured.size(); ++i) {
      FG_RUNTIME_CHECK(captured[i] || allow_unused, "grad: input ", i,
                       " was not used in the graph; pass allow_unused=True to get None for it");
    }
  }
  return captured;
}

}  // namespace fastgrad
