// Fused recurrent-cell gate ops, forward and derivative rules side by side:
//
//   lstm_cell(gates (B, 4H), c (B, H)) = [h | c'] (B, 2H), gates i f g o (pre-activation),
//     c' = sigmoid(f) c + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c')
//   gru_cell(xg (B, 3H), hg (B, 3H), h (B, H)) = n + z (h - n), gates r z n,
//     r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r hn)
//
// Forward saves the activated gates; backward without create_graph is one fused kernel
// (kernels/rnn.cpp). With create_graph the rule is the same vector-Jacobian product written with
// differentiable ops, so second order works.
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/rnn.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// x with unit stride along dim 1 (itself, or a copy made outside autograd).
Tensor unit_rows(const Tensor& x) {
  if (x->shape()[1] <= 1 || x->strides()[1] == 1) return x;
  AutoGradMode no_grad(false);
  return contiguous(x);
}

Tensor cols(const Tensor& x, int64_t k, int64_t H) { return slice(x, 1, k * H, (k + 1) * H, 1); }

void check_2d(const char* op, const char* name, const Tensor& t, int64_t B, int64_t width,
              DType dtype) {
  FG_TYPE_CHECK(t->dtype() == dtype, op, ": ", name, " is ", dtype_name(t->dtype()), ", expected ",
                dtype_name(dtype));
  FG_CHECK(t->dim() == 2 && t->shape()[0] == B && t->shape()[1] == width, op, ": expected ", name,
           " of shape (", B, ", ", width, "), got ", t->shape());
}

// Inputs (gates, c); saved gates, c, act, hc.
GradList lstm_rule(FnNode& n, const Grads& g) {
  Tensor gates = n.saved(0), c = n.saved(1), act = n.saved(2), hc = n.saved(3);
  const int64_t B = c->shape()[0], H = c->shape()[1];
  if (GradMode::is_enabled()) {  // create_graph: the same formulas with differentiable ops
    Tensor i = sigmoid(cols(gates, 0, H)), f = sigmoid(cols(gates, 1, H));
    Tensor gg = tanh(cols(gates, 2, H)), o = sigmoid(cols(gates, 3, H));
    Tensor tc = tanh(add(mul(f, c), mul(i, gg)));
    Tensor dh = cols(g[0], 0, H), dc2 = cols(g[0], 1, H);
    Tensor dct = add(dc2, tanh_backward(mul(dh, o), tc));
    Tensor dgates = cat({sigmoid_backward(mul(dct, gg), i), sigmoid_backward(mul(dct, c), f),
                         tanh_backward(mul(dct, i), gg), sigmoid_backward(mul(dh, tc), o)},
                        1);
    return {dgates, mul(dct, f)};
  }
  const Tensor dhc = unit_rows(g[0]), cr = unit_rows(c);
  Tensor dgates = empty({B, 4 * H}, c->dtype()), dc = empty({B, H}, c->dtype());
  FG_DISPATCH_FLOAT(
      c->dtype(), "lstm_cell_backward", T,
      lstm_cell_backward<T>(B, H, dhc->data<T>(), dhc->strides()[0], act->data<T>(), cr->data<T>(),
                            cr->strides()[0], hc->data<T>(), dgates->data<T>(), dc->data<T>()));
  return {dgates, dc};
}

// Inputs (xg, hg, h); saved xg, hg, h, act.
GradList gru_rule(FnNode& n, const Grads& g) {
  Tensor xg = n.saved(0), hg = n.saved(1), h = n.saved(2), act = n.saved(3);
  const int64_t B = h->shape()[0], H = h->shape()[1];
  if (GradMode::is_enabled()) {
    Tensor r = sigmoid(add(cols(xg, 0, H), cols(hg, 0, H)));
    Tensor z = sigmoid(add(cols(xg, 1, H), cols(hg, 1, H)));
    Tensor hn = cols(hg, 2, H);
    Tensor nn = tanh(add(cols(xg, 2, H), mul(r, hn)));
    Tensor dn = tanh_backward(sub(g[0], mul(g[0], z)), nn);
    Tensor dz = sigmoid_backward(mul(g[0], sub(h, nn)), z);
    Tensor dr = sigmoid_backward(mul(dn, hn), r);
    return {cat({dr, dz, dn}, 1), cat({dr, dz, mul(dn, r)}, 1), mul(g[0], z)};
  }
  const Tensor d = unit_rows(g[0]), hgr = unit_rows(hg), hr = unit_rows(h);
  Tensor dxg = empty({B, 3 * H}, h->dtype()), dhg = empty({B, 3 * H}, h->dtype());
  Tensor dh = empty({B, H}, h->dtype());
  FG_DISPATCH_FLOAT(
      h->dtype(), "gru_cell_backward", T,
      gru_cell_backward<T>(B, H, d->data<T>(), d->strides()[0], act->data<T>(), hgr->data<T>(),
                           hgr->strides()[0], hr->data<T>(), hr->strides()[0], dxg->data<T>(),
                           dhg->data<T>(), dh->data<T>()));
  return {dxg, dhg, dh};
}

}  // namespace

Tensor lstm_cell(const Tensor& gates, const Tensor& c) {
  const char* op = "lstm_cell";
  FG_TYPE_CHECK(is_floating(c->dtype()), op, ": expected floating-point tensors, got ",
                dtype_name(c->dtype()));
  FG_CHECK(c->dim() == 2, op, ": expected c of shape (B, H), got ", c->shape());
  const int64_t B = c->shape()[0], H = c->shape()[1];
  check_2d(op, "gates", gates, B, 4 * H, c->dtype());
  const Tensor gr = unit_rows(gates), cr = unit_rows(c);
  Tensor act = empty({B, 4 * H}, c->dtype()), hc = empty({B, 2 * H}, c->dtype());
  FG_DISPATCH_FLOAT(c->dtype(), op, T,
                    lstm_cell_forward<T>(B, H, gr->data<T>(), gr->strides()[0], cr->data<T>(),
                                         cr->strides()[0], act->data<T>(), hc->data<T>()));
  if (auto n = make_fn_node("LstmCellBackward", lstm_rule, {gates, c}, {hc})) {
    n->save(gates);
    n->save(c);
    n->save(act);
    n->save(hc, true);  // an output: data and a weak link, no cycle
  }
  return hc;
}

Tensor gru_cell(const Tensor& xg, const Tensor& hg, const Tensor& h) {
  const char* op = "gru_cell";
  FG_TYPE_CHECK(is_floating(h->dtype()), op, ": expected floating-point tensors, got ",
                dtype_name(h->dtype()));
  FG_CHECK(h->dim() == 2, op, ": expected h of shape (B, H), got ", h->shape());
  const int64_t B = h->shape()[0], H = h->shape()[1];
  check_2d(op, "xg", xg, B, 3 * H, h->dtype());
  check_2d(op, "hg", hg, B, 3 * H, h->dtype());
  const Tensor xr = unit_rows(xg), hgr = unit_rows(hg), hr = unit_rows(h);
  Tensor act = empty({B, 3 * H}, h->dtype()), out = empty({B, H}, h->dtype());
  FG_DISPATCH_FLOAT(
      h->dtype(), op, T,
      gru_cell_forward<T>(B, H, xr->data<T>(), xr->strides()[0], hgr->data<T>(), hgr->strides()[0],
                          hr->data<T>(), hr->strides()[0], act->data<T>(), out->data<T>()));
  if (auto n = make_fn_node("GruCellBackward", gru_rule, {xg, hg, h}, {out})) {
    n->save(xg);
    n->save(hg);
    n->save(h);
    n->save(act);
  }
  return out;
}

}  // namespace fastgrad
