// Fused scaled dot-product attention, forward and derivative rule side by side:
//
//   attention(q (B, H, L, E), k (B, H, S, E), v (B, H, S, D), mask, causal, scale)
//     = softmax(q k^T scale + mask [+ causal -inf]) v                    (B, H, L, D)
//
// mask: an additive float tensor broadcastable to (B, H, L, S), or None; it gets no gradient
// (the Python layer takes the composite path when it requires one). Forward runs the blocked
// kernel (kernels/attention.cpp) and keeps only the row log-sum-exp; backward without
// create_graph recomputes the blocks (never the whole (L, S) matrix); with create_graph the rule
// is the composite vector-Jacobian product written with differentiable ops.
#include <limits>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/attention.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

Tensor contiguous_nograd(const Tensor& x) {
  if (x->is_contiguous()) return x;
  AutoGradMode no_grad(false);
  return contiguous(x);
}

// The strides of mask seen as (B, H, L, S) (0 on broadcast dims).
std::vector<int64_t> mask_strides(const Tensor& m, const Shape& full) {
  std::vector<int64_t> ms(4, 0);
  const int64_t off = 4 - m->dim();
  for (int64_t d = 0; d < m->dim(); ++d)
    ms[off + d] = m->shape()[d] == 1 && full[off + d] != 1 ? 0 : m->strides()[d];
  return ms;
}

Tensor scores(const Tensor& q, const Tensor& k, const Tensor& mask, bool causal, double scale) {
  const int64_t L = q->shape()[2], S = k->shape()[2];
  Tensor s = matmul(mul(q, scalar_tensor(scale, q->dtype())), permute(k, {0, 1, 3, 2}));
  if (mask) s = add(s, mask);
  if (causal) {
    Tensor c = empty({L, S}, q->dtype());
    FG_DISPATCH_FLOAT(q->dtype(), "attention", T, {
      T* p = c->data<T>();
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j < S; ++j)
          p[i * S + j] = j > i ? -std::numeric_limits<T>::infinity() : T(0);
    });
    s = add(s, c);
  }
  return s;
}

// Inputs (q, k, v, mask); saved q, k, v, mask (or null), out, lse; ints {causal}; floats {scale}.
GradList attention_rule(FnNode& n, const Grads& g) {
  Tensor q = n.saved(0), k = n.saved(1), v = n.saved(2), mask = n.saved(3);
  Tensor out = n.saved(4), lse = n.saved(5);
  const bool causal = n.ints()[0] != 0;
  const double scale = n.floats()[0];
  if (GradMode::is_enabled()) {  // create_graph: the composite product, differentiable again
    Tensor p = softmax(scores(q, k, mask, causal, scale), 3);
    Tensor dv = matmul(permute(p, {0, 1, 3, 2}), g[0]);
    Tensor dp = matmul(g[0], permute(v, {0, 1, 3, 2}));
    Tensor ds = mul(mul(p, sub(dp, sum(mul(dp, p), {3}, true))), scalar_tensor(scale, q->dtype()));
    return {matmul(ds, k), matmul(permute(ds, {0, 1, 3, 2}), q), dv, nullptr};
  }
  const Shape& qs = q->shape();
  const int64_t B = qs[0], H = qs[1], L = qs[2], E = qs[3], S = k->shape()[2];
  const int64_t D = v->shape()[3];
  const Tensor dout = contiguous_nograd(g[0]);
  Tensor dq = empty(q->shape(), q->dtype()), dk = empty(k->shape(), q->dtype());
  Tensor dv = empty(v->shape(), q->dtype());
  std::vector<int64_t> ms = mask ? mask_strides(mask, {B, H, L, S}) : std::vector<int64_t>(4, 0);
  FG_DISPATCH_FLOAT(
      q->dtype(), "attention_backward", T,
      attention_backward<T>(B, H, L, S, E, D, q->data<T>(), k->data<T>(), v->data<T>(),
                            mask ? mask->data<T>() : nullptr, ms.data(), causal,
                            static_cast<T>(scale), out->data<T>(), lse->data<T>(), dout->data<T>(),
                            dq->data<T>(), dk->data<T>(), dv->data<T>()));
  return {dq, dk, dv, nullptr};
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                 double scale) {
  const char* op = "scaled_dot_product_attention";
  FG_TYPE_CHECK(is_floating(q->dtype()) && k->dtype() == q->dtype() && v->dtype() == q->dtype(), op,
                ": expected query, key and value of one floating dtype, got ",
                dtype_name(q->dtype()), ", ", dtype_name(k->dtype()), ", ", dtype_name(v->dtype()));
  FG_CHECK(q->dim() == 4 && k->dim() == 4 && v->dim() == 4, op,
           ": expected 4-D query, key and value (B, H, L, E), got ", q->shape(), ", ", k->shape(),
           ", ", v->shape());
  const Shape& qs = q->shape();
  const int64_t B = qs[0], H = qs[1], L = qs[2], E = qs[3], S = k->shape()[2];
  const int64_t D = v->shape()[3];
  FG_CHECK(k->shape()[0] == B && k->shape()[1] == H && k->shape()[3] == E && v->shape()[0] == B &&
               v->shape()[1] == H && v->shape()[2] == S,
           op, ": query ", q->shape(), ", key ", k->shape(), " and value ", v->shape(),
           " do not agree");
  if (mask) {
    FG_TYPE_CHECK(mask->dtype() == q->dtype(), op, ": expected a ", dtype_name(q->dtype()),
                  " additive mask, got ", dtype_name(mask->dtype()));
    const Shape full{B, H, L, S};
    bool ok = mask->dim() <= 4;
    for (int64_t d = 0; ok && d < mask->dim(); ++d) {
      const int64_t m = mask->shape()[d], f = full[4 - mask->dim() + d];
      ok = m == f || m == 1;
    }
    FG_CHECK(ok, op, ": attn_mask of shape ", mask->shape(), " does not broadcast to ", full);
  }
  const Tensor qc = contiguous_nograd(q), kc = contiguous_nograd(k), vc = contiguous_nograd(v);
  Tensor out = empty({B, H, L, D}, q->dtype()), lse = empty({B, H, L}, q->dtype());
  std::vector<int64_t> ms = mask ? mask_strides(mask, {B, H, L, S}) : std::vector<int64_t>(4, 0);
  FG_DISPATCH_FLOAT(
      q->dtype(), op, T,
      attention_forward<T>(B, H, L, S, E, D, qc->data<T>(), kc->data<T>(), vc->data<T>(),
                           mask ? mask->data<T>() : nullptr, ms.data(), causal,
                           static_cast<T>(scale), out->data<T>(), lse->data<T>()));
  if (auto n = make_fn_node("ScaledDotProductAttentionBackward", attention_rule, {q, k, v, mask},
                            {out})) {
    n->save(qc);
    n->save(kc);
    n->save(vc);
    n->save(mask);
    n->save(out, true);
    n->save(lse);
    n->ints().push_back(causal ? 1 : 0);
    n->floats().push_back(scale);
  }
  return out;
}

}  // namespace fastgrad
