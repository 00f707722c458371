// Flat indexing ops: take (gather at flat positions, the backend of advanced indexing) and
// put_add (scatter-add, its gradient); forward and rule side by side, each the other's rule.
// The loops are in kernels/index.cpp; positions are all checked here, before any of them runs.
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/index.h"
#include "tensor/map.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// pos as a contiguous int64 tensor whose entries all lie in [-n, n).
Tensor checked_positions(const char* op, const Tensor& pos, int64_t n) {
  FG_TYPE_CHECK(pos->dtype() == DType::Int64, op, ": positions must be int64, got ",
                dtype_name(pos->dtype()));
  Tensor p;
  {
    AutoGradMode no_grad(false);
    p = contiguous(pos);
  }
  const int64_t* pp = p->data<int64_t>();
  const int64_t bad = first_out_of_range(p->numel(), n, pp);
  FG_INDEX_CHECK(bad < 0, op, ": index ", bad < 0 ? 0 : pp[bad],
                 " is out of bounds for a tensor of ", n, " elements");
  return p;
}

}  // namespace

static GradList take_rule(FnNode& n, const Grads& g);
Tensor take(const Tensor& x, const Tensor& pos) {
  Tensor p = checked_positions("take", pos, x->numel());
  const int64_t m = p->numel();
  Tensor out = empty(p->shape(), x->dtype());
  FG_DISPATCH_ALL(x->dtype(), T, {
    if (x->is_contiguous()) {
      gather_flat<T>(m, x->numel(), x->data<T>(), p->data<int64_t>(), out->data<T>());
    } else {
      gather_strided<T>(m, x->dim(), x->shape().data(), x->strides().data(), x->data<T>(),
                        p->data<int64_t>(), out->data<T>());
    }
  });
  if (auto n = make_fn_node("TakeBackward", take_rule, {x, pos}, {out})) n->save(pos);
  return out;
}
// saved(0) is pos; the positions' own gradient is always None (here and in put_add).
static GradList take_rule(FnNode& n, const Grads& g) {
  return {put_add(g[0], n.saved(0), n.input_meta(0).shape), nullptr};
}

static GradList put_add_rule(FnNode& n, const Grads& g);
Tensor put_add(const Tensor& src, const Tensor& pos, const Shape& shape) {
  for (int64_t d : shape) FG_CHECK(d >= 0, "put_add: negative dimension in shape ", shape);
  const int64_t numel = shape_numel(shape);
  Tensor p = checked_positions("put_add", pos, numel);
  bool fits = src->dim() <= pos->dim();
  for (int64_t i = 1; fits && i <= src->dim(); ++i) {
    const int64_t have = src->shape()[src->dim() - i], want = pos->shape()[pos->dim() - i];
    fits = have == 1 || have == want;
  }
  FG_CHECK(fits, "put_add: cannot broadcast a source of shape ", src->shape(),
           " to positions of shape ", pos->shape());
  Tensor s = src;
  if (src->shape() != p->shape() || !src->is_contiguous()) {
    s = empty(p->shape(), src->dtype());
    copy_into(s, src);
  }
  Tensor out = full(shape, 0.0, src->dtype());
  FG_DISPATCH_ALL(src->dtype(), T, {
    scatter_add_flat<T>(p->numel(), numel, s->data<T>(), p->data<int64_t>(), out->data<T>());
  });
  if (auto n = make_fn_node("PutAddBackward", put_add_rule, {src, pos}, {out})) n->save(pos);
  return out;
}
static GradList put_add_rule(FnNode& n, const Grads& g) {
  return {take(g[0], n.saved(0)), nullptr};
}

}  // namespace fastgrad
