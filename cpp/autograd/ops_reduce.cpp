// Reductions and softmax: forward (kernels/reduce.cpp) and derivative rule side by side. Rules are
// vector-Jacobian products written with differentiable ops from ops.h, so create_graph works.
// A strided input is read in place when its kept and reduced dims collapse to one (O, R, I)
// layout with a unit stride; any other layout is copied to contiguous memory first.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "autograd/ops.h"
#include "kernels/reduce.h"
#include "tensor/map.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// dims -> a mask over x's dims (empty dims = all). A 0-d tensor takes dim 0 or -1, as in PyTorch.
std::vector<bool> reduce_mask(const char* op, int64_t ndim, const std::vector<int64_t>& dims) {
  const int64_t range = ndim > 0 ? ndim : 1;
  std::vector<bool> mask(static_cast<size_t>(range), dims.empty());
  std::vector<bool> seen(static_cast<size_t>(range), false);
  for (int64_t d : dims) {
    FG_INDEX_CHECK(d >= -range && d < range, op, ": dim ", d, " out of range for a tensor of ",
                   ndim, " dims");
    const int64_t n = d < 0 ? d + range : d;
    FG_CHECK(!seen[n], op, ": dim ", n, " appears more than once in the list of dims");
    seen[n] = mask[n] = true;
  }
  mask.resize(static_cast<size_t>(ndim));
  return mask;
}

Shape reduced_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!mask[d]) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

int64_t reduced_numel(const Shape& shape, const std::vector<bool>& mask) {
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d) n *= mask[d] ? shape[d] : 1;
  return n;
}

std::vector<int64_t> mask_dims(const std::vector<bool>& mask) {
  std::vector<int64_t> dims;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) dims.push_back(static_cast<int64_t>(d));
  return dims;
}

// A run of adjacent dims, all kept or all reduced, that walks memory with one stride.
struct Group {
  int64_t size, stride;
  bool reduced;
};

// Drops size-1 dims and merges neighbours of the same kind that are one stride apart.
std::vector<Group> collapse(const Shape& shape, const Shape& strides,
                            const std::vector<bool>& mask) {
  std::vector<Group> g;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!g.empty() && g.back().reduced == mask[d] && g.back().stride == strides[d] * shape[d]) {
      g.back().size *= shape[d];
      g.back().stride = strides[d];
    } else {
      g.push_back({shape[d], strides[d], mask[d]});
    }
  }
  return g;
}

int64_t count_reduced(const std::vector<Group>& g) {
  return std::count_if(g.begin(), g.end(), [](const Group& x) { return x.reduced; });
}

// One kernel call, out (O, I) from x (O, R, I): rows reads x[o*so + r] (I == 1), otherwise
// x[o*so + r*sr + i] (see kernels/reduce.h).
struct Pass {
  int64_t O, R, I, so, sr;
  bool rows;
};

// The single kernel call that reads x's groups where they are, if there is one: one reduced
// group, and a unit stride along R (rows) or along the last kept group (columns).
std::optional<Pass> in_place_pass(const std::vector<Group>& g) {
  if (count_reduced(g) != 1 || g.size() > 3) return std::nullopt;
  if (g.size() == 1) {
    if (g[0].stride != 1) return std::nullopt;
    return Pass{1, g[0].size, 1, 0, 1, true};
  }
  if (g.size() == 2) {
    const Group& k = g[0].reduced ? g[1] : g[0];
    const Group& r = g[0].reduced ? g[0] : g[1];
    if (r.stride == 1) return Pass{k.size, r.size, 1, k.stride, 1, true};
    if (k.stride == 1) return Pass{1, r.size, k.size, 0, r.stride, false};
    return std::nullopt;
  }
  if (!g[1].reduced || g[2].stride != 1) return std::nullopt;
  return Pass{g[0].size, g[1].size, g[2].size, g[0].stride, g[1].stride, false};
}

template <class T, class Out>
void run_pass(Reduce op, const Pass& p, const T* x, Out* out) {
  if (p.rows) {
    reduce_rows(op, p.O, p.R, x, p.so, out);
  } else {
    reduce_cols(op, p.O, p.R, p.I, x, p.so, p.sr, out);
  }
}

// out (x's kept dims, contiguous) = op over x's masked dims. out is not empty and no masked dim
// has size 0. An awkward layout is copied once; its reduced groups are then reduced one kernel
// call at a time, the last first, each call reading the previous call's contiguous result.
template <class T, class Out>
void reduce_into(Reduce op, const Tensor& x, const std::vector<bool>& mask, const Tensor& out) {
  std::vector<Group> g = collapse(x->shape(), x->strides(), mask);
  if (count_reduced(g) == 0) {  // only size-1 dims are reduced: a copy
    copy_into(make_view(out, x->shape(), contiguous_strides(x->shape()), out->offset()), x);
    return;
  }
  if (auto p = in_place_pass(g)) {
    run_pass(op, *p, x->data<T>(), out->data<Out>());
    return;
  }
  Tensor xc = contiguous(detach(x));
  g = collapse(xc->shape(), xc->strides(), mask);
  Tensor src;  // the previous call's result (type Out); none before the first call
  for (;;) {
    size_t j = g.size() - 1;
    while (!g[j].reduced) --j;
    int64_t O = 1, I = 1;
    for (size_t k = 0; k < j; ++k) O *= g[k].size;
    for (size_t k = j + 1; k < g.size(); ++k) I *= g[k].size;
    const int64_t R = g[j].size;
    g.erase(g.begin() + static_cast<int64_t>(j));
    if (j > 0 && j < g.size() && !g[j - 1].reduced && !g[j].reduced) {
      g[j - 1].size *= g[j].size;
      g.erase(g.begin() + static_cast<int64_t>(j));
    }
    const bool last = count_reduced(g) == 0;
    Tensor dst = last ? out : empty({O * I}, out->dtype());
    const Pass p{O, R, I, R * I, I, I == 1};
    if (src) {
      run_pass(op, p, src->data<Out>(), dst->data<Out>());
    } else {
      run_pass(op, p, xc->data<T>(), dst->data<Out>());
    }
    if (last) return;
    src = dst;
  }
}

// A reduction's arguments as its rule reads them: the reduced dims, kept in the node's ints(),
// and the output's shape with keepdim=True, kept in its shape() (sum keeps only the shape).
struct ReduceArgs {
  const std::vector<int64_t>& dims;
  const Shape& keepdim_shape;
  static void save(FnNode& n, std::vector<int64_t> dims, Shape keepdim_shape) {
    n.ints() = std::move(dims);
    n.shape() = std::move(keepdim_shape);
  }
  static ReduceArgs of(FnNode& n) { return {n.ints(), n.shape()}; }
};

Tensor to_keepdim(const Tensor& t, const Shape& keep) {
  return t->shape() == keep ? t : reshape(t, keep);
}

GradList extreme_rule(FnNode& n, const Grads& g);
Tensor extreme(const char* name, const char* node, Reduce op, const Tensor& x,
               const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = reduce_mask(name, x->dim(), dims);
  FG_TYPE_CHECK(x->dtype() != DType::Bool, name, ": not supported for dtype bool");
  FG_CHECK(reduced_numel(x->shape(), mask) > 0, name,
           ": cannot reduce over a zero-size dimension of shape ", x->shape());
  Tensor out = empty(reduced_shape(x->shape(), mask, keepdim), x->dtype());
  if (out->numel() > 0) {
    FG_DISPATCH_NUMERIC(x->dtype(), name, T, reduce_into<T, T>(op, x, mask, out));
  }
  if (auto n = make_fn_node(node, extreme_rule, {x}, {out})) {
    n->save(x);
    n->save(out, true);
    ReduceArgs::save(*n, mask_dims(mask), reduced_shape(x->shape(), mask, true));
  }
  return out;
}

// amax / amin: the gradient is shared evenly by the elements equal to the result.
GradList extreme_rule(FnNode& n, const Grads& g) {
  const ReduceArgs a = ReduceArgs::of(n);
  Tensor x = detach(n.saved(0));
  Tensor y = to_keepdim(detach(n.saved(1)), a.keepdim_shape);
  Tensor mask = to_dtype(eq(x, y), g[0]->dtype());
  return {div(mul(to_keepdim(g[0], a.keepdim_shape), mask), sum(mask, a.dims, true))};
}

Tensor arg_extreme(const char* name, Reduce op, const Tensor& x, std::optional<int64_t> dim,
                   bool keepdim) {
  const std::vector<bool> mask = reduce_mask(
      name, x->dim(), dim ? std::vector<int64_t>{*dim} : std::vector<int64_t>{});
  FG_TYPE_CHECK(x->dtype() != DType::Bool, name, ": not supported for dtype bool");
  FG_CHECK(reduced_numel(x->shape(), mask) > 0, name,
           ": cannot reduce over a zero-size dimension of shape ", x->shape());
  Tensor out = empty(reduced_shape(x->shape(), mask, keepdim), DType::Int64);
  std::vector<Group> g = collapse(x->shape(), x->strides(), mask);
  if (out->numel() == 0) return out;
  if (count_reduced(g) == 0) {  // the reduced extent is 1: every index is 0
    std::memset(out->raw(), 0, static_cast<size_t>(out->numel()) * sizeof(int64_t));
    return out;
  }
  // With no dim the index is into the flattened tensor: one unit-stride group, as a copy has.
  Tensor xc = x;
  std::optional<Pass> p = in_place_pass(g);
  if (!p) {
    xc = contiguous(detach(x));
    p = in_place_pass(collapse(xc->shape(), xc->strides(), mask));
    FG_ASSERT(p, name, ": no kernel layout for the contiguous shape ", xc->shape());
  }
  int64_t* po = out->data<int64_t>();
  FG_DISPATCH_NUMERIC(x->dtype(), name, T, {
    const T* px = xc->data<T>();
    if (p->rows) {
      argreduce_rows(op, p->O, p->R, px, p->so, po);
    } else {
      argreduce_cols(op, p->O, p->R, p->I, px, p->so, p->sr, po);
    }
  });
  return out;
}

Tensor softmax_impl(const char* name, const char* node, Rule rule, bool log_space, const Tensor& x,
                    int64_t dim) {
  FG_TYPE_CHECK(is_floating(x->dtype()), name, ": expected a floating-point tensor, got ",
                dtype_name(x->dtype()));
  const std::vector<bool> mask = reduce_mask(name, x->dim(), {dim});
  const int64_t d = dim < 0 ? dim + std::max<int64_t>(x->dim(), 1) : dim;
  Tensor out = empty(x->shape(), x->dtype());
  if (x->numel() > 0) {
    Tensor xc = contiguous(detach(x));
    const Shape& xs = x->shape();
    int64_t O = 1, I = 1;
    for (int64_t k = 0; k < d; ++k) O *= xs[k];
    for (int64_t k = d + 1; k < x->dim(); ++k) I *= xs[k];
    const int64_t R = x->dim() > 0 ? xs[d] : 1;
    FG_DISPATCH_FLOAT(x->dtype(), name, T,
                      softmax_forward<T>(log_space, O, R, I, xc->data<T>(), out->data<T>()));
  }
  if (auto n = make_fn_node(node, rule, {x}, {out})) {
    n->save(out, true);
    n->ints() = {d};  // the rule's dim
  }
  return out;
}

}  // namespace

static GradList sum_rule(FnNode& n, const Grads& g);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = reduce_mask("sum", x->dim(), dims);
  const DType out_dtype = x->dtype() == DType::Bool ? DType::Int64 : x->dtype();
  Tensor out = empty(reduced_shape(x->shape(), mask, keepdim), out_dtype);
  if (reduced_numel(x->shape(), mask) == 0) {
    std::memset(out->raw(), 0, static_cast<size_t>(out->numel()) * itemsize(out_dtype));
  } else if (out->numel() > 0) {
    FG_DISPATCH_ALL(x->dtype(), T, {
      using Acc = std::conditional_t<std::is_same_v<T, bool>, int64_t, T>;
      reduce_into<T, Acc>(Reduce::Sum, x, mask, out);
    });
  }
  if (auto n = make_fn_node("SumBackward", sum_rule, {x}, {out})) {
    n->shape() = reduced_shape(x->shape(), mask, true);  // ReduceArgs::keepdim_shape
  }
  return out;
}
static GradList sum_rule(FnNode& n, const Grads& g) {
  const Shape& in = n.input_meta(0).shape;
  Tensor gk = to_keepdim(g[0], ReduceArgs::of(n).keepdim_shape);
  return {gk->shape() == in ? gk : expand(gk, in)};
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme("amax", "AmaxBackward", Reduce::Max, x, dims, keepdim);
}

Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme("amin", "AminBackward", Reduce::Min, x, dims, keepdim);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_extreme("argmax", Reduce::Max, x, dim, keepdim);
}

Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_extreme("argmin", Reduce::Min, x, dim, keepdim);
}

static GradList softmax_rule(FnNode& n, const Grads& g);
Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_impl("softmax", "SoftmaxBackward", softmax_rule, false, x, dim);
}
static GradList softmax_rule(FnNode& n, const Grads& g) {
  Tensor y = n.saved(0);
  const std::vector<int64_t>& dims = n.ints();  // {dim}, as softmax_impl kept it
  return {mul(y, sub(g[0], sum(mul(g[0], y), dims, true)))};
}

static GradList log_softmax_rule(FnNode& n, const Grads& g);
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_impl("log_softmax", "LogSoftmaxBackward", log_softmax_rule, true, x, dim);
}
static GradList log_softmax_rule(FnNode& n, const Grads& g) {
  Tensor y = n.saved(0);
  const std::vector<int64_t>& dims = n.ints();  // {dim}, as softmax_impl kept it
  return {sub(g[0], mul(exp(y), sum(g[0], dims, true)))};
}

// Sums the leading extra dims and the dims where `shape` has 1 but x does not (undoing NumPy
// broadcasting); differentiable because it is sum (and reshape) only.
Tensor sum_to(const Tensor& x, const Shape& shape) {
  const Shape& xs = x->shape();
  if (xs == shape) return x;
  const int64_t lead = x->dim() - static_cast<int64_t>(shape.size());
  FG_CHECK(lead >= 0, "sum_to: cannot reduce a tensor of shape ", xs, " to shape ", shape);
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < lead; ++d) dims.push_back(d);
  bool inner = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t s = xs[lead + static_cast<int64_t>(i)];
    if (shape[i] == s) continue;
    FG_CHECK(shape[i] == 1, "sum_to: cannot reduce a tensor of shape ", xs, " to shape ", shape);
    dims.push_back(lead + static_cast<int64_t>(i));
    inner = true;
  }
  if (!inner) return sum(x, dims, false);
  if (lead == 0) return sum(x, dims, true);
  return reshape(sum(x, dims, true), shape);
}

// --- cumsum: running sums along one dim, forward then rule ------------------------------------
namespace {
GradList cumsum_rule(FnNode& n, const Grads& g);
}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim) {
  const int64_t nd = std::max<int64_t>(x->dim(), 1);
  FG_INDEX_CHECK(dim >= -nd && dim < nd, "cumsum: dim ", dim, " out of range for a tensor of ",
                 x->dim(), " dims");
  const int64_t d = (dim + nd) % nd;
  const DType out_dtype = x->dtype() == DType::Bool ? DType::Int64 : x->dtype();
  Tensor xc = contiguous(x);
  Tensor out = empty(x->shape(), out_dtype);
  int64_t O = 1, R = 1, I = 1;
  for (int64_t i = 0; i < x->dim(); ++i) {
    (i < d ? O : i == d ? R : I) *= x->shape()[i];
  }
  if (out->numel() > 0) {
    FG_DISPATCH_ALL(x->dtype(), T, {
      using Out = std::conditional_t<std::is_same_v<T, bool>, int64_t, T>;
      cumsum_forward<T, Out>(O, R, I, xc->data<T>(), out->data<Out>());
    });
  }
  if (is_floating(x->dtype())) {
    if (auto n = make_fn_node("CumsumBackward", cumsum_rule, {x}, {out})) n->ints() = {d};
  }
  return out;
}

namespace {
// The gradient is the running sum from the end: sum(g) - cumsum(g) + g along the dim.
GradList cumsum_rule(FnNode& n, const Grads& g) {
  const int64_t d = n.ints()[0];
  const Tensor& gy = g[0];
  if (gy->dim() == 0) return {gy};
  return {add(sub(sum(gy, {d}, true), cumsum(gy, d)), gy)};
}
}  // namespace

}  // namespace fastgrad
