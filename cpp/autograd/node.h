// The graph: Node (one backward function), Edge {node, input_nr}, SavedTensor, AccumulateGrad
// (the leaf sink) and FnNode (a node whose rule is a lambda written with differentiable ops).
// The engine that runs nodes is in engine.cpp.
#pragma once
#include <atomic>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/small_vec.h"
#include "tensor/tensor.h"

namespace fastgrad {

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

struct TensorMeta {
  Shape shape;
  DType dtype;
};

// Note [Saved tensors]: an input is saved as itself; an output is saved as a detached alias
// (this node is re-attached as its grad_fn on unpack, from weak_from_this(): a strong pointer
// would be a cycle node -> output -> grad_fn == node). release_saved() drops them after backward
// unless retain_graph; unpacking after that raises.
// Note [Compact saved scalars]: a 0-d non-leaf input, or a 0-d output, is saved as its Storage
// alone (plus offset and dtype); its TensorImpl is rebuilt on unpack, with the grad_fn and output
// number it had (an input's come from its next edge, an output's from this node). Saving the
// TensorImpl itself kept it alive for the graph's lifetime: in a chain of scalar ops that was
// 290 of the ~900 bytes each op cost. The storage keeps the version counter (Note [Version
// counter]), so an in-place change after saving is still refused on unpack.
struct SavedTensor {
  enum Kind : uint8_t { kTensor = 0, kInput0d = 1, kOutput0d = 2 };
  static constexpr uint32_t kMaxIndex = (1u << 20) - 1;
  std::shared_ptr<void> ref;  // the TensorImpl (kTensor) or its Storage (the 0-d kinds)
  int64_t saved_version = 0;
  uint32_t offset = 0;  // 0-d kinds: the element's offset in the storage
  // kInput0d: the next edge it came through; outputs: the output number.
  uint32_t index : 20;
  uint32_t kind : 2;
  uint32_t is_output : 1;
  uint32_t dtype : 8;  // 0-d kinds: a DType
  SavedTensor() : index(0), kind(kTensor), is_output(0), dtype(0) {}
  TensorImpl* tensor() const {
    return kind == kTensor ? static_cast<TensorImpl*>(ref.get()) : nullptr;
  }
};

// What a backward function returns: one gradient per forward input, null for "no gradient".
// Two are kept inline. Built from a braced list by moving its elements, so `return {ga, gb};`
// costs no allocation and no reference-count traffic (a std::vector copies an initializer list:
// a malloc per node and two atomic updates per gradient).
class GradList : public SmallVec<Tensor, 2> {
 public:
  GradList() = default;
  explicit GradList(size_t n) {
    reserve(n);
    for (size_t i = 0; i < n; ++i) emplace_back();
  }
  template <class... A,
            class = std::enable_if_t<(sizeof...(A) > 0) &&
                                     (std::is_constructible<Tensor, A&&>::value && ...)>>
  GradList(A&&... grads) {  // NOLINT: implicit, for `return {ga, gb};`
    reserve(sizeof...(A));
    (emplace_back(std::forward<A>(grads)), ...);
  }
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // grads[i] is the gradient of forward output i (never null: the engine fills zeros).
  // Returns one gradient per forward input, in the output's broadcast shape or the input's shape
  // (the engine reduces with sum_to); nullptr means "no gradient".
  virtual GradList apply(std::vector<Tensor>& grads) = 0;
  virtual std::string name() const = 0;
  virtual void release_saved();

  static int64_t live_count();  // nodes alive in the process (leak tests)
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }
  size_t num_outputs() const { return output_meta_.size(); }

  // Saving for backward (see Note [Saved tensors]).
  void save(const Tensor& t, bool is_output = false);
  Tensor saved(size_t i);
  size_t num_saved() const { return saved_.size(); }
  void reserve_saved(size_t n) { saved_.reserve(n); }

  // Inline for the one- and two-input ops nearly every node is (small_vec.h).
  SmallVec<Edge, 2> next_edges_;
  SmallVec<TensorMeta, 1> output_meta_;
  // Shape and dtype of forward input i, which requires grad (its edge is valid): the output
  // metadata of the node its edge leads to. Not stored per node (Note [Compact saved scalars]
  // has the memory figures): that node recorded it when it made the tensor, an AccumulateGrad
  // when it was made for the leaf.
  const TensorMeta& input_meta(size_t i) const {
    const Edge& e = next_edges_[i];
    FG_ASSERT(e.fn, "input_meta: input ", i, " of ", name(), " does not require grad");
    return e.fn->output_meta_[e.input_nr];
  }
  bool released_ = false;
  // Where this node's task is in the backward pass that last looked it up (engine.cpp, Note
  // [Task table]): pass id << 32 | index. Only a hint.
  std::atomic<uint64_t> task_hint_{0};
  // The first forward output, weakly (fastgrad.viz labels edges with its value).
  std::weak_ptr<TensorImpl> output0_;
  // What only some nodes need, allocated on first use so that a node stays small.
  struct Extras {
    std::string creation_trace;  // where the forward op was called (anomaly mode only)
    std::vector<std::weak_ptr<TensorImpl>> more_outputs;  // outputs 1.., weakly
    std::vector<Tensor> kept_outputs;  // detached aliases (KeepOutputsMode only: no cycle)
    // Hooks on the gradient of output `first` (Tensor.register_hook on a non-leaf), and outputs
    // whose gradient is kept in .grad (retain_grad).
    std::vector<std::pair<uint32_t, Hook>> pre_hooks;
    std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained;
  };
  std::unique_ptr<Extras> extras_;
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }
  const std::string& creation_trace() const;
  // Forward output i if it is alive or kept, else null.
  Tensor output(size_t i) const;

 protected:
  SmallVec<SavedTensor, 2> saved_;
};

// The sink of a leaf that requires grad: runs the leaf's hooks, then accumulates into .grad.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(Tensor variable);
  GradList apply(std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  // A leaf's accumulator is shared by every graph that uses the leaf: backward through one graph
  // must not mark it released for the others.
  void release_saved() override {}
  Tensor variable;
};

class FnNode;
using Rule = GradList (*)(FnNode&, const std::vector<Tensor>&);

// A node whose backward is a plain function of (node, output grads). Scalar parameters the rule
// needs live in ints()/floats()/shape() (set by the op), tensors in saved_.
class FnNode : public Node {
 public:
  FnNode(const char* name, Rule rule) : name_(name), rule_(rule) {}
  GradList apply(std::vector<Tensor>& grads) override { return rule_(*this, grads); }
  std::string name() const override { return name_; }
  // Out of line: most ops (every elementwise one) need none of them, and a graph of 10^6 nodes
  // pays for every byte a node has.
  std::vector<int64_t>& ints() { return params().ints; }
  std::vector<double>& floats() { return params().floats; }
  Shape& shape() { return params().shape; }

 private:
  struct Params {
    std::vector<int64_t> ints;
    std::vector<double> floats;
    Shape shape;
  };
  Params& params() {
    if (!params_) params_ = std::make_unique<Params>();
    return *params_;
  }
  std::unique_ptr<Params> params_;
  const char* name_;
  Rule rule_;
};

// True when grad mode is on and any input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);
// The edge a gradient for `t` flows into: its grad_fn, or its leaf accumulator, or invalid.
Edge gradient_edge(const Tensor& t);
// Connects `node` to `inputs` (next edges and metadata) and makes it the grad_fn of `outputs`.
void set_history(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& outputs);

// A differentiable in-place op wrote `src` (computed out of place) into `dst`'s memory: `dst`
// takes over src's history (grad_fn and output number).
void rebase_history(const Tensor& dst, const Tensor& src);

// Convenience for ops: returns a FnNode wired to inputs/outputs when grad is needed, else null.
std::shared_ptr<FnNode> make_fn_node(const char* name, Rule rule, const std::vector<Tensor>& inputs,
                                     const std::vector<Tensor>& outputs);
// A braced-list element that refers to a Tensor instead of copying it: a copy of a shared_ptr is
// an atomic increment and, when the list dies, an atomic decrement, about 20 cycles each.
// (A temporary bound here lives until the end of the call that receives the list.)
class TensorRef {
 public:
  TensorRef(const Tensor& t) : t_(&t) {}  // NOLINT: implicit, for braced lists
  operator const Tensor&() const { return *t_; }  // NOLINT
 private:
  const Tensor* t_;
};

// The same for braced lists, make_fn_node("MulBackward", mul_rule, {a, b}, {out}): no vectors,
// no reference counting.
std::shared_ptr<FnNode> make_fn_node(const char* name, Rule rule,
                                     std::initializer_list<TensorRef> inputs,
                                     std::initializer_list<TensorRef> outputs);

}  // namespace fastgrad
