// Storage (aligned, refcounted, may borrow foreign memory such as a NumPy array) and TensorImpl
// (shape, strides in elements, dtype, offset, plus autograd metadata). A Tensor is a
// shared_ptr<TensorImpl>; nullptr stands for "undefined" (no gradient). No math here.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "tensor/check.h"
#include "tensor/dtype.h"

namespace fastgrad {

class Node;
class AccumulateGrad;
class TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;
using Hook = std::function<Tensor(const Tensor&)>;  // returns nullptr to keep the gradient

struct Storage {
  Storage() = default;
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  int64_t nbytes = 0;
  // Note [Version counter]: shared by every view of this storage; in-place ops bump it. A saved
  // tensor records it when saved and Node::saved() refuses to unpack it if it has changed.
  std::atomic<int64_t> version{0};
  // Set once a view op (reshape, permute, expand, slice) aliases this memory: an in-place op
  // recorded by autograd on it would bypass the other alias's history, so it is refused.
  std::atomic<bool> has_views{false};
  // A buffer of the caching allocator, of round_size(nbytes) bytes, which the storage hands back
  // itself (no second control block per tensor); false for inline or foreign memory.
  bool owns_buffer = false;
};

// Memory owned by someone else (a NumPy array), kept alive by `holder` (a subclass, so that
// fastgrad's own storages, a 0-d tensor's above all, do not carry the 16 bytes).
struct ForeignStorage : Storage {
  std::shared_ptr<void> holder;
};
std::shared_ptr<Storage> foreign_storage(std::shared_ptr<void> holder, void* data, int64_t nbytes);

// Allocates `nbytes` of memory, 64-byte aligned from kInlineBytes + 1 bytes on and 8-byte aligned
// below (see Note [Inline storage]); throws std::bad_alloc (MemoryError) on failure.
constexpr int64_t kInlineBytes = 8;
std::shared_ptr<Storage> allocate_storage(int64_t nbytes);

int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class TensorImpl {
 public:
  TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape, Shape strides,
             DType dtype);
  ~TensorImpl();
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  static int64_t live_count();  // tensors alive in the process (leak tests)

  // Data.
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  int64_t offset() const { return offset_; }
  bool is_contiguous() const { return contiguous_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  char* raw() const { return static_cast<char*>(storage_->data) + offset_ * itemsize(dtype_); }
  template <class T> T* data() const { return reinterpret_cast<T*>(raw()); }
  int64_t version() const { return storage_->version.load(); }
  void bump_version() { storage_->version.fetch_add(1); }
  // Takes src's storage and geometry (Tensor.data = src); autograd metadata stays as it is.
  void set_data(const TensorImpl& src);

  // Autograd metadata. A tensor requires grad if it is a leaf with requires_grad_ set, or if it
  // has a grad_fn (then requires_grad_ is set too).
  bool requires_grad_ = false;
  bool retains_grad_ = false;
  std::shared_ptr<Node> grad_fn_;
  uint32_t output_nr_ = 0;
  Tensor grad_;
  std::weak_ptr<AccumulateGrad> grad_accumulator_;
  // Leaf hooks, allocated by the first registration: every tensor had carried their two empty
  // vectors (48 bytes; a graph's intermediates never have any).
  struct LeafHooks {
    std::vector<Hook> hooks;  // a non-leaf's hooks live on its grad_fn
    // Called with the leaf after its .grad was accumulated (return value ignored):
    // Tensor.register_post_accumulate_grad_hook.
    std::vector<Hook> post_acc;
  };
  std::unique_ptr<LeafHooks> leaf_hooks_;
  std::vector<Hook>& hooks() { return leaf_hooks().hooks; }
  std::vector<Hook>& post_acc_hooks() { return leaf_hooks().post_acc; }
  LeafHooks& leaf_hooks() {
    if (!leaf_hooks_) leaf_hooks_ = std::make_unique<LeafHooks>();
    return *leaf_hooks_;
  }

  bool requires_grad() const { return requires_grad_; }
  bool is_leaf() const { return grad_fn_ == nullptr; }

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_;
  Shape shape_, strides_;
  DType dtype_;
  int64_t numel_;
  bool contiguous_;
};

// Called by ~TensorImpl when the tensor has a grad_fn (autograd/node.cpp): the node stops
// pointing at it weakly, so that the tensor's memory is freed now.
void forget_output(TensorImpl& t);

// A fresh contiguous tensor (memory not initialised).
Tensor empty(const Shape& shape, DType dtype);
// A view of `base`'s memory with new geometry; no autograd metadata.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// Same memory, no autograd metadata (Tensor.detach()).
Tensor detach(const Tensor& t);

}  // namespace fastgrad
