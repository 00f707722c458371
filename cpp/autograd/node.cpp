// Node bookkeeping: saved tensors, wiring a node into the graph, the leaf accumulator, grad mode,
// and destruction without recursion (see Note [Non-recursive node destruction]).
#include "autograd/node.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/pool.h"
#include "tensor/tls.h"

namespace fastgrad {

// One thread-local struct for every mode flag: code built with -fPIC pays a call to
// __tls_get_addr per thread-local it touches, and node creation reads all three.
namespace {
struct Modes {
  bool grad = true;
  bool anomaly = false;
  bool keep_outputs = false;
};
thread_local Modes t_modes;
}  // namespace
bool GradMode::is_enabled() { return t_modes.grad; }
void GradMode::set_enabled(bool enabled) { t_modes.grad = enabled; }

static AnomalyMode::TraceFn g_trace_fn = nullptr;
bool AnomalyMode::is_enabled() { return t_modes.anomaly; }
void AnomalyMode::set_enabled(bool enabled) { t_modes.anomaly = enabled; }
void AnomalyMode::set_trace_fn(TraceFn fn) { g_trace_fn = fn; }
std::string AnomalyMode::trace() { return g_trace_fn ? g_trace_fn() : std::string(); }
bool KeepOutputsMode::is_enabled() { return t_modes.keep_outputs; }
void KeepOutputsMode::set_enabled(bool enabled) { t_modes.keep_outputs = enabled; }

static std::atomic<int64_t> g_live_nodes{0};
int64_t Node::live_count() { return g_live_nodes.load(); }

Node::Node() { g_live_nodes.fetch_add(1, std::memory_order_relaxed); }

// Note [Non-recursive node destruction]: a chain of 10^6 nodes would overflow the C stack if each
// node's destructor destroyed the next one. Instead a node hands every node it owns exclusively
// (through next edges or through saved inputs' grad_fn) to a thread-local list, and only the
// outermost destructor empties that list, one node at a time.
namespace {
struct Pending {
  std::vector<std::shared_ptr<Node>> nodes;
  bool draining = false;
};
thread_local Pending t_pending;
// The address once per destructor, not after every call in the loops below (tensor/tls.h).
inline Pending& pending() { return *tls_address(t_pending); }

void steal(Pending& p, std::shared_ptr<Node>& fn) {
  if (fn && fn.use_count() == 1) p.nodes.push_back(std::move(fn));
}

// A reference the list drops later, whether or not it is the last: in a chain of n-d ops a node's
// next edge and its saved input's grad_fn hold the same node, neither was the last when the other
// was looked at, and a 10^5-node chain dropped without backward recursed through the member
// destructors until the stack overflowed.
void hand_over(Pending& p, std::shared_ptr<Node>& fn) {
  if (fn) p.nodes.push_back(std::move(fn));
}

void drain(Pending& p) {
  if (p.draining) return;
  p.draining = true;
  while (!p.nodes.empty()) {
    std::shared_ptr<Node> n = std::move(p.nodes.back());
    p.nodes.pop_back();
    n.reset();  // its destructor appends what it owned
  }
  p.draining = false;
}
}  // namespace

Node::~Node() {
  g_live_nodes.fetch_sub(1, std::memory_order_relaxed);
  Pending& p = pending();
  // A saved input's grad_fn is usually also a next edge's node: both references go to the list
  // (neither is the last while the other is held), which then drops them.
  bool handed = false;
  for (auto& s : saved_) {
    if (TensorImpl* t = s.tensor(); t && t->grad_fn_ && s.ref.use_count() == 1) {
      hand_over(p, t->grad_fn_);
      handed = true;
    }
  }
  for (auto& e : next_edges_) {
    if (handed) hand_over(p, e.fn);
    else steal(p, e.fn);
  }
  drain(p);
}

void Node::release_saved() {
  // Their grad_fns are taken first so that destroying them is not recursive (the list drains in
  // ~Node order).
  Pending& p = pending();
  for (auto& s : saved_) {
    if (TensorImpl* t = s.tensor(); t && s.ref.use_count() == 1) steal(p, t->grad_fn_);
  }
  saved_.clear();
  drain(p);
  released_ = true;
}

void Node::save(const Tensor& t, bool is_output) {
  SavedTensor& s = saved_.emplace_back();
  if (!t) return;
  s.saved_version = t->version();
  s.is_output = is_output;
  FG_ASSERT(!is_output || t->output_nr_ <= SavedTensor::kMaxIndex, "save: output ", t->output_nr_,
            " of ", name(), " is past the ", SavedTensor::kMaxIndex, " that fit");
  // Note [Compact saved scalars].
  if (t->dim() == 0 && static_cast<uint64_t>(t->offset()) <= UINT32_MAX) {
    if (is_output) {
      s.kind = SavedTensor::kOutput0d;
      s.index = t->output_nr_;
    } else if (t->grad_fn_) {
      for (size_t k = 0; k < next_edges_.size() && k <= SavedTensor::kMaxIndex; ++k) {
        if (next_edges_[k].fn == t->grad_fn_ && next_edges_[k].input_nr == t->output_nr_) {
          s.kind = SavedTensor::kInput0d;
          s.index = static_cast<uint32_t>(k);
          break;
        }
      }
    }
    if (s.kind != SavedTensor::kTensor) {
      s.ref = t->storage();
      s.offset = static_cast<uint32_t>(t->offset());
      s.dtype = static_cast<uint8_t>(t->dtype());
      return;
    }
  }
  if (is_output) {
    s.ref = detach(t);
    s.index = t->output_nr_;
  } else {
    s.ref = t;
  }
}

Tensor Node::saved(size_t i) {
  FG_RUNTIME_CHECK(!released_,
                   "Trying to backward through the graph a second time (or to read saved tensors "
                   "after they were freed) in ",
                   name(),
                   ". Saved tensors are freed after backward; pass retain_graph=True to the first "
                   "backward if you need to backward twice.");
  FG_ASSERT(i < saved_.size(), "saved tensor index out of range in ", name());
  SavedTensor& s = saved_[i];
  if (!s.ref) return nullptr;
  const bool compact = s.kind != SavedTensor::kTensor;
  Storage* st = compact ? static_cast<Storage*>(s.ref.get()) : s.tensor()->storage().get();
  // See Note [Version counter]: an in-place op on a saved tensor would make this rule silently
  // use the new values, so refuse. One atomic load per unpack.
  if (const int64_t v = st->version.load(); v != s.saved_version) {
    Shape shape = compact ? Shape() : s.tensor()->shape();
    throw std::runtime_error(str_cat(
        "one of the variables needed for gradient computation has been modified by an in-place "
        "operation: saved tensor ",
        i, " of ", name(), " (shape ", shape, ") is at version ", v, "; expected version ",
        s.saved_version,
        " instead. Use the out-of-place op, or clone() the tensor before modifying it."));
  }
  if (!compact && !s.is_output) return std::static_pointer_cast<TensorImpl>(s.ref);
  Tensor t = compact ? pool::make<TensorImpl>(std::static_pointer_cast<Storage>(s.ref), s.offset,
                                              Shape(), Shape(), static_cast<DType>(s.dtype))
                     : nullptr;
  if (!GradMode::is_enabled()) return compact ? t : std::static_pointer_cast<TensorImpl>(s.ref);
  // Re-attach the history: an output gets this node as its grad_fn (so create_graph
  // differentiates through it), a compact input the one it had (its next edge).
  std::shared_ptr<Node> fn;
  uint32_t nr = s.index;
  if (s.is_output) {
    fn = weak_from_this().lock();
  } else {
    const Edge& e = next_edges_[s.index];
    fn = e.fn;
    nr = e.input_nr;
  }
  if (!fn) return compact ? t : std::static_pointer_cast<TensorImpl>(s.ref);
  if (!compact) t = detach(std::static_pointer_cast<TensorImpl>(s.ref));
  t->grad_fn_ = std::move(fn);
  t->output_nr_ = nr;
  t->requires_grad_ = true;
  return t;
}

AccumulateGrad::AccumulateGrad(Tensor v) : variable(std::move(v)) {
  output_meta_.push_back({variable->shape(), variable->dtype()});
}

GradList AccumulateGrad::apply(std::vector<Tensor>& grads) {
  Tensor g = grads[0];
  if (variable->leaf_hooks_) {
    for (auto& h : variable->leaf_hooks_->hooks) {
      Tensor r = h(g);
      if (r) g = r;
    }
  }
  if (!g) return {};
  const bool build_graph = GradMode::is_enabled();
  Tensor& acc = variable->grad_;
  if (!acc) {
    // Own the buffer unless a graph is being built through it. See Note [Grad buffer ownership].
    if (build_graph) {
      acc = g;
    } else if (g.use_count() <= 2 && g->storage().use_count() == 1 && g->is_contiguous()) {
      acc = detach(g);
    } else {
      acc = clone(detach(g));
    }
  } else if (build_graph) {
    acc = add(acc, g);
  } else {
    AutoGradMode no_grad(false);
    Tensor sum_ = add(acc, g);
    copy_(acc, sum_);
  }
  // Tensor.register_post_accumulate_grad_hook: after .grad holds this gradient.
  if (variable->leaf_hooks_) {
    for (auto& h : variable->leaf_hooks_->post_acc) h(variable);
  }
  return {};
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (*t && (*t)->requires_grad_) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t && t->requires_grad_) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t) return {};
  if (t->grad_fn_) return {t->grad_fn_, t->output_nr_};
  if (!t->requires_grad_) return {};
  auto acc = t->grad_accumulator_.lock();
  if (!acc) {
    acc = pool::make<AccumulateGrad>(t);
    t->grad_accumulator_ = acc;
  }
  return {acc, 0};
}

namespace {

// set_history for any container of inputs and outputs (vectors from bindings, braced lists from
// ops: those cost no allocation).
template <class In, class Out>
void set_history_of(const std::shared_ptr<Node>& node, const In& inputs, const Out& outputs,
                    Modes modes = t_modes) {
  node->next_edges_.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    node->next_edges_.push_back(t && t->requires_grad_ ? gradient_edge(t) : Edge{});
  }
  if (modes.anomaly) node->extras().creation_trace = AnomalyMode::trace();
  const bool keep = modes.keep_outputs;
  uint32_t nr = 0;
  for (const Tensor& o : outputs) {
    node->output_meta_.push_back({o->shape(), o->dtype()});
    o->grad_fn_ = node;
    if (nr == 0) node->output0_ = o;
    else node->extras().more_outputs.push_back(o);
    if (keep) node->extras().kept_outputs.push_back(detach(o));
    o->output_nr_ = nr++;
    o->requires_grad_ = true;
  }
}

}  // namespace

void set_history(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& outputs) {
  set_history_of(node, inputs, outputs);
}

// Called by ~TensorImpl for a tensor with history: the node's weak pointer to it (output0_ or
// more_outputs) would otherwise keep the dead tensor's memory (one block with its control block)
// until the node dies; a chain of scalar ops paid ~290 bytes per op for it. Only an expired
// pointer is reset: after rebase_history it may name another, live, tensor.
void forget_output(TensorImpl& t) {
  Node* n = t.grad_fn_.get();
  const uint32_t nr = t.output_nr_;
  if (nr == 0) {
    if (n->output0_.expired()) n->output0_.reset();
  } else if (n->extras_ && nr <= n->extras_->more_outputs.size()) {
    auto& w = n->extras_->more_outputs[nr - 1];
    if (w.expired()) w.reset();
  }
}

const std::string& Node::creation_trace() const {
  static const std::string none;
  return extras_ ? extras_->creation_trace : none;
}

Tensor Node::output(size_t i) const {
  Tensor t;
  if (i == 0) t = output0_.lock();
  else if (extras_ && i <= extras_->more_outputs.size()) t = extras_->more_outputs[i - 1].lock();
  if (!t && extras_ && i < extras_->kept_outputs.size()) t = extras_->kept_outputs[i];
  return t;
}

void rebase_history(const Tensor& dst, const Tensor& src) {
  FG_ASSERT(src->grad_fn_, "rebase_history: the source has no history");
  dst->grad_fn_ = src->grad_fn_;
  dst->output_nr_ = src->output_nr_;
  dst->requires_grad_ = true;
  if (src->output_nr_ == 0) dst->grad_fn_->output0_ = dst;
}

namespace {

template <class In, class Out>
std::shared_ptr<FnNode> make_fn_node_of(const char* name, Rule rule, const In& inputs,
                                        const Out& outputs) {
  const Modes modes = t_modes;  // a copy: GCC recomputes a thread-local's address after each call
  if (!modes.grad) return nullptr;
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t && t->requires_grad_);
  if (!any) return nullptr;
  auto node = pool::make<FnNode>(name, rule);
  node->reserve_saved(inputs.size());  // most rules save their inputs: one allocation, not two
  set_history_of(node, inputs, outputs, modes);
  return node;
}

}  // namespace

std::shared_ptr<FnNode> make_fn_node(const char* name, Rule rule, const std::vector<Tensor>& inputs,
                                     const std::vector<Tensor>& outputs) {
  return make_fn_node_of(name, rule, inputs, outputs);
}

std::shared_ptr<FnNode> make_fn_node(const char* name, Rule rule,
                                     std::initializer_list<TensorRef> inputs,
                                     std::initializer_list<TensorRef> outputs) {
  return make_fn_node_of(name, rule, inputs, outputs);
}

}  // namespace fastgrad
