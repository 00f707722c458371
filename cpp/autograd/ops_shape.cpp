// Shape ops (not yet written; each throws until its family lands).
#include "autograd/ops.h"

namespace fastgrad {
#define FG_TODO(name) throw std::logic_error(name ": not implemented yet")
Tensor reshape(const Tensor&, const Shape&) { FG_TODO("reshape"); }
Tensor permute(const Tensor&, const std::vector<int64_t>&) { FG_TODO("permute"); }
Tensor expand(const Tensor&, const Shape&) { FG_TODO("expand"); }
Tensor slice(const Tensor&, int64_t, int64_t, int64_t, int64_t) { FG_TODO("slice"); }
Tensor cat(const std::vector<Tensor>&, int64_t) { FG_TODO("cat"); }
Tensor slice_backward(const Tensor&, const Shape&, int64_t, int64_t, int64_t, int64_t) { FG_TODO("slice_backward"); }
Tensor take(const Tensor&, const Tensor&) { FG_TODO("take"); }
Tensor put_add(const Tensor&, const Tensor&, const Shape&) { FG_TODO("put_add"); }
}  // namespace fastgrad
