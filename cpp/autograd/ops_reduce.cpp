// Reductions (not yet written; each throws until its family lands).
#include "autograd/ops.h"

namespace fastgrad {
#define FG_TODO(name) throw std::logic_error(name ": not implemented yet")
Tensor sum(const Tensor&, const std::vector<int64_t>&, bool) { FG_TODO("sum"); }
Tensor amax(const Tensor&, const std::vector<int64_t>&, bool) { FG_TODO("amax"); }
Tensor amin(const Tensor&, const std::vector<int64_t>&, bool) { FG_TODO("amin"); }
Tensor argmax(const Tensor&, std::optional<int64_t>, bool) { FG_TODO("argmax"); }
Tensor argmin(const Tensor&, std::optional<int64_t>, bool) { FG_TODO("argmin"); }
Tensor softmax(const Tensor&, int64_t) { FG_TODO("softmax"); }
Tensor log_softmax(const Tensor&, int64_t) { FG_TODO("log_softmax"); }
Tensor sum_to(const Tensor&, const Shape&) { FG_TODO("sum_to"); }
}  // namespace fastgrad
