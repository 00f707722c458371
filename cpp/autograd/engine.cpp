// The backward engine: run_backward in named steps, each with a twin of the same name in
// python/fastgrad/reference/engine.py: count_dependencies (an explicit stack, nothing recurses),
// seed_roots, then for each node whose count reaches 0: input_grads (its summed gradient buffer,
// freed once consumed), capture (grad() only), evaluate (the rule; saved tensors freed unless
// retain_graph), route_gradients (sum_to for broadcast gradients); last check_captured.
// Not here: the derivative rules (ops_*.cpp).
#include "autograd/engine.h"

#include <atomic>
#include <cmath>
#include <memory>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"

namespace fastgrad {
namespace {

// One node's bookkeeping during a backward pass: its dependency count (-1 once queued), its
// slot in the hash table, and the gradients summed so far for its outputs (output 0 inline: most
// nodes have one output; the others out of line). 40 bytes: a 10^6-node graph's pass holds one
// per node.
struct NodeTask {
  Node* node = nullptr;
  int dependencies = 0;
  uint32_t slot = 0;
  Tensor first;
  std::unique_ptr<std::vector<Tensor>> rest;
  Tensor& slot_of(uint32_t nr) {
    if (nr == 0) return first;
    if (!rest) rest = std::make_unique<std::vector<Tensor>>();
    if (rest->size() < nr) rest->resize(nr);
    return (*rest)[nr - 1];
  }
};

std::atomic<uint32_t> g_next_pass{0};

// Note [Task table]: Node* -> NodeTask for one backward pass, by open addressing over arrays
// that a thread keeps from one pass to the next (one table per nesting level: a custom
// Function's backward may run a backward of its own). A pass over a warm table allocates
// nothing; an unordered_map cost an allocation per node and rehashes whose large requests made
// glibc consolidate its free lists, together about a tenth of a small graph's backward.
// Each node remembers where its task is (Node::task_hint_: pass id and index), so only the first
// lookup of a node probes the hash table; in a 10^6-node graph every probe is a cache miss. A
// hint is only a guess, checked against the task it names: another pass (a nested one, or one on
// another thread through a shared part of a graph) may have overwritten it, and then the lookup
// probes the table as before.
// Memory (the pass runs while the whole graph is alive, so it adds to the peak): a slot is the
// 4-byte index of its task (the key is the task's node), at most half the slots are used, and
// tasks live in fixed chunks, so a task stays where it is (no copy of the whole array when it
// grows, no old and new array alive at once): about 48 bytes per node, 106 before.
class TaskTable {
 public:
  // Starts a pass: hints written by earlier passes no longer match.
  void begin() {
    do pass_ = g_next_pass.fetch_add(1, std::memory_order_relaxed) + 1;
    while (pass_ == 0);
  }
  // The task of n, inserted (and `fresh` set) if absent.
  NodeTask& get(Node* n, bool* fresh = nullptr) {
    const uint64_t h = n->task_hint_.load(std::memory_order_relaxed);
    if (static_cast<uint32_t>(h >> 32) == pass_) {
      const auto i = static_cast<uint32_t>(h);
      if (i < size_ && task(i).node == n) {
        if (fresh) *fresh = false;
        return task(i);
      }
    }
    return probe(n, fresh);
  }
  // Empties the table (gradients still held are released), keeping its memory unless a big
  // graph grew it past kKeepSlots: a 10^6-node pass must not pin 50 MB for the thread's life.
  void clear() {
    if (slots_.size() > kKeepSlots) {
      *this = TaskTable();
      return;
    }
    for (uint32_t i = 0; i < size_; ++i) {
      NodeTask& t = task(i);
      slots_[t.slot] = kEmpty;
      t = NodeTask();
    }
    size_ = 0;
  }

 private:
  static constexpr size_t kKeepSlots = size_t(1) << 16;
  static constexpr uint32_t kEmpty = UINT32_MAX;
  static constexpr int kChunkBits = 10;
  static constexpr uint32_t kChunk = 1u << kChunkBits;
  NodeTask& task(uint32_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  size_t index(Node* n) const {
    auto h = reinterpret_cast<uintptr_t>(n) >> 4;
    return (h * 0x9E3779B97F4A7C15ull >> 20) & (slots_.size() - 1);
  }
  NodeTask& found(Node* n, uint32_t v) {
    n->task_hint_.store(uint64_t(pass_) << 32 | v, std::memory_order_relaxed);
    return task(v);
  }
  NodeTask& probe(Node* n, bool* fresh) {
    if (2 * (size_t(size_) + 1) > slots_.size()) rehash(slots_.empty() ? 1024 : 2 * slots_.size());
    size_t i = index(n);
    for (;; i = (i + 1) & (slots_.size() - 1)) {
      const uint32_t v = slots_[i];
      if (v == kEmpty) break;
      if (task(v).node == n) {
        if (fresh) *fresh = false;
        return found(n, v);
      }
    }
    const uint32_t v = size_;
    if ((v >> kChunkBits) == chunks_.size())
      chunks_.push_back(std::make_unique<NodeTask[]>(kChunk));
    ++size_;
    slots_[i] = v;
    NodeTask& t = task(v);
    t.node = n;
    t.slot = static_cast<uint32_t>(i);
    if (fresh) *fresh = true;
    return found(n, v);
  }
  void rehash(size_t cap) {
    slots_.assign(cap, kEmpty);
    for (uint32_t v = 0; v < size_; ++v) {
      NodeTask& t = task(v);
      size_t i = index(t.node);
      while (slots_[i] != kEmpty) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = v;
      t.slot = static_cast<uint32_t>(i);
    }
  }
  std::vector<uint32_t> slots_;
  // Tasks by insertion index, kChunk to a chunk: a reference from get() stays valid.
  std::vector<std::unique_ptr<NodeTask[]>> chunks_;
  uint32_t size_ = 0;
  uint32_t pass_ = 0;
};

// The table of the current nesting level on this thread; released (cleared) on scope exit.
class TableLease {
 public:
  TableLease() {
    if (t_tables.size() <= t_depth) t_tables.push_back(std::make_unique<TaskTable>());
    table_ = t_tables[t_depth++].get();
    table_->begin();
  }
  ~TableLease() {
    table_->clear();
    --t_depth;
  }
  TableLease(const TableLease&) = delete;
  TableLease& operator=(const TableLease&) = delete;
  TaskTable& operator*() { return *table_; }

 private:
  static thread_local std::vector<std::unique_ptr<TaskTable>> t_tables;
  static thread_local size_t t_depth;
  TaskTable* table_;
};
thread_local std::vector<std::unique_ptr<TaskTable>> TableLease::t_tables;
thread_local size_t TableLease::t_depth = 0;

// Note [In-place fan-in]: a gradient that only this task holds (one reference, its own storage,
// no history) is summed into in place instead of replaced by a new tensor: for small tensors
// the allocation of the result is most of the cost. Same expression, slot + g, so the same bits
// as add(). Large ones go through add(), which is threaded.
bool sum_in_place(const Tensor& slot, const Tensor& g) {
  constexpr int64_t kMaxElements = int64_t{1} << 14;
  if (GradMode::is_enabled() || slot.use_count() != 1 || slot->storage().use_count() != 1 ||
      slot->requires_grad_ || !slot->is_contiguous() || !g->is_contiguous() ||
      slot->dtype() != g->dtype() || !is_floating(slot->dtype()) || slot->numel() > kMaxElements ||
      slot->shape() != g->shape())
    return false;
  FG_DISPATCH_FLOAT(slot->dtype(), "backward", T, {
    T* out = slot->data<T>();
    const T* in = g->data<T>();
    for (int64_t i = 0, n = slot->numel(); i < n; ++i) out[i] = out[i] + in[i];
  });
  return true;
}

void accumulate(NodeTask& task, uint32_t nr, Tensor g) {
  Tensor& slot = task.slot_of(nr);
  if (!slot) slot = std::move(g);
  else if (!sum_in_place(slot, g)) slot = add(slot, g);
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
void check_anomaly(const Node& node, const GradList& outs) {
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i] || all_finite(outs[i])) continue;
    const std::string& trace = node.creation_trace();
    std::string where =
        trace.empty()
            ? "(its forward ran outside detect_anomaly(), so where it was created is unknown)"
            : "The forward call that created it:\n" + trace;
    throw std::runtime_error(str_cat(
        "detect_anomaly: function '", node.name(), "' returned nan or inf values in its output ", i,
        " (the gradient of input ", i, ", shape ", outs[i]->shape(), "). ", where));
  }
}

// The steps of run_backward, in order; each has a twin of the same name in
// python/fastgrad/reference/engine.py. Each is forced inline, so that run_backward compiles as
// the one function it was: left to GCC's inliner (with LTO), the split cost 39 instructions per
// node of the scalar MLP in _core (callgrind: GradList's release stopped being inlined into the
// loop); forced, 3,772 per node against 3,778 before the split.
#define FG_STEP inline __attribute__((always_inline))

// 1) Dependency counts: tasks.get(n).dependencies = the number of edges into n, by an explicit
// depth-first walk from the roots (nothing recurses: a 10^6-node chain must not overflow).
FG_STEP void count_dependencies(const std::vector<Edge>& root_edges, TaskTable& tasks) {
  std::vector<Node*> stack;
  for (auto& e : root_edges) {
    bool fresh = false;
    tasks.get(e.fn.get(), &fresh);
    if (fresh) stack.push_back(e.fn.get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next_edges_) {
      if (!e.fn) continue;
      bool fresh = false;
      tasks.get(e.fn.get(), &fresh).dependencies++;
      if (fresh) stack.push_back(e.fn.get());
    }
  }
}

// 2) Seeding: each root's gradient (ones for a one-element root given none) goes into its node's
// buffer; the roots that nothing else feeds are queued in `ready`.
FG_STEP void seed_roots(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                        const std::vector<Edge>& root_edges, TaskTable& tasks,
                        std::vector<Node*>& ready) {
  for (size_t i = 0; i < roots.size(); ++i) {
    Tensor g = grad_roots[i];
    if (!g) {
      FG_RUNTIME_CHECK(roots[i]->numel() == 1,
                       "grad can be implicitly created only for scalar outputs; "
                       "pass gradient= for a tensor of shape ",
                       roots[i]->shape());
      g = full(roots[i]->shape(), 1.0, roots[i]->dtype());
    }
    FG_CHECK(g->shape() == roots[i]->shape(), "backward: gradient of shape ", g->shape(),
             " does not match the tensor's shape ", roots[i]->shape());
    Node* n = root_edges[i].fn.get();
    accumulate(tasks.get(n), root_edges[i].input_nr, std::move(g));
  }
  for (auto& e : root_edges) {
    NodeTask& t = tasks.get(e.fn.get());
    if (t.dependencies == 0) {
      t.dependencies = -1;  // queued
      ready.push_back(e.fn.get());
    }
  }
}

// 3a) A ready node's output gradients: its buffer, moved out, zeros for outputs nothing reached,
// then its pre-hooks (Tensor.register_hook on a non-leaf) and retain_grad() bookkeeping.
FG_STEP void input_grads(Node* node, NodeTask& task, bool create_graph,
                         std::vector<Tensor>& grads) {
  grads.clear();
  grads.resize(node->num_outputs());
  if (!grads.empty()) grads[0] = std::move(task.first);
  for (size_t k = 1; task.rest && k < grads.size() && k <= task.rest->size(); ++k) {
    grads[k] = std::move((*task.rest)[k - 1]);
  }
  for (size_t k = 0; k < grads.size(); ++k) {
    if (!grads[k]) grads[k] = full(node->output_meta_[k].shape, 0.0, node->output_meta_[k].dtype);
  }
  if (node->extras_) {
    for (auto& [nr, hook] : node->extras_->pre_hooks) {
      Tensor r = hook(grads[nr]);
      if (r) grads[nr] = r;
    }
    // retain: the .grad of outputs that asked for retain_grad().
    for (auto& [nr, weak] : node->extras_->retained) {
      if (auto t = weak.lock()) {
        t->grad_ = t->grad_ ? add(t->grad_, grads[nr])
                            : (create_graph ? grads[nr] : clone(grads[nr]));
      }
    }
  }
}

// 3b) grad(): the gradient arriving at an input's edge is captured. True when the node is not to
// be run: a leaf's accumulator, whose .grad grad() leaves alone.
FG_STEP bool capture(Node* node, const std::vector<Tensor>& grads,
                     const std::vector<Edge>& input_edges, std::vector<Tensor>& captured) {
  bool skip = false;
  for (size_t i = 0; i < input_edges.size(); ++i) {
    if (input_edges[i].fn.get() == node) {
      captured[i] = grads[input_edges[i].input_nr];
      if (dynamic_cast<AccumulateGrad*>(node)) skip = true;
    }
  }
  if (!skip && dynamic_cast<AccumulateGrad*>(node)) skip = true;
  return skip;
}

// 3c) Evaluates one node: its rule on its output gradients, one gradient per input (into the
// loop's `outs`, as before the split); then frees what it saved unless the graph is kept.
FG_STEP void evaluate(Node* node, std::vector<Tensor>& grads, bool keep_graph, bool anomaly,
                      GradList& outs) {
  FG_RUNTIME_CHECK(!node->released_,
                   "Trying to backward through the graph a second time (or to read saved "
                   "tensors after they were freed) in ",
                   node->name(),
                   ". Saved tensors are freed after backward; pass retain_graph=True to the "
                   "first backward if you need to backward twice.");
  outs = node->apply(grads);
  if (anomaly) check_anomaly(*node, outs);
  if (!keep_graph) node->release_saved();
}

// 3d) Routes a node's input gradients along its edges: summed to the input's shape (undoing
// broadcasting) and cast to its dtype, accumulated into the next node's buffer; a next node
// whose last dependency this was is queued.
FG_STEP void route_gradients(Node* node, GradList& outs, TaskTable& tasks,
                             std::vector<Node*>& ready) {
  for (size_t i = 0; i < node->next_edges_.size(); ++i) {
    const Edge& e = node->next_edges_[i];
    if (!e.fn) continue;
    NodeTask& t = tasks.get(e.fn.get());
    Tensor g = i < outs.size() ? std::move(outs[i]) : nullptr;
    if (g) {
      const TensorMeta& m = e.fn->output_meta_[e.input_nr];  // the input's (Node::input_meta)
      if (g->shape() != m.shape) g = sum_to(g, m.shape);
      if (g->dtype() != m.dtype) g = to_dtype(g, m.dtype);
      accumulate(t, e.input_nr, std::move(g));
    }
    if (--t.dependencies == 0) ready.push_back(e.fn.get());
  }
}

// 4) grad(): every input must have received a gradient unless allow_unused.
FG_STEP void check_captured(const std::vector<Tensor>& captured, bool allow_unused) {
  for (size_t i = 0; i < captured.size(); ++i) {
    FG_RUNTIME_CHECK(captured[i] || allow_unused, "grad: input ", i,
                     " was not used in the graph; pass allow_unused=True to get None for it");
  }
}

#undef FG_STEP

}  // namespace

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& grad_roots, bool keep_graph,
                                 bool create_graph, const std::vector<Tensor>& inputs,
                                 bool allow_unused) {
  FG_ASSERT(roots.size() == grad_roots.size(), "roots and grad_roots differ in length");
  TableLease lease;
  TaskTable& tasks = *lease;
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    FG_RUNTIME_CHECK(r && r->requires_grad_, "element ", i,
                     " of tensors does not require grad and does not have a grad_fn");
    root_edges.push_back(gradient_edge(r));
  }

  // Inputs of fastgrad.grad(): the gradient arriving at each one's edge is captured.
  const bool capturing = !inputs.empty();
  std::vector<Edge> input_edges;
  for (size_t i = 0; i < inputs.size(); ++i) {
    FG_RUNTIME_CHECK(inputs[i] && inputs[i]->requires_grad_, "grad: input ", i,
                     " does not require grad");
    input_edges.push_back(gradient_edge(inputs[i]));
  }
  std::vector<Tensor> captured(inputs.size());

  count_dependencies(root_edges, tasks);
  std::vector<Node*> ready;
  seed_roots(roots, grad_roots, root_edges, tasks, ready);

  // 3) Run each node once all the nodes that feed it have run.
  AutoGradMode mode(create_graph);
  const bool anomaly = AnomalyMode::is_enabled();
  std::vector<Tensor> grads;
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    input_grads(node, tasks.get(node), create_graph, grads);
    const bool skip = capturing && capture(node, grads, input_edges, captured);
    GradList outs;
    if (!skip) evaluate(node, grads, keep_graph, anomaly, outs);
    grads.clear();
    route_gradients(node, outs, tasks, ready);
  }

  if (capturing) check_captured(captured, allow_unused);
  return captured;
}

}  // namespace fastgrad
