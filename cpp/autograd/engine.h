// The backward engine: dependency counts, a ready stack, per-node gradient buffers; no recursion.
#pragma once
#include <vector>

#include "autograd/node.h"

namespace fastgrad {

// Runs backward from `roots` seeded with `grad_roots` (same length; a null seed means ones for a
// one-element root). With `inputs` empty, gradients accumulate into leaves' .grad; otherwise the
// gradients reaching `inputs` are returned (fastgrad.grad) and .grad is left alone.
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& grad_roots, bool keep_graph,
                                 bool create_graph, const std::vector<Tensor>& inputs,
                                 bool allow_unused);

}  // namespace fastgrad
