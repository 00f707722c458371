// Shape ops: forward and derivative rule side by side. reshape, permute, expand and slice return
// views (same storage, so the same version counter) with a grad_fn of their own; cat and
// slice_backward write fresh tensors. No kernels here: copies go through copy_into (tensor/map.h).
// take and put_add (flat gather/scatter) live in ops_index.cpp.
#include <cstdint>
#include <optional>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/map.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// A Python slice clipped to a dim of `size`, as slice.indices(size) does for step >= 1.
struct SliceRange {
  int64_t start, stop, length;
};

SliceRange slice_range(int64_t size, int64_t start, int64_t stop, int64_t step) {
  auto clip = [size](int64_t i) {
    if (i < 0) i = i < -size ? 0 : i + size;
    return i > size ? size : i;
  };
  SliceRange r{clip(start), clip(stop), 0};
  // Written without stop - start + step - 1, which overflows for a huge step.
  r.length = r.stop > r.start ? (r.stop - r.start - 1) / step + 1 : 0;
  return r;
}

// True when `from` broadcasts to exactly `to` (NumPy rules).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

int64_t normalize_dim(const char* op, int64_t dim, int64_t ndim) {
  FG_INDEX_CHECK(dim >= -ndim && dim < ndim, op, ": dim ", dim, " out of range for a tensor of ",
                 ndim, " dims");
  return dim < 0 ? dim + ndim : dim;
}

// A user-visible view shares x's memory: see Storage::has_views.
void mark_viewed(const Tensor& x) {
  x->storage()->has_views.store(true, std::memory_order_relaxed);
}

// The view x[..., start:stop:step, ...] along `dim` (arguments already validated); no autograd.
Tensor slice_view(const Tensor& x, int64_t dim, const SliceRange& r, int64_t step) {
  Shape shape = x->shape(), strides = x->strides();
  const int64_t offset = x->offset() + (r.length > 0 ? r.start * strides[dim] : 0);
  shape[dim] = r.length;
  if (r.length > 1) strides[dim] *= step;  // else the stride is unused and step may be huge
  return make_view(x, std::move(shape), std::move(strides), offset);
}

// Strides with which `shape` views memory laid out as (old_shape, old_strides), if any exist.
// Groups of old dims that are contiguous with each other ("chunks") may be split or merged freely;
// this is the algorithm of PyTorch's computeStride, so a view of a view stays a view.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& shape) {
  if (old_shape.empty() || shape_numel(old_shape) == 0) return contiguous_strides(shape);
  Shape strides(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    // A chunk ends at d when dim d-1 does not continue it in memory (size-1 dims never break one).
    if (d == 0 ||
        (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

// `shape` with its -1 replaced by the inferred size; ValueError if that is impossible.
Shape infer_shape(const Tensor& x, const Shape& spec) {
  Shape shape = spec;
  int64_t infer_at = -1, known = 1;
  bool ok = true;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1 && infer_at < 0) {
      infer_at = static_cast<int64_t>(i);
    } else if (spec[i] < 0 || (spec[i] > 0 && known > INT64_MAX / spec[i])) {
      ok = false;  // a second -1, another negative size, or an overflowing product
    } else {
      known *= spec[i];
    }
  }
  if (ok && infer_at >= 0) {
    ok = known != 0 && x->numel() % known == 0;  // with a 0 elsewhere, -1 could be anything
    if (ok) shape[infer_at] = x->numel() / known;
  } else if (ok) {
    ok = known == x->numel();
  }
  FG_CHECK(ok, "reshape: cannot reshape a tensor of shape ", x->shape(), " into ", spec);
  return shape;
}

// The arguments of slice and slice_backward as their rules read them, kept in the node's ints()
// (already normalised).
struct SliceArgs {
  int64_t dim, start, stop, step;
  void save(FnNode& n) const { n.ints() = {dim, start, stop, step}; }
  static SliceArgs of(FnNode& n) {
    const std::vector<int64_t>& a = n.ints();
    return {a[0], a[1], a[2], a[3]};
  }
};

// cat's arguments as its rule reads them, kept in the node's ints() as {dim, size of input 0
// along dim, size of input 1, ...} (sizes points into them).
struct CatArgs {
  int64_t dim;
  const int64_t* sizes;
  size_t inputs;
  static CatArgs of(FnNode& n) {
    const std::vector<int64_t>& a = n.ints();
    return {a[0], a.data() + 1, a.size() - 1};
  }
};

}  // namespace

// --- views ---------------------------------------------------------------------------------------
static GradList reshape_rule(FnNode& n, const Grads& g);
Tensor reshape(const Tensor& x, const Shape& spec) {
  Shape shape = infer_shape(x, spec);
  Tensor out;
  if (auto strides = view_strides(x->shape(), x->strides(), shape)) {
    out = make_view(x, shape, std::move(*strides), x->offset());
    mark_viewed(x);
  } else {
    Tensor c;
    {
      AutoGradMode no_grad(false);  // the node below links out to x directly
      c = clone(x);
    }
    out = make_view(c, shape, contiguous_strides(shape), c->offset());
  }
  make_fn_node("ReshapeBackward", reshape_rule, {x}, {out});
  return out;
}
static GradList reshape_rule(FnNode& n, const Grads& g) {
  return {reshape(g[0], n.input_meta(0).shape)};
}

static GradList permute_rule(FnNode& n, const Grads& g);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t nd = x->dim();
  bool ok = static_cast<int64_t>(dims.size()) == nd;
  std::vector<int64_t> inverse(nd, -1);
  for (int64_t i = 0; ok && i < nd; ++i) {
    const int64_t d = dims[i] < 0 ? dims[i] + nd : dims[i];
    ok = d >= 0 && d < nd && inverse[d] < 0;
    if (ok) inverse[d] = i;
  }
  FG_CHECK(ok, "permute: dims ", dims,
           " are not a permutation of the dims of a tensor of "
           "shape ",
           x->shape());
  Shape shape(nd), strides(nd);
  for (int64_t d = 0; d < nd; ++d) {
    shape[inverse[d]] = x->shape()[d];
    strides[inverse[d]] = x->strides()[d];
  }
  Tensor out = make_view(x, std::move(shape), std::move(strides), x->offset());
  mark_viewed(x);
  if (auto n = make_fn_node("PermuteBackward", permute_rule, {x}, {out})) n->ints() = inverse;
  return out;
}
static GradList permute_rule(FnNode& n, const Grads& g) {
  const std::vector<int64_t>& inverse = n.ints();  // the permutation that undoes the forward's
  return {permute(g[0], inverse)};
}

static GradList expand_rule(FnNode& n, const Grads& g);
Tensor expand(const Tensor& x, const Shape& spec) {
  const size_t nd = x->shape().size();
  bool ok = spec.size() >= nd;
  const size_t lead = ok ? spec.size() - nd : 0;
  Shape shape(spec.size()), strides(spec.size(), 0);
  for (size_t i = 0; ok && i < spec.size(); ++i) {
    if (i < lead) {  // a new leading dim
      ok = spec[i] >= 0;
      shape[i] = spec[i];
      continue;
    }
    const int64_t have = x->shape()[i - lead];
    if (spec[i] == -1 || spec[i] == have) {
      shape[i] = have;
      strides[i] = x->strides()[i - lead];
    } else {
      ok = have == 1 && spec[i] >= 0;
      shape[i] = spec[i];
    }
  }
  FG_CHECK(ok, "expand: cannot expand shape ", x->shape(), " to ", spec);
  Tensor out = make_view(x, std::move(shape), std::move(strides), x->offset());
  mark_viewed(x);
  make_fn_node("ExpandBackward", expand_rule, {x}, {out});
  return out;
}
static GradList expand_rule(FnNode& n, const Grads& g) {
  return {sum_to(g[0], n.input_meta(0).shape)};
}

static GradList slice_rule(FnNode& n, const Grads& g);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t stop, int64_t step) {
  dim = normalize_dim("slice", dim, x->dim());
  FG_CHECK(step >= 1, "slice: step must be at least 1, got ", step);
  const SliceRange r = slice_range(x->shape()[dim], start, stop, step);
  Tensor out = slice_view(x, dim, r, step);
  mark_viewed(x);
  if (auto n = make_fn_node("SliceBackward", slice_rule, {x}, {out})) {
    SliceArgs{dim, r.start, r.stop, step}.save(*n);
  }
  return out;
}
static GradList slice_rule(FnNode& n, const Grads& g) {
  const SliceArgs a = SliceArgs::of(n);
  return {slice_backward(g[0], n.input_meta(0).shape, a.dim, a.start, a.stop, a.step)};
}

// --- fresh tensors -------------------------------------------------------------------------------
Tensor contiguous(const Tensor& x) { return x->is_contiguous() ? x : clone(x); }

static GradList slice_backward_rule(FnNode& n, const Grads& g);
Tensor slice_backward(const Tensor& g, const Shape& shape, int64_t dim, int64_t start, int64_t stop,
                      int64_t step) {
  for (int64_t d : shape) FG_CHECK(d >= 0, "slice_backward: negative dimension in shape ", shape);
  dim = normalize_dim("slice_backward", dim, static_cast<int64_t>(shape.size()));
  FG_CHECK(step >= 1, "slice_backward: step must be at least 1, got ", step);
  const SliceRange r = slice_range(shape[dim], start, stop, step);
  Shape sliced = shape;
  sliced[dim] = r.length;
  FG_CHECK(broadcasts_to(g->shape(), sliced), "slice_backward: a gradient of shape ", g->shape(),
           " does not fit the slice of shape ", sliced);
  Tensor out = full(shape, 0.0, g->dtype());
  Tensor view = slice_view(out, dim, r, step);
  copy_into(view, g);
  if (auto n = make_fn_node("SliceBackwardBackward", slice_backward_rule, {g}, {out})) {
    SliceArgs{dim, r.start, r.stop, step}.save(*n);
  }
  return out;
}
static GradList slice_backward_rule(FnNode& n, const Grads& g) {
  const SliceArgs a = SliceArgs::of(n);
  return {slice(g[0], a.dim, a.start, a.stop, a.step)};
}

static GradList cat_rule(FnNode& n, const Grads& g);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  FG_CHECK(!xs.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& x0 = xs[0];
  FG_CHECK(x0->dim() > 0, "cat: zero-dimensional tensors cannot be concatenated");
  dim = normalize_dim("cat", dim, x0->dim());
  Shape shape = x0->shape();
  std::vector<int64_t> ints{dim};  // CatArgs: dim, then each input's size along dim
  shape[dim] = 0;
  for (const Tensor& x : xs) {
    FG_TYPE_CHECK(x->dtype() == x0->dtype(), "cat: dtypes ", dtype_name(x0->dtype()), " and ",
                  dtype_name(x->dtype()), " differ");
    bool same = x->dim() == x0->dim();
    for (int64_t d = 0; same && d < x0->dim(); ++d) {
      same = d == dim || x->shape()[d] == x0->shape()[d];
    }
    FG_CHECK(same, "cat: shapes ", x0->shape(), " and ", x->shape(), " differ outside dim ", dim);
    shape[dim] += x->shape()[dim];
    ints.push_back(x->shape()[dim]);
  }
  Tensor out = empty(shape, x0->dtype());
  int64_t start = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const SliceRange r{start, start + ints[i + 1], ints[i + 1]};
    copy_into(slice_view(out, dim, r, 1), xs[i]);
    start = r.stop;
  }
  if (auto n = make_fn_node("CatBackward", cat_rule, xs, {out})) n->ints() = std::move(ints);
  return out;
}
static GradList cat_rule(FnNode& n, const Grads& g) {
  const CatArgs a = CatArgs::of(n);
  GradList out(a.inputs);
  int64_t start = 0;
  for (size_t i = 0; i < a.inputs; ++i) {
    if (n.needs_input_grad(i)) out[i] = slice(g[0], a.dim, start, start + a.sizes[i], 1);
    start += a.sizes[i];
  }
  return out;
}

}  // namespace fastgrad
