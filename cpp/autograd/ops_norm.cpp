// Fused batch normalization (training mode), forward and rule side by side:
//
//   batch_norm_train(x (N, C, *), weight (C,) or null, bias (C,) or null, eps)
//     -> (y, mean (C,), invstd (C,)), y = (x - mean) * invstd * weight + bias,
//   mean and biased variance over every dim but 1, invstd = 1 / sqrt(var + eps).
//
// Only y has a gradient (mean and invstd are statistics for the running averages). Backward
// without create_graph is one fused kernel pass per channel for the sums and one for dx
// (kernels/norm.cpp); with create_graph the rule recomputes the statistics from x with
// differentiable ops and writes the same formulas, so second order works.
#include <tuple>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/norm.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

Tensor contiguous_nograd(const Tensor& x) {
  if (x->is_contiguous()) return x;
  AutoGradMode no_grad(false);
  return contiguous(x);
}

// Inputs (x, weight, bias); saved x, weight (or null), mean, invstd; floats {eps}.
GradList batch_norm_rule(FnNode& n, const Grads& g) {
  Tensor x = n.saved(0), w = n.saved(1), mean = n.saved(2), invstd = n.saved(3);
  const Shape& s = x->shape();
  const int64_t N = s[0], C = s[1], S = N == 0 || C == 0 ? 0 : x->numel() / (N * C);
  const bool need_x = n.needs_input_grad(0), need_w = n.needs_input_grad(1),
             need_b = n.needs_input_grad(2);
  const DType dt = x->dtype();
  if (GradMode::is_enabled()) {  // create_graph: the composite formulas
    const std::vector<int64_t> dims = {0, 2};
    const Tensor x3 = reshape(x, {N, C, S}), g3 = reshape(g[0], {N, C, S});
    const Tensor inv_n = scalar_tensor(1.0 / static_cast<double>(N * S), dt);
    const Tensor xc = sub(x3, mul(sum(x3, dims, true), inv_n));
    const Tensor var = mul(sum(mul(xc, xc), dims, true), inv_n);
    const Tensor r = div(scalar_tensor(1.0, dt), sqrt(add(var, scalar_tensor(n.floats()[0], dt))));
    const Tensor xhat = mul(xc, r);
    const Tensor sg = sum(g3, dims, true), sgx = sum(mul(g3, xhat), dims, true);
    Tensor dx, dw, db;
    if (need_x) {
      const Tensor k = w ? mul(reshape(w, {1, C, 1}), r) : r;
      dx = reshape(mul(k, sub(sub(g3, mul(sg, inv_n)), mul(xhat, mul(sgx, inv_n)))), s);
    }
    if (need_w) dw = reshape(sgx, {C});
    if (need_b) db = reshape(sg, {C});
    return {dx, dw, db};
  }
  const Tensor xc = contiguous_nograd(x), wc = w ? contiguous_nograd(w) : w;
  // dy viewed as (N, C, S) at strides (sn, sc, ss), ss 0 or 1; else a contiguous copy
  bool zero = true;
  for (size_t d = 2; d < s.size(); ++d) zero = zero && (g[0]->strides()[d] == 0 || s[d] == 1);
  const Tensor dy = zero ? g[0] : contiguous_nograd(g[0]);
  const int64_t sn = zero ? dy->strides()[0] : C * S, sc = zero ? dy->strides()[1] : S;
  const int64_t ss = zero ? 0 : 1;
  Tensor dx = need_x ? empty(s, dt) : Tensor();
  Tensor dw = need_w ? empty({C}, dt) : Tensor();
  Tensor db = need_b ? empty({C}, dt) : Tensor();
  FG_DISPATCH_FLOAT(
      dt, "batch_norm_train_backward", T,
      batch_norm_backward(N, C, S, dy->data<T>(), sn, sc, ss, xc->data<T>(), mean->data<T>(),
                          invstd->data<T>(), wc ? wc->data<T>() : nullptr,
                          dx ? dx->data<T>() : nullptr, dw ? dw->data<T>() : nullptr,
                          db ? db->data<T>() : nullptr));
  return {dx, dw, db};
}

void check_vec(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  if (!t) return;
  FG_TYPE_CHECK(t->dtype() == x->dtype(), op, ": ", name, " is ", dtype_name(t->dtype()),
                ", expected ", dtype_name(x->dtype()), " like the input");
  FG_CHECK(t->dim() == 1 && t->shape()[0] == x->shape()[1], op, ": ", name, " of shape ",
           t->shape(), " does not match ", x->shape()[1], " channels of input of shape ",
           x->shape());
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> batch_norm_train(const Tensor& x, const Tensor& weight,
                                                    const Tensor& bias, double eps) {
  const char* op = "batch_norm_train";
  FG_TYPE_CHECK(is_floating(x->dtype()), op, ": expected a floating-point input, got ",
                dtype_name(x->dtype()));
  FG_CHECK(x->dim() >= 2, op, ": expected an input of at least 2 dims (N, C, *), got shape ",
           x->shape());
  check_vec(op, "weight", weight, x);
  check_vec(op, "bias", bias, x);
  FG_CHECK(eps >= 0.0, op, ": expected eps >= 0, got ", eps);
  const Shape& s = x->shape();
  const int64_t N = s[0], C = s[1], S = N == 0 || C == 0 ? 0 : x->numel() / (N * C);
  const DType dt = x->dtype();
  const Tensor xc = contiguous_nograd(x);
  const Tensor wc = weight ? contiguous_nograd(weight) : weight;
  const Tensor bc = bias ? contiguous_nograd(bias) : bias;
  Tensor y = empty(s, dt), mean = empty({C}, dt), invstd = empty({C}, dt);
  FG_DISPATCH_FLOAT(dt, op, T,
                    batch_norm_forward(N, C, S, xc->data<T>(), wc ? wc->data<T>() : nullptr,
                                       bc ? bc->data<T>() : nullptr, eps, y->data<T>(),
                                       mean->data<T>(), invstd->data<T>()));
  if (auto n = make_fn_node("NativeBatchNormBackward", batch_norm_rule, {x, weight, bias}, {y})) {
    n->save(x);
    n->save(weight);
    n->save(mean);
    n->save(invstd);
    n->floats() = {eps};
  }
  return {y, mean, invstd};
}

}  // namespace fastgrad
