// Matrix multiply, forward and rule side by side: a (..., M, K) @ b (..., K, N) -> (..., M, N)
// with NumPy-broadcast batch dims. The forward hands each operand's own strides to kernels/gemm,
// so transposed views (permute) are read in place, never copied; the rule is two matmuls with
// such views, so create_graph differentiates it again. 1-D operands are the Python layer's job.
#include <algorithm>
#include <numeric>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/gemm.h"
#include "tensor/iter.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// x (..., R, C) with its last two dims swapped: a view, so gemm reads it in place.
Tensor transpose_last(const Tensor& x) {
  std::vector<int64_t> dims(static_cast<size_t>(x->dim()));
  std::iota(dims.begin(), dims.end(), int64_t{0});
  std::swap(dims[dims.size() - 1], dims[dims.size() - 2]);
  return permute(x, dims);
}

// True when x's last two dims are column-major (a transposed view, such as W.T in x @ W.T).
bool column_major(const Tensor& x) {
  const int64_t d = x->dim();
  return x->shape()[d - 2] > 1 && x->shape()[d - 1] > 1 && x->strides()[d - 2] == 1 &&
         x->strides()[d - 1] != 1;
}

// The layouts of matmul's inputs as its rule reads them, kept in the node's ints() as
// {a column-major, b column-major}.
struct MatmulLayout {
  bool a_column_major, b_column_major;
  void save(FnNode& n) const { n.ints() = {a_column_major, b_column_major}; }
  static MatmulLayout of(FnNode& n) { return {n.ints()[0] != 0, n.ints()[1] != 0}; }
};

// x itself when its last two dims are row- or column-major (one unit stride, or a length-1 dim),
// else a contiguous copy made without recording autograd (the node links to x directly).
Tensor gemm_operand(const Tensor& x) {
  const int64_t d = x->dim();
  const int64_t rows = x->shape()[d - 2], cols = x->shape()[d - 1];
  const int64_t rs = x->strides()[d - 2], cs = x->strides()[d - 1];
  if (cols == 1 || cs == 1 || rows == 1 || rs == 1) return x;
  AutoGradMode no_grad(false);
  return clone(x);
}

// If the rows of x over (batch..., R) form one arithmetic sequence, its stride (the row stride of
// x seen as one (batch·R, C) matrix); else -1.
int64_t merged_row_stride(const Shape& batch, const Shape& batch_strides, int64_t rows,
                          int64_t rs) {
  int64_t size = rows, stride = rs;
  for (size_t d = batch.size(); d-- > 0;) {
    if (batch[d] == 1) continue;
    if (size == 1) {
      size = batch[d];
      stride = batch_strides[d];
    } else if (batch_strides[d] == stride * size) {
      size *= batch[d];
    } else {
      return -1;
    }
  }
  return stride;
}

// out (batch..., M, N) = a (..., M, K) @ b (..., K, N); a and b have gemm-ready last two dims.
template <class T>
void matmul_forward(const Tensor& a, const Tensor& b, const Shape& batch, const Tensor& out) {
  const int64_t da = a->dim(), db = b->dim();
  const int64_t M = a->shape()[da - 2], K = a->shape()[da - 1], N = b->shape()[db - 1];
  const int64_t rs_a = a->strides()[da - 2], cs_a = a->strides()[da - 1];
  const int64_t rs_b = b->strides()[db - 2], cs_b = b->strides()[db - 1];
  const Shape sa = broadcast_strides(Shape(a->shape().begin(), a->shape().end() - 2),
                                     Shape(a->strides().begin(), a->strides().end() - 2), batch);
  const Shape sb = broadcast_strides(Shape(b->shape().begin(), b->shape().end() - 2),
                                     Shape(b->strides().begin(), b->strides().end() - 2), batch);
  const int64_t count = shape_numel(batch);
  const T* pa = a->data<T>();
  const T* pb = b->data<T>();
  T* pc = out->data<T>();
  // One b for the whole batch and a's rows in one sequence (x @ W with x (B, M, K)): a single
  // (count·M, K) @ (K, N) product instead of count small ones.
  const bool b_shared = std::all_of(sb.begin(), sb.end(), [](int64_t s) { return s == 0; });
  const int64_t rs_merged = b_shared ? merged_row_stride(batch, sa, M, rs_a) : -1;
  if (count == 1 || rs_merged >= 0) {
    gemm(count * M, N, K, pa, count == 1 ? rs_a : rs_merged, cs_a, pb, rs_b, cs_b, T(0), pc, N, 1);
    return;
  }
  std::vector<int64_t> off_a(count), off_b(count), off_c(count);
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t p = 0; p < count; ++p) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    off_a[p] = oa;
    off_b[p] = ob;
    off_c[p] = p * M * N;
    for (size_t d = batch.size(); d-- > 0;) {  // odometer over the batch dims
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  gemm_batched(count, off_a.data(), off_b.data(), off_c.data(), M, N, K, pa, rs_a, cs_a, pb, rs_b,
               cs_b, T(0), pc, N, 1);
}

}  // namespace

static GradList matmul_rule(FnNode& n, const Grads& g);
Tensor matmul(const Tensor& a, const Tensor& b) {
  FG_TYPE_CHECK(a->dtype() == b->dtype(), "matmul: dtypes ", dtype_name(a->dtype()), " and ",
                dtype_name(b->dtype()), " differ");
  FG_TYPE_CHECK(is_floating(a->dtype()), "matmul: expected floating-point tensors, got ",
                dtype_name(a->dtype()), " and ", dtype_name(b->dtype()));
  FG_CHECK(a->dim() >= 2 && b->dim() >= 2,
           "matmul: expected tensors of at least 2 dims, got "
           "shapes ",
           a->shape(), " and ", b->shape());
  const Shape& sa = a->shape();
  const Shape& sb = b->shape();
  const int64_t M = sa[sa.size() - 2], K = sa.back(), K2 = sb[sb.size() - 2], N = sb.back();
  FG_CHECK(K == K2, "matmul: shapes ", sa, " and ", sb, " do not match: ", K, " != ", K2);
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  for (size_t i = 1; i <= std::min(batch_a.size(), batch_b.size()); ++i) {
    const int64_t x = batch_a[batch_a.size() - i], y = batch_b[batch_b.size() - i];
    FG_CHECK(x == y || x == 1 || y == 1, "matmul: shapes ", sa, " and ", sb,
             " do not broadcast: batch dims ", batch_a, " and ", batch_b);
  }
  const Shape batch = broadcast_shapes("matmul", batch_a, batch_b);
  Shape shape = batch;
  shape.push_back(M);
  shape.push_back(N);
  Tensor out = empty(shape, a->dtype());
  const Tensor ga = gemm_operand(a), gb = gemm_operand(b);
  FG_DISPATCH_FLOAT(a->dtype(), "matmul", T, matmul_forward<T>(ga, gb, batch, out));
  if (auto n = make_fn_node("MatmulBackward", matmul_rule, {a, b}, {out})) {
    n->save(n->needs_input_grad(1) ? a : nullptr);
    n->save(n->needs_input_grad(0) ? b : nullptr);
    MatmulLayout{column_major(a), column_major(b)}.save(*n);
  }
  return out;
}

// dA = g @ B^T, dB = A^T @ g, in the output's batch shape (the engine sums broadcast dims away).
// A gradient is made in its input's layout: for a column-major input (x @ W.T) dB is computed as
// (g^T @ A)^T, so the gradient reaching W through the transpose is contiguous and the optimizer
// reads it without a copy. saved(0) = a (kept only if b needs a gradient), saved(1) = b (only if
// a needs one); the layouts are MatmulLayout.
static GradList matmul_rule(FnNode& n, const Grads& g) {
  const MatmulLayout layout = MatmulLayout::of(n);
  Tensor da, db;
  if (n.needs_input_grad(0)) {
    const Tensor& b = n.saved(1);
    da = layout.a_column_major ? transpose_last(matmul(b, transpose_last(g[0])))
                               : matmul(g[0], transpose_last(b));
  }
  if (n.needs_input_grad(1)) {
    const Tensor& a = n.saved(0);
    db = layout.b_column_major ? transpose_last(matmul(transpose_last(g[0]), a))
                               : matmul(transpose_last(a), g[0]);
  }
  return {da, db};
}

// --- h1-nnfast: linear, x @ w^T + b as one node (issue 19) --------------------------------------
namespace {

// out (M, N) = x @ w^T, + b[j] (b contiguous, or null) as the GEMM's epilogue: the same sum, then
// the same addition, as a matmul followed by a bias add (bitwise).
template <class T>
void linear_forward(int64_t M, int64_t N, int64_t K, const Tensor& x, const Tensor& w,
                    const Tensor& b, const Tensor& out) {
  GemmEpilogue<T> ep;
  ep.col_bias = b ? b->data<T>() : nullptr;
  // B = w^T (K, N): its row stride is w's column stride and vice versa (read in place).
  gemm_ex(M, N, K, x->data<T>(), x->strides()[0], x->strides()[1], w->data<T>(), w->strides()[1],
          w->strides()[0], T(0), out->data<T>(), N, 1, ep, nullptr);
}

}  // namespace

static GradList linear_rule(FnNode& n, const Grads& g);
// x (M, K), w (N, K), b (N,) or null -> (M, N) = x @ w^T + b: one GEMM adding the bias as it stores.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  FG_TYPE_CHECK(x->dtype() == w->dtype() && (!b || b->dtype() == x->dtype()),
                "linear: dtypes of input ", dtype_name(x->dtype()), " and weight ",
                dtype_name(w->dtype()), " differ (or the bias's)");
  FG_TYPE_CHECK(is_floating(x->dtype()), "linear: expected floating-point tensors, got ",
                dtype_name(x->dtype()));
  FG_CHECK(x->dim() == 2 && w->dim() == 2 && x->shape()[1] == w->shape()[1], "linear: input ",
           x->shape(), " does not match weight ", w->shape(), " (expected (M, K) and (N, K))");
  const int64_t M = x->shape()[0], K = x->shape()[1], N = w->shape()[0];
  FG_CHECK(!b || (b->dim() == 1 && b->shape()[0] == N), "linear: bias of shape ",
           b ? b->shape() : Shape{}, " does not match weight of shape ", w->shape());
  Tensor out = empty({M, N}, x->dtype());
  const Tensor gx = gemm_operand(x), gw = gemm_operand(w);
  Tensor bc;
  if (b && b->is_contiguous()) {
    bc = b;
  } else if (b) {
    AutoGradMode no_grad(false);
    bc = contiguous(b);
  }
  FG_DISPATCH_FLOAT(x->dtype(), "linear", T, linear_forward<T>(M, N, K, gx, gw, bc, out));
  if (auto n = b ? make_fn_node("LinearBackward", linear_rule, {x, w, b}, {out})
                 : make_fn_node("LinearBackward", linear_rule, {x, w}, {out})) {
    n->save(n->needs_input_grad(1) ? x : nullptr);
    n->save(n->needs_input_grad(0) ? w : nullptr);
    n->ints() = {b ? 1 : 0};
  }
  return out;
}

// Inputs (x, w[, b]); saved x (only if w needs a gradient), w (only if x needs one); ints() =
// {has bias}; g (M, N). dx = g @ w (M, K); dw = g^T @ x (N, K), contiguous like w; db = g summed
// over the rows (N,). Written with matmul and sum, so create_graph differentiates it again.
static GradList linear_rule(FnNode& n, const Grads& g) {
  Tensor dx, dw;
  if (n.needs_input_grad(0)) dx = matmul(g[0], n.saved(1));
  if (n.needs_input_grad(1)) dw = matmul(transpose_last(g[0]), n.saved(0));
  if (n.ints()[0] == 0) return {dx, dw};
  Tensor db;
  if (n.needs_input_grad(2)) db = sum(g[0], {0}, false);
  return {dx, dw, db};
}

}  // namespace fastgrad
