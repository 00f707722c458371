// Elementwise ops: forward (a map over tensor/map.h) and derivative rule side by side, each rule
// declared above its forward and defined directly below it. Rules are vector-Jacobian products
// written with these same differentiable ops (so create_graph works); the fused backward ops
// (relu/sigmoid/tanh_backward) are ops with rules of their own. Creation is in ops_creation.cpp.
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/mask.h"
#include "kernels/vmath.h"
#include "tensor/map.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  FG_TYPE_CHECK(a->dtype() == b->dtype(), op, ": dtypes ", dtype_name(a->dtype()), " and ",
                dtype_name(b->dtype()), " differ");
}

void check_float(const char* op, const Tensor& x) {
  FG_TYPE_CHECK(is_floating(x->dtype()), op, ": expected a floating-point tensor, got ",
                dtype_name(x->dtype()));
}

template <class F>
Tensor float_unary(const char* op, const Tensor& x, F f, int64_t parallel_min = kParallelMin) {
  check_float(op, x);
  Tensor out;
  FG_DISPATCH_FLOAT(x->dtype(), op, T,
                    out = map1<T, T>(x, x->dtype(), [&](T v) { return f(v); }, parallel_min));
  return out;
}

// float_unary with a vectorised kernel: rows(n, in, out) on unit-stride rows, f on strided ones.
template <class Rows, class F>
Tensor float_unary_rows(const char* op, const Tensor& x, Rows rows, F f) {
  check_float(op, x);
  Tensor out;
  FG_DISPATCH_FLOAT(x->dtype(), op, T, {
    out = empty(x->shape(), x->dtype());
    const T* px = x->data<T>();
    T* po = out->data<T>();
    std::array<Shape, 2> st{contiguous_strides(x->shape()), x->strides()};
    const bool stream = out->numel() * int64_t(sizeof(T)) >= kStreamBytes;
    for_each_row<2>(
        x->shape(), st,
        [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
      const T* a = px + off[1];
      const int64_t sa = s[1];
      write_row(po + off[0], n, stream, [&](int64_t i0, int64_t len, T* o) {
        if (sa == 1) {
          rows(len, a + i0, o);
        } else {
          for (int64_t i = 0; i < len; ++i) o[i] = f(a[(i0 + i) * sa]);
        }
      });
    });
  });
  return out;
}

template <class F>
Tensor float_binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(op, a, b);
  check_float(op, a);
  Tensor out;
  FG_DISPATCH_FLOAT(a->dtype(), op, T,
                    out = map2<T, T>(op, a, b, a->dtype(), [&](T x, T y) { return f(x, y); }));
  return out;
}

template <class F>
Tensor numeric_binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(op, a, b);
  Tensor out;
  FG_DISPATCH_NUMERIC(a->dtype(), op, T,
                      out = map2<T, T>(op, a, b, a->dtype(), [&](T x, T y) { return f(x, y); }));
  return out;
}

template <class F>
Tensor compare(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(op, a, b);
  Tensor out;
  FG_DISPATCH_ALL(a->dtype(), T,
                  out = map2<T, bool>(op, a, b, DType::Bool, [&](T x, T y) { return f(x, y); }));
  return out;
}

Tensor zeros_of(const Tensor& like) { return full(like->shape(), 0.0, like->dtype()); }
Tensor scalar_like(double v, const Tensor& like) { return scalar_tensor(v, like->dtype()); }

}  // namespace

// --- unary ---------------------------------------------------------------------------------------
// PARALLEL_MIN: kParallelMinExp for a libm call per element, kParallelMin for sqrt (one
// vector instruction).
#define FG_FLOAT_UNARY(NAME, NODE, EXPR, SAVE_OUTPUT, PARALLEL_MIN)                \
  static GradList NAME##_rule(FnNode& n, const Grads& g);                          \
  Tensor NAME(const Tensor& x) {                                                   \
    Tensor out = float_unary(#NAME, x, [](auto v) { return EXPR; }, PARALLEL_MIN); \
    if (auto n = make_fn_node(NODE, NAME##_rule, {x}, {out})) {                    \
      if (SAVE_OUTPUT) n->save(out, true);                                         \
      else n->save(x);                                                             \
    }                                                                              \
    return out;                                                                    \
  }

FG_FLOAT_UNARY(sqrt, "SqrtBackward", std::sqrt(v), true, kParallelMin)
static GradList sqrt_rule(FnNode& n, const Grads& g) {
  Tensor y = n.saved(0);
  return {div(g[0], mul(y, scalar_like(2.0, y)))};
}
FG_FLOAT_UNARY(sin, "SinBackward", std::sin(v), false, kParallelMinExp)
static GradList sin_rule(FnNode& n, const Grads& g) { return {mul(g[0], cos(n.saved(0)))}; }
FG_FLOAT_UNARY(cos, "CosBackward", std::cos(v), false, kParallelMinExp)
static GradList cos_rule(FnNode& n, const Grads& g) { return {neg(mul(g[0], sin(n.saved(0))))}; }
#undef FG_FLOAT_UNARY

// Note [ReLU mask] (kernels/mask.h): a recorded ReLU of a contiguous input saves one bit per
// element for its backward; any other ReLU (nothing to record, or a strided input) is a plain map
// that saves its output, as the other unary ops do.
namespace {
GradList relu_mask_rule(FnNode& n, const Grads& g);

// body(i0, len) over [0, n) in blocks of kBlock elements (a multiple of 8, so every block starts
// on a mask byte), on several threads for large n.
template <class Body>
void over_blocks(int64_t n, Body body) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, n >= kParallelMin, [&](int64_t b) {
    const int64_t i0 = b * kBlock;
    body(i0, n - i0 < kBlock ? n - i0 : kBlock);
  });
}

// g masked by the bits of a forward ReLU; differentiable in g (the mask is a constant).
Tensor relu_mask_apply(const Tensor& g_in, const Tensor& bits) {
  check_float("relu_backward", g_in);
  const Tensor g = g_in->is_contiguous() ? g_in : contiguous(g_in);
  Tensor out = empty(g->shape(), g->dtype());
  const int64_t n = g->numel();
  FG_DISPATCH_FLOAT(g->dtype(), "relu_backward", T, {
    const bool stream = n * int64_t(sizeof(T)) >= kStreamBytes;
    const T* pg = g->data<T>();
    const uint8_t* pb = bits->data<uint8_t>();
    T* po = out->data<T>();
    over_blocks(n, [&](int64_t i0, int64_t len) {
      relu_mask_backward(len, pg + i0, pb + i0 / 8, po + i0, stream);
    });
  });
  if (auto node = make_fn_node("ReluBackwardBackward", relu_mask_rule, {g}, {out})) {
    node->save(bits);
  }
  return out;
}
// The rule of relu_mask_apply and of a ReLU that saved its mask: the same mask applied to g.
GradList relu_mask_rule(FnNode& n, const Grads& g) { return {relu_mask_apply(g[0], n.saved(0))}; }
}  // namespace

static GradList relu_rule(FnNode& n, const Grads& g);
Tensor relu(const Tensor& x) {
  check_float("relu", x);
  if (!x->is_contiguous() || !any_requires_grad({&x})) {
    Tensor out = float_unary("relu", x,
                             [](auto v) { return v > decltype(v)(0) ? v : decltype(v)(0); });
    if (auto n = make_fn_node("ReluBackward", relu_rule, {x}, {out})) n->save(out, true);
    return out;
  }
  const int64_t n = x->numel();
  Tensor out = empty(x->shape(), x->dtype());
  Tensor bits = empty({(n + 7) / 8}, DType::Bool);
  FG_DISPATCH_FLOAT(x->dtype(), "relu", T, {
    const bool stream = n * int64_t(sizeof(T)) >= kStreamBytes;
    const T* px = x->data<T>();
    T* po = out->data<T>();
    uint8_t* pb = bits->data<uint8_t>();
    over_blocks(n, [&](int64_t i0, int64_t len) {
      relu_mask_forward(len, px + i0, po + i0, pb + i0 / 8, stream);
    });
  });
  if (auto node = make_fn_node("ReluBackward", relu_mask_rule, {x}, {out})) node->save(bits);
  return out;
}
static GradList relu_rule(FnNode& n, const Grads& g) { return {relu_backward(g[0], n.saved(0))}; }

// exp, log, sigmoid and tanh run the vectorised loops of kernels/vmath.
static GradList exp_rule(FnNode& n, const Grads& g);
Tensor exp(const Tensor& x) {
  Tensor out = float_unary_rows("exp", x, [](int64_t n, const auto* a, auto* o) { vexp(n, a, o); },
                                [](auto v) { return exp_any(v); });
  if (auto n = make_fn_node("ExpBackward", exp_rule, {x}, {out})) n->save(out, true);
  return out;
}
static GradList exp_rule(FnNode& n, const Grads& g) { return {mul(g[0], n.saved(0))}; }

static GradList sigmoid_rule(FnNode& n, const Grads& g);
Tensor sigmoid(const Tensor& x) {
  Tensor out = float_unary_rows("sigmoid", x, [](int64_t n, const auto* a, auto* o) {
    vsigmoid(n, a, o);
  }, [](auto v) { return decltype(v)(1) / (decltype(v)(1) + exp_any(-v)); });
  if (auto n = make_fn_node("SigmoidBackward", sigmoid_rule, {x}, {out})) n->save(out, true);
  return out;
}
static GradList sigmoid_rule(FnNode& n, const Grads& g) {
  return {sigmoid_backward(g[0], n.saved(0))};
}

static GradList log_rule(FnNode& n, const Grads& g);
Tensor log(const Tensor& x) {
  Tensor out = float_unary_rows("log", x, [](int64_t n, const auto* a, auto* o) { vlog(n, a, o); },
                                [](auto v) { return log_core(v); });
  if (auto n = make_fn_node("LogBackward", log_rule, {x}, {out})) n->save(x);
  return out;
}
static GradList log_rule(FnNode& n, const Grads& g) { return {div(g[0], n.saved(0))}; }

static GradList tanh_rule(FnNode& n, const Grads& g);
Tensor tanh(const Tensor& x) {
  Tensor out = float_unary_rows("tanh", x, [](int64_t n, const auto* a, auto* o) {
    vtanh(n, a, o);
  }, [](auto v) { return tanh_core(v); });
  if (auto n = make_fn_node("TanhBackward", tanh_rule, {x}, {out})) n->save(out, true);
  return out;
}
static GradList tanh_rule(FnNode& n, const Grads& g) { return {tanh_backward(g[0], n.saved(0))}; }

static GradList neg_rule(FnNode& n, const Grads& g);
Tensor neg(const Tensor& x) {
  Tensor out;
  FG_DISPATCH_NUMERIC(x->dtype(), "neg", T,
                      out = map1<T, T>(x, x->dtype(), [](T v) { return -v; }));
  make_fn_node("NegBackward", neg_rule, {x}, {out});
  return out;
}
static GradList neg_rule(FnNode& n, const Grads& g) { return {neg(g[0])}; }

static GradList abs_rule(FnNode& n, const Grads& g);
Tensor abs(const Tensor& x) {
  Tensor out;
  FG_DISPATCH_NUMERIC(x->dtype(), "abs", T,
                      out = map1<T, T>(x, x->dtype(), [](T v) { return v < T(0) ? -v : v; }));
  if (auto n = make_fn_node("AbsBackward", abs_rule, {x}, {out})) n->save(x);
  return out;
}
static GradList abs_rule(FnNode& n, const Grads& g) { return {mul(g[0], sign(n.saved(0)))}; }

Tensor sign(const Tensor& x) {
  Tensor out;
  FG_DISPATCH_NUMERIC(x->dtype(), "sign", T, out = map1<T, T>(x, x->dtype(), [](T v) {
    return static_cast<T>((v > T(0)) - (v < T(0)));
  }));
  return out;
}

Tensor logical_not(const Tensor& x) {
  FG_TYPE_CHECK(x->dtype() == DType::Bool, "logical_not: expected a bool tensor, got ",
                dtype_name(x->dtype()));
  return map1<bool, bool>(x, DType::Bool, [](bool v) { return !v; });
}

// --- fused backward ops --------------------------------------------------------------------------
static GradList relu_backward_rule(FnNode& n, const Grads& g);
Tensor relu_backward(const Tensor& g, const Tensor& y) {
  Tensor out = float_binary("relu_backward", g, y, [](auto gv, auto yv) {
    return yv > decltype(yv)(0) ? gv : decltype(gv)(0);
  });
  if (auto n = make_fn_node("ReluBackwardBackward", relu_backward_rule, {g, y}, {out})) {
    n->save(g);
    n->save(y);
  }
  return out;
}
static GradList relu_backward_rule(FnNode& n, const Grads& g) {
  return {relu_backward(g[0], n.saved(1)), nullptr};
}

static GradList sigmoid_backward_rule(FnNode& n, const Grads& g);
Tensor sigmoid_backward(const Tensor& g, const Tensor& y) {
  Tensor out = float_binary("sigmoid_backward", g, y,
                            [](auto gv, auto yv) { return gv * yv * (decltype(yv)(1) - yv); });
  if (auto n = make_fn_node("SigmoidBackwardBackward", sigmoid_backward_rule, {g, y}, {out})) {
    n->save(g);
    n->save(y);
  }
  return out;
}
static GradList sigmoid_backward_rule(FnNode& n, const Grads& g) {
  Tensor go = n.saved(0), y = n.saved(1);
  Tensor dg = n.needs_input_grad(0) ? sigmoid_backward(g[0], y) : nullptr;
  Tensor dy;
  if (n.needs_input_grad(1)) {
    dy = mul(mul(g[0], go), sub(scalar_like(1.0, y), mul(scalar_like(2.0, y), y)));
  }
  return {dg, dy};
}

static GradList tanh_backward_rule(FnNode& n, const Grads& g);
Tensor tanh_backward(const Tensor& g, const Tensor& y) {
  Tensor out = float_binary("tanh_backward", g, y,
                            [](auto gv, auto yv) { return gv * (decltype(yv)(1) - yv * yv); });
  if (auto n = make_fn_node("TanhBackwardBackward", tanh_backward_rule, {g, y}, {out})) {
    n->save(g);
    n->save(y);
  }
  return out;
}
static GradList tanh_backward_rule(FnNode& n, const Grads& g) {
  Tensor go = n.saved(0), y = n.saved(1);
  Tensor dg = n.needs_input_grad(0) ? tanh_backward(g[0], y) : nullptr;
  Tensor dy = n.needs_input_grad(1) ? mul(mul(g[0], go), mul(scalar_like(-2.0, y), y)) : nullptr;
  return {dg, dy};
}

// --- binary --------------------------------------------------------------------------------------
static GradList add_rule(FnNode& n, const Grads& g);
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out;
  if (a->dtype() == DType::Bool && b->dtype() == DType::Bool) {
    out = map2<bool, bool>("add", a, b, DType::Bool, [](bool x, bool y) { return x || y; });
  } else {
    out = numeric_binary("add", a, b, [](auto x, auto y) { return x + y; });
  }
  make_fn_node("AddBackward", add_rule, {a, b}, {out});
  return out;
}
static GradList add_rule(FnNode& n, const Grads& g) { return {g[0], g[0]}; }

static GradList sub_rule(FnNode& n, const Grads& g);
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = numeric_binary("sub", a, b, [](auto x, auto y) { return x - y; });
  make_fn_node("SubBackward", sub_rule, {a, b}, {out});
  return out;
}
static GradList sub_rule(FnNode& n, const Grads& g) {
  return {g[0], n.needs_input_grad(1) ? neg(g[0]) : nullptr};
}

static GradList mul_rule(FnNode& n, const Grads& g);
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out;
  if (a->dtype() == DType::Bool && b->dtype() == DType::Bool) {
    out = map2<bool, bool>("mul", a, b, DType::Bool, [](bool x, bool y) { return x && y; });
  } else {
    out = numeric_binary("mul", a, b, [](auto x, auto y) { return x * y; });
  }
  if (auto n = make_fn_node("MulBackward", mul_rule, {a, b}, {out})) {
    n->save(a);
    n->save(b);
  }
  return out;
}
static GradList mul_rule(FnNode& n, const Grads& g) {
  return {n.needs_input_grad(0) ? mul(g[0], n.saved(1)) : nullptr,
          n.needs_input_grad(1) ? mul(g[0], n.saved(0)) : nullptr};
}

static GradList div_rule(FnNode& n, const Grads& g);
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = float_binary("div", a, b, [](auto x, auto y) { return x / y; });
  if (auto n = make_fn_node("DivBackward", div_rule, {a, b}, {out})) {
    n->save(a);
    n->save(b);
  }
  return out;
}
static GradList div_rule(FnNode& n, const Grads& g) {
  Tensor a = n.saved(0), b = n.saved(1);
  Tensor da = n.needs_input_grad(0) ? div(g[0], b) : nullptr;
  Tensor db = n.needs_input_grad(1) ? neg(div(mul(g[0], a), mul(b, b))) : nullptr;
  return {da, db};
}

// Note [pow fast paths]: a 0-d exponent of 2, 3, 1, 0.5, -0.5, -1 or -2 (x ** 2 in a squared
// error, and the b - 1 = 1 of its backward) is computed with multiplies, sqrt and a division
// instead of a std::pow call per element (x ** 2 of 1e6 floats took 3.4 ms, 35x NumPy's x * x).
// x * x, x and sqrt(x) are correctly rounded, as glibc's pow is, so 2, 1 and 0.5 give pow's bits;
// the others may differ in the last place. Special values follow NumPy (the Python backend):
// x ** 0.5 is sqrt(x) there too (-0 at -0, NaN at -inf, as in PyTorch), x ** -0.5 is C's pow
// (+inf at -0, +0 at -inf).
namespace {
template <class T>
Tensor pow_scalar(const Tensor& a, T e) {
  const DType dt = a->dtype();
  const T inf = std::numeric_limits<T>::infinity();
  if (e == T(2)) return map1<T, T>(a, dt, [](T x) { return x * x; });
  if (e == T(3)) return map1<T, T>(a, dt, [](T x) { return x * x * x; });
  if (e == T(1)) return map1<T, T>(a, dt, [](T x) { return x; });
  if (e == T(-1)) return map1<T, T>(a, dt, [](T x) { return T(1) / x; });
  if (e == T(-2)) return map1<T, T>(a, dt, [](T x) { return T(1) / (x * x); });
  if (e == T(0.5)) return map1<T, T>(a, dt, [](T x) { return std::sqrt(x); });
  // select (kernels/vmath.h), not ?:, so the loop vectorises
  if (e == T(-0.5))
    return map1<T, T>(a, dt,
                      [=](T x) { return select(x == -inf, T(0), T(1) / std::sqrt(x + T(0))); });
  return nullptr;
}
}  // namespace

static GradList pow_rule(FnNode& n, const Grads& g);
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out;
  if (b->dim() == 0 && a->dtype() == b->dtype() && is_floating(a->dtype())) {
    FG_DISPATCH_FLOAT(a->dtype(), "pow", T, out = pow_scalar<T>(a, *b->data<T>()));
  }
  if (!out) out = float_binary("pow", a, b, [](auto x, auto y) { return std::pow(x, y); });
  if (auto n = make_fn_node("PowBackward", pow_rule, {a, b}, {out})) {
    n->save(a);
    n->save(b);
    n->save(out, true);
  }
  return out;
}
static GradList pow_rule(FnNode& n, const Grads& g) {
  Tensor a = n.saved(0), b = n.saved(1);
  Tensor da, db;
  if (n.needs_input_grad(0)) da = mul(g[0], mul(b, pow(a, sub(b, scalar_like(1.0, b)))));
  if (n.needs_input_grad(1)) {
    // d/db a^b = a^b log a; defined as 0 where a == 0 (as PyTorch does for b >= 0).
    Tensor y = n.saved(2);
    Tensor safe_log = log(where(eq(a, zeros_of(a)), full(a->shape(), 1.0, a->dtype()), a));
    db = mul(g[0], mul(y, safe_log));
  }
  return {da, db};
}

static GradList maximum_rule(FnNode& n, const Grads& g);
static GradList select_rule(FnNode& n, const Grads& g, bool is_max);
Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = numeric_binary("maximum", a, b, [](auto x, auto y) {
    return (x != x) ? x : (x > y ? x : y);  // NaN propagates as in NumPy
  });
  if (auto n = make_fn_node("MaximumBackward", maximum_rule, {a, b}, {out})) {
    n->save(a);
    n->save(b);
  }
  return out;
}
static GradList maximum_rule(FnNode& n, const Grads& g) { return select_rule(n, g, true); }

static GradList minimum_rule(FnNode& n, const Grads& g);
Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = numeric_binary("minimum", a, b,
                              [](auto x, auto y) { return (x != x) ? x : (x < y ? x : y); });
  if (auto n = make_fn_node("MinimumBackward", minimum_rule, {a, b}, {out})) {
    n->save(a);
    n->save(b);
  }
  return out;
}
static GradList minimum_rule(FnNode& n, const Grads& g) { return select_rule(n, g, false); }

// maximum/minimum: the gradient goes to the larger (smaller) input, split evenly on ties.
static GradList select_rule(FnNode& n, const Grads& g, bool is_max) {
  Tensor a = n.saved(0), b = n.saved(1);
  Tensor half = scalar_like(0.5, g[0]);
  Tensor zero = scalar_like(0.0, g[0]);
  Tensor tie = eq(a, b);
  Tensor a_wins = is_max ? gt(a, b) : lt(a, b);
  Tensor b_wins = is_max ? lt(a, b) : gt(a, b);
  Tensor ghalf = mul(g[0], half);
  Tensor da, db;
  if (n.needs_input_grad(0)) da = where(a_wins, g[0], where(tie, ghalf, zero));
  if (n.needs_input_grad(1)) db = where(b_wins, g[0], where(tie, ghalf, zero));
  return {da, db};
}

Tensor lt(const Tensor& a, const Tensor& b) {
  return compare("lt", a, b, [](auto x, auto y) { return x < y; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare("le", a, b, [](auto x, auto y) { return x <= y; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare("gt", a, b, [](auto x, auto y) { return x > y; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare("ge", a, b, [](auto x, auto y) { return x >= y; });
}
Tensor eq(const Tensor& a, const Tensor& b) {
  return compare("eq", a, b, [](auto x, auto y) { return x == y; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare("ne", a, b, [](auto x, auto y) { return x != y; });
}

static GradList where_rule(FnNode& n, const Grads& g);
Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) {
  FG_TYPE_CHECK(c->dtype() == DType::Bool, "where: condition must be a bool tensor, got ",
                dtype_name(c->dtype()));
  check_same_dtype("where", a, b);
  Tensor out;
  FG_DISPATCH_ALL(a->dtype(), T,
                  out = map3<bool, T, T>("where", c, a, b, a->dtype(),
                                         [](bool p, T x, T y) { return p ? x : y; }));
  if (auto n = make_fn_node("WhereBackward", where_rule, {c, a, b}, {out})) n->save(c);
  return out;
}
static GradList where_rule(FnNode& n, const Grads& g) {
  Tensor c = n.saved(0);
  Tensor zero = scalar_like(0.0, g[0]);
  return {nullptr, n.needs_input_grad(1) ? where(c, g[0], zero) : nullptr,
          n.needs_input_grad(2) ? where(c, zero, g[0]) : nullptr};
}

// clamp's bounds as its rule reads them, kept in the node's floats() as {has_lo, lo, has_hi, hi}.
namespace {
struct ClampBounds {
  std::optional<double> lo, hi;
  void save(FnNode& n) const {
    n.floats() = {lo ? 1.0 : 0.0, lo.value_or(0.0), hi ? 1.0 : 0.0, hi.value_or(0.0)};
  }
  static ClampBounds of(FnNode& n) {
    const std::vector<double>& f = n.floats();
    return {f[0] != 0.0 ? std::optional<double>(f[1]) : std::nullopt,
            f[2] != 0.0 ? std::optional<double>(f[3]) : std::nullopt};
  }
};
}  // namespace

static GradList clamp_rule(FnNode& n, const Grads& g);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  Tensor out;
  const bool has_lo = lo.has_value(), has_hi = hi.has_value();
  const double l = lo.value_or(0.0), h = hi.value_or(0.0);
  FG_DISPATCH_NUMERIC(x->dtype(), "clamp", T, out = map1<T, T>(x, x->dtype(), [=](T v) {
    if (has_lo && v < static_cast<T>(l)) v = static_cast<T>(l);
    if (has_hi && v > static_cast<T>(h)) v = static_cast<T>(h);
    return v;
  }));
  if (auto n = make_fn_node("ClampBackward", clamp_rule, {x}, {out})) {
    n->save(x);
    ClampBounds{lo, hi}.save(*n);
  }
  return out;
}
static GradList clamp_rule(FnNode& n, const Grads& g) {
  // The gradient passes where lo <= x <= hi.
  const ClampBounds b = ClampBounds::of(n);
  Tensor x = n.saved(0);
  Tensor zero = scalar_like(0.0, g[0]);
  Tensor r = g[0];
  if (b.lo) r = where(lt(x, scalar_like(*b.lo, x)), zero, r);
  if (b.hi) r = where(gt(x, scalar_like(*b.hi, x)), zero, r);
  return {r};
}

// --- dtype, copies -------------------------------------------------------------------------------
template <class To>
static Tensor cast_to(const Tensor& x, DType d) {
  Tensor out;
  FG_DISPATCH_ALL(x->dtype(), From,
                  out = map1<From, To>(x, d, [](From v) { return static_cast<To>(v); }));
  return out;
}

static GradList to_dtype_rule(FnNode& n, const Grads& g);
Tensor to_dtype(const Tensor& x, DType d) {
  if (x->dtype() == d) return x;
  Tensor out;
  FG_DISPATCH_ALL(d, To, out = cast_to<To>(x, d));
  if (is_floating(x->dtype()) && is_floating(d)) {
    make_fn_node("ToDtypeBackward", to_dtype_rule, {x}, {out});
  }
  return out;
}
static GradList to_dtype_rule(FnNode& n, const Grads& g) {
  return {to_dtype(g[0], n.input_meta(0).dtype)};
}

static GradList identity_rule(FnNode& n, const Grads& g);
Tensor clone(const Tensor& x) {
  Tensor out;
  FG_DISPATCH_ALL(x->dtype(), T, out = map1<T, T>(x, x->dtype(), [](T v) { return v; }));
  make_fn_node("CloneBackward", identity_rule, {x}, {out});
  return out;
}
static GradList identity_rule(FnNode& n, const Grads& g) { return {g[0]}; }

// --- log1p, expm1, erf, softplus: libm per element (std::log1p, ...), forward then rule ---------
namespace {
GradList log1p_rule(FnNode& n, const Grads& g);
GradList expm1_rule(FnNode& n, const Grads& g);
GradList erf_rule(FnNode& n, const Grads& g);
GradList softplus_rule(FnNode& n, const Grads& g);
}  // namespace

// log(1 + x), accurate for small x. d/dx = 1 / (1 + x).
Tensor log1p(const Tensor& x) {
  Tensor out = float_unary("log1p", x, [](auto v) { return std::log1p(v); });
  if (auto n = make_fn_node("Log1PBackward", log1p_rule, {x}, {out})) n->save(x);
  return out;
}
namespace {
GradList log1p_rule(FnNode& n, const Grads& g) {
  Tensor x = n.saved(0);
  return {div(g[0], add(x, scalar_like(1.0, x)))};
}
}  // namespace

// exp(x) - 1, accurate for small x. d/dx = exp(x) = y + 1.
Tensor expm1(const Tensor& x) {
  Tensor out = float_unary("expm1", x, [](auto v) { return std::expm1(v); });
  if (auto n = make_fn_node("Expm1Backward", expm1_rule, {x}, {out})) n->save(out, true);
  return out;
}
namespace {
GradList expm1_rule(FnNode& n, const Grads& g) {
  Tensor y = n.saved(0);
  return {mul(g[0], add(y, scalar_like(1.0, y)))};
}
}  // namespace

// The error function. d/dx = 2 / sqrt(pi) * exp(-x^2).
Tensor erf(const Tensor& x) {
  Tensor out = float_unary("erf", x, [](auto v) { return std::erf(v); });
  if (auto n = make_fn_node("ErfBackward", erf_rule, {x}, {out})) n->save(x);
  return out;
}
namespace {
GradList erf_rule(FnNode& n, const Grads& g) {
  Tensor x = n.saved(0);
  Tensor d = mul(exp(neg(mul(x, x))), scalar_like(1.1283791670955126, x));  // 2 / sqrt(pi)
  return {mul(g[0], d)};
}
}  // namespace

// log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so it neither overflows nor loses
// small values. d/dx = sigmoid(x). (nn.functional.softplus adds beta and threshold.)
Tensor softplus(const Tensor& x) {
  Tensor out = float_unary("softplus", x, [](auto v) {
    using T = decltype(v);
    return (v > T(0) ? v : T(0)) + std::log1p(std::exp(-std::fabs(v)));
  });
  if (auto n = make_fn_node("SoftplusBackward", softplus_rule, {x}, {out})) n->save(x);
  return out;
}
namespace {
GradList softplus_rule(FnNode& n, const Grads& g) { return {mul(g[0], sigmoid(n.saved(0)))}; }
}  // namespace

// --- floor, ceil, round: no slope anywhere, so their gradient is zero (as PyTorch's) -----------
namespace {
GradList zero_rule(FnNode& n, const Grads& g) { return {zeros_like(g[0])}; }

template <class F>
Tensor rounding(const char* op, const char* node, const Tensor& x, F f) {
  Tensor out;
  FG_DISPATCH_NUMERIC(x->dtype(), op, T, {
    if constexpr (std::is_floating_point_v<T>) {
      out = map1<T, T>(x, x->dtype(), [&](T v) { return f(v); });
    } else {
      out = map1<T, T>(x, x->dtype(), [](T v) { return v; });  // integers are already whole
    }
  });
  make_fn_node(node, zero_rule, {x}, {out});
  return out;
}
}  // namespace

Tensor floor(const Tensor& x) {
  return rounding("floor", "FloorBackward", x, [](auto v) { return std::floor(v); });
}
Tensor ceil(const Tensor& x) {
  return rounding("ceil", "CeilBackward", x, [](auto v) { return std::ceil(v); });
}
// Halves to even, as NumPy and PyTorch (the default rounding mode of nearbyint).
Tensor round(const Tensor& x) {
  return rounding("round", "RoundBackward", x, [](auto v) { return std::nearbyint(v); });
}

}  // namespace fastgrad
