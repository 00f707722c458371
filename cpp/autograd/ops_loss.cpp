// Fused softmax cross-entropy: forward and derivative rules side by side.
//
//   cross_entropy_rows(x (M, C), t (M,)) = logsumexp(x_i) - x_i[t_i]   (one loss per row)
//
// One pass over each row forward (max, exp, sum, log: the log-sum-exp lse is kept for backward)
// and one backward: cross_entropy_rows_backward(g, x, lse, t) = g_i * (softmax(x_i) - onehot(t_i)),
// itself an op whose rule is written with differentiable ops, so create_graph works through it.
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/vmath.h"
#include "tensor/iter.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// loss (M,), lse (M,) of x (M, C) with row stride ld; each row uses `buf` rows of C scratch.
template <class T>
void xent_forward(int64_t M, int64_t C, const T* x, int64_t ld, const int64_t* t, T* loss, T* lse) {
  parallel_for(M, M * C >= kParallelMinExp, [&](int64_t i) {
    thread_local std::vector<T> buf;
    if (static_cast<int64_t>(buf.size()) < C) buf.resize(static_cast<size_t>(C));
    const T* xr = x + i * ld;
    const T m = vmax(C, xr);  // a NaN in the row is not seen here but poisons the sum
    if (std::isinf(m)) {  // +-inf in the row: the plain formula decides
      T s = 0;
      for (int64_t j = 0; j < C; ++j) s += std::exp(xr[j] - m);
      lse[i] = m + std::log(s);
    } else {
      vexp_shift_scale(C, xr, m, T(1), buf.data());
      lse[i] = m + std::log(vsum(C, buf.data()));
    }
    loss[i] = lse[i] - xr[t[i]];
  });
}

// out (M, C) = g_i * exp(x_ij - lse_i) - [j == t_i] g_i, g read with stride gs.
template <class T>
void xent_backward(int64_t M, int64_t C, const T* g, int64_t gs, const T* x, int64_t ld,
                   const T* lse, const int64_t* t, T* out) {
  parallel_for(M, M * C >= kParallelMinExp, [&](int64_t i) {
    const T* xr = x + i * ld;
    T* o = out + i * C;
    const T l = lse[i], gi = g[i * gs];
    vexp_shift_scale(C, xr, l, gi, o);
    o[t[i]] -= gi;
  });
}

void check_args(const char* op, const Tensor& x, const Tensor& t) {
  FG_TYPE_CHECK(is_floating(x->dtype()), op, ": expected floating-point logits, got ",
                dtype_name(x->dtype()));
  FG_TYPE_CHECK(t->dtype() == DType::Int64, op, ": expected int64 class indices, got ",
                dtype_name(t->dtype()));
  FG_CHECK(x->dim() == 2 && t->dim() == 1 && t->shape()[0] == x->shape()[0], op,
           ": expected logits (M, C) and targets (M,), got shapes ", x->shape(), " and ",
           t->shape());
  FG_CHECK(x->shape()[1] > 0, op, ": logits of shape ", x->shape(), " have no classes");
}

// x with unit-stride rows (itself or a copy made outside autograd) and contiguous targets.
Tensor unit_rows(const Tensor& x) {
  if (x->shape()[1] == 1 || x->strides()[1] == 1) return x;
  AutoGradMode no_grad(false);
  return contiguous(x);
}

Tensor contiguous_nograd(const Tensor& x) {
  if (x->is_contiguous()) return x;
  AutoGradMode no_grad(false);
  return contiguous(x);
}

void check_targets(const char* op, const Tensor& t, int64_t C, const Shape& xshape) {
  const int64_t* p = t->data<int64_t>();
  for (int64_t i = 0; i < t->numel(); ++i)
    FG_INDEX_CHECK(p[i] >= 0 && p[i] < C, op, ": target ", p[i], " at position ", i,
                   " is out of range for logits of shape ", xshape, " (classes 0 to ", C - 1, ")");
}

// Positions of x[i, t_i] in a contiguous (M, C) tensor, for take.
Tensor target_positions(const Tensor& t, int64_t C) {
  Tensor pos = empty(t->shape(), DType::Int64);
  const int64_t* pt = t->data<int64_t>();
  int64_t* pp = pos->data<int64_t>();
  for (int64_t i = 0; i < t->numel(); ++i) pp[i] = i * C + pt[i];
  return pos;
}

}  // namespace

static GradList xent_rule(FnNode& n, const Grads& g);
Tensor cross_entropy_rows(const Tensor& x, const Tensor& t) {
  const char* op = "cross_entropy";
  check_args(op, x, t);
  const int64_t M = x->shape()[0], C = x->shape()[1];
  const Tensor tc = contiguous_nograd(t);
  check_targets(op, tc, C, x->shape());
  const Tensor xr = unit_rows(x);
  Tensor loss = empty({M}, x->dtype()), lse = empty({M}, x->dtype());
  FG_DISPATCH_FLOAT(x->dtype(), op, T,
                    xent_forward<T>(M, C, xr->data<T>(), xr->strides()[0], tc->data<int64_t>(),
                                    loss->data<T>(), lse->data<T>()));
  if (auto n = make_fn_node("CrossEntropyBackward", xent_rule, {x, t}, {loss})) {
    n->save(x);
    n->save(tc);
    n->save(lse);
  }
  return loss;
}

// Inputs (x, t); saved x, t, lse.
static GradList xent_rule(FnNode& n, const Grads& g) {
  return {cross_entropy_rows_backward(g[0], n.saved(0), n.saved(2), n.saved(1)), nullptr};
}

static GradList xent_backward_rule(FnNode& n, const Grads& g);
Tensor cross_entropy_rows_backward(const Tensor& g, const Tensor& x, const Tensor& lse,
                                   const Tensor& t) {
  const char* op = "cross_entropy_backward";
  check_args(op, x, t);
  const int64_t M = x->shape()[0], C = x->shape()[1];
  FG_TYPE_CHECK(g->dtype() == x->dtype() && lse->dtype() == x->dtype(), op,
                ": dtypes of the gradient ", dtype_name(g->dtype()), ", the logits ",
                dtype_name(x->dtype()), " and lse ", dtype_name(lse->dtype()), " differ");
  FG_CHECK(g->dim() == 1 && g->shape()[0] == M && lse->dim() == 1 && lse->shape()[0] == M, op,
           ": expected a gradient and lse of shape (", M, ",), got ", g->shape(), " and ",
           lse->shape());
  const Tensor tc = contiguous_nograd(t);
  check_targets(op, tc, C, x->shape());
  const Tensor xr = unit_rows(x), lc = contiguous_nograd(lse);
  Tensor out = empty({M, C}, x->dtype());
  FG_DISPATCH_FLOAT(
      x->dtype(), op, T,
      xent_backward<T>(M, C, g->data<T>(), g->strides()[0], xr->data<T>(), xr->strides()[0],
                       lc->data<T>(), tc->data<int64_t>(), out->data<T>()));
  if (auto n = make_fn_node("CrossEntropyBackwardBackward", xent_backward_rule, {g, x, lse, t},
                            {out})) {
    n->save(g);
    n->save(x);
    n->save(tc);
  }
  return out;
}

// Inputs (g, x, lse, t); gout (M, C). With P = softmax(x) and u = gout * g[:, None]:
// d g = sum(gout * P, 1) - gout[i, t_i];  d x = P * (u - sum(u * P, 1)).
static GradList xent_backward_rule(FnNode& n, const Grads& gout) {
  Tensor g = n.saved(0), x = n.saved(1), t = n.saved(2);
  const int64_t M = x->shape()[0], C = x->shape()[1];
  Tensor p = softmax(x, 1);
  Tensor dg, dx;
  if (n.needs_input_grad(0)) {
    Tensor picked = take(gout[0], target_positions(contiguous_nograd(t), C));
    dg = sub(sum(mul(gout[0], p), {1}, false), picked);
  }
  if (n.needs_input_grad(1)) {
    Tensor u = mul(gout[0], reshape(g, {M, 1}));
    dx = mul(p, sub(u, sum(mul(u, p), {1}, true)));
  }
  return {dg, dx, nullptr, nullptr};
}

// --- h1-nnfast: the reduction in the same call (issue 19) ---------------------------------------
// x (M, C), t (M,) -> () for "mean" (sum / M, M > 0) and "sum", (M,) for "none".
Tensor cross_entropy_reduced(const Tensor& x, const Tensor& t, const std::string& reduction) {
  const bool mean = reduction == "mean", total = reduction == "sum";
  FG_CHECK(mean || total || reduction == "none",
           "cross_entropy: reduction must be 'mean', 'sum' or 'none', got '", reduction, "'");
  Tensor rows = cross_entropy_rows(x, t);
  if (!mean && !total) return rows;
  const int64_t M = x->shape()[0];
  FG_CHECK(!mean || M > 0, "cross_entropy: the mean over an empty batch of logits ", x->shape());
  Tensor s = sum(rows, {}, false);
  return mean ? div(s, scalar_tensor(static_cast<double>(M), x->dtype())) : s;
}

}  // namespace fastgrad
