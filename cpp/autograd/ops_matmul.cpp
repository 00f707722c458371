// Matrix multiply (not yet written).
#include "autograd/ops.h"

namespace fastgrad {
Tensor matmul(const Tensor&, const Tensor&) { throw std::logic_error("matmul: not implemented yet"); }
}  // namespace fastgrad
