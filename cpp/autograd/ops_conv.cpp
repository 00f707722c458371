// 2-D convolution ops, forward and rule side by side: conv2d, conv_transpose2d (its input
// gradient) and conv2d_weight (its weight gradient). Each op's rule is written with the other two,
// so create_graph differentiates a convolution again. NCHW, 4-D only, symmetric zero padding:
// 1-D convolution, bias, 'same' and other padding modes are the Python layer's (nn/_functional_conv.py).
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/conv.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// ints() of every conv node: {sh, sw, ph, pw, dh, dw, groups, a, b, c, d}, where a..d are the
// input's H, W (conv2d, conv_transpose2d) or the weight's shape (conv2d_weight).
struct Params {
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

Params parse(const char* op, const std::vector<int64_t>& stride,
             const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
             int64_t groups) {
  FG_CHECK(stride.size() == 2 && padding.size() == 2 && dilation.size() == 2, op,
           ": stride, padding and dilation must have 2 values each, got ", stride.size(), ", ",
           padding.size(), " and ", dilation.size());
  FG_CHECK(stride[0] > 0 && stride[1] > 0, op, ": stride must be positive, got (", stride[0], ", ",
           stride[1], ")");
  FG_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": padding must be non-negative, got (",
           padding[0], ", ", padding[1], ")");
  FG_CHECK(dilation[0] > 0 && dilation[1] > 0, op, ": dilation must be positive, got (",
           dilation[0], ", ", dilation[1], ")");
  FG_CHECK(groups > 0, op, ": groups must be positive, got ", groups);
  return {stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups};
}

void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
  FG_TYPE_CHECK(is_floating(a->dtype()) && a->dtype() == b->dtype(), op,
                ": expected two floating-point tensors of one dtype, got ", dtype_name(a->dtype()),
                " and ", dtype_name(b->dtype()));
}

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// x (N, C, H, W) and w (O, C/groups, KH, KW) checked; the geometry with output size (OH, OW).
ConvGeom geometry(const char* op, const Shape& xs, const Shape& ws, const Params& p, int64_t OH,
                  int64_t OW) {
  FG_CHECK(xs.size() == 4 && ws.size() == 4, op, ": expected a 4-D input (N, C, H, W) and a 4-D ",
           "weight (O, C/groups, KH, KW), got shapes ", xs, " and ", ws);
  FG_CHECK(ws[0] % p.groups == 0, op, ": weight of shape ", ws, ": out channels ", ws[0],
           " not divisible by groups ", p.groups);
  FG_CHECK(xs[1] == ws[1] * p.groups, op, ": input of shape ", xs, " has ", xs[1],
           " channels, weight of shape ", ws, " with groups=", p.groups, " expects ",
           ws[1] * p.groups);
  return {xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], OH,
          OW,    p.sh,  p.sw,  p.ph,  p.pw,  p.dh,  p.dw,  p.groups};
}

Tensor dense(const Tensor& t) {
  if (t->is_contiguous()) return t;
  AutoGradMode no_grad(false);
  return contiguous(t);
}

std::vector<int64_t> vec2(int64_t a, int64_t b) { return {a, b}; }

void save_params(FnNode& n, const Params& p, int64_t a, int64_t b, int64_t c, int64_t d) {
  n.ints() = {p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.groups, a, b, c, d};
}

struct Args {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups;
};
Args args_of(FnNode& n) {
  const auto& v = n.ints();
  return {vec2(v[0], v[1]), vec2(v[2], v[3]), vec2(v[4], v[5]), v[6]};
}

// dx, dw of y = conv2d(x, w) for y's gradient gy: dx = conv_transpose2d(gy, w) at x's size, dw =
// conv2d_weight(x, gy); each only when needed. Saved: x, w; ints: the params, then x's H, W.
std::pair<Tensor, Tensor> conv2d_grads(FnNode& n, const Tensor& gy) {
  const Args a = args_of(n);
  const auto& v = n.ints();
  Tensor dx, dw;
  if (n.needs_input_grad(0)) {
    dx = conv_transpose2d(gy, n.saved(1), a.stride, a.padding, a.dilation, a.groups, {v[7], v[8]});
  }
  if (n.needs_input_grad(1)) {
    dw = conv2d_weight(n.saved(0), gy, n.saved(1)->shape(), a.stride, a.padding, a.dilation,
                       a.groups);
  }
  return {dx, dw};
}

GradList conv2d_rule(FnNode& n, const Grads& g) {
  auto [dx, dw] = conv2d_grads(n, g[0]);
  return {std::move(dx), std::move(dw)};
}

// conv_transpose2d(gy, w) -> dx: linear in each; d gy = conv2d(G, w), d w = conv2d_weight(G, gy).
GradList conv_transpose2d_rule(FnNode& n, const Grads& g) {
  const Args a = args_of(n);
  Tensor dgy, dw;
  if (n.needs_input_grad(0))
    dgy = conv2d(g[0], n.saved(1), a.stride, a.padding, a.dilation, a.groups);
  if (n.needs_input_grad(1)) {
    dw = conv2d_weight(g[0], n.saved(0), n.saved(1)->shape(), a.stride, a.padding, a.dilation,
                       a.groups);
  }
  return {dgy, dw};
}

// conv2d_weight(x, gy) -> dw: d x = conv_transpose2d(gy, G) at x's size, d gy = conv2d(x, G).
GradList conv2d_weight_rule(FnNode& n, const Grads& g) {
  const Args a = args_of(n);
  const Shape& xs = n.saved(0)->shape();
  Tensor dx, dgy;
  if (n.needs_input_grad(0)) {
    dx = conv_transpose2d(n.saved(1), g[0], a.stride, a.padding, a.dilation, a.groups,
                          {xs[2], xs[3]});
  }
  if (n.needs_input_grad(1))
    dgy = conv2d(n.saved(0), g[0], a.stride, a.padding, a.dilation, a.groups);
  return {dx, dgy};
}

// conv2d_fused(x, w, b, relu) = relu?(conv2d(x, w) + b): g masked by the output when relu (the
// mask of relu's own rule), then conv2d's rule and db = the masked g summed over (N, OH, OW).
GradList conv2d_fused_rule(FnNode& n, const Grads& g) {
  const Tensor gy = n.ints()[9] ? relu_backward(g[0], n.saved(2)) : g[0];
  auto [dx, dw] = conv2d_grads(n, gy);
  Tensor db = n.needs_input_grad(2) ? sum(gy, {0, 2, 3}, false) : Tensor();
  return {std::move(dx), std::move(dw), std::move(db)};
}

// The checks and geometry of a forward convolution of x (N, C, H, W) with w (O, C/groups, KH,
// KW), the output size following from the arguments.
struct ForwardPlan {
  Params p;
  ConvGeom geo;
};
ForwardPlan forward_plan(const char* op, const Tensor& x, const Tensor& w,
                         const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                         const std::vector<int64_t>& dilation, int64_t groups) {
  const Params p = parse(op, stride, padding, dilation, groups);
  check_float_pair(op, x, w);
  const Shape& xs = x->shape();
  const Shape& ws = w->shape();
  FG_CHECK(xs.size() == 4 && ws.size() == 4, op, ": expected a 4-D input (N, C, H, W) and a 4-D ",
           "weight (O, C/groups, KH, KW), got shapes ", xs, " and ", ws);
  const int64_t OH = out_size(xs[2], ws[2], p.sh, p.ph, p.dh);
  const int64_t OW = out_size(xs[3], ws[3], p.sw, p.pw, p.dw);
  FG_CHECK(OH > 0 && OW > 0, op, ": input of shape ", xs, " (padded ", xs[2] + 2 * p.ph, "x",
           xs[3] + 2 * p.pw, ") is smaller than the dilated kernel of weight shape ", ws);
  return {p, geometry(op, xs, ws, p, OH, OW)};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const std::vector<int64_t>& stride,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
              int64_t groups) {
  const char* op = "conv2d";
  const auto [p, geo] = forward_plan(op, x, w, stride, padding, dilation, groups);
  Tensor out = empty({geo.N, geo.O, geo.OH, geo.OW}, x->dtype());
  const Tensor xc = dense(x), wc = dense(w);
  FG_DISPATCH_FLOAT(
      x->dtype(), op, T,
      conv2d_forward(geo, xc->data<T>(), wc->data<T>(), nullptr, false, out->data<T>()));
  if (auto n = make_fn_node("Conv2dBackward", conv2d_rule, {x, w}, {out})) {
    n->save(x);
    n->save(w);
    save_params(*n, p, geo.H, geo.W, 0, 0);
  }
  return out;
}

Tensor conv_transpose2d(const Tensor& gy, const Tensor& w, const std::vector<int64_t>& stride,
                        const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
                        int64_t groups, const std::vector<int64_t>& input_size) {
  const char* op = "conv_transpose2d";
  const Params p = parse(op, stride, padding, dilation, groups);
  check_float_pair(op, gy, w);
  const Shape& gs = gy->shape();
  const Shape& ws = w->shape();
  FG_CHECK(gs.size() == 4 && ws.size() == 4, op, ": expected a 4-D input (N, C, H, W) and a 4-D ",
           "weight (C, O/groups, KH, KW), got shapes ", gs, " and ", ws);
  FG_CHECK(input_size.size() == 2 && input_size[0] >= 0 && input_size[1] >= 0, op,
           ": output size must be 2 non-negative values");
  const int64_t H = input_size[0], W = input_size[1];
  FG_CHECK(gs[1] == ws[0], op, ": input of shape ", gs, " has ", gs[1],
           " channels, weight of shape ", ws, " expects ", ws[0]);
  FG_CHECK(out_size(H, ws[2], p.sh, p.ph, p.dh) == gs[2] &&
               out_size(W, ws[3], p.sw, p.pw, p.dw) == gs[3],
           op, ": output size (", H, ", ", W, ") does not match input of shape ", gs,
           " and weight of shape ", ws,
           " (output_padding must be smaller than stride or dilation)");
  const Shape xs = {gs[0], ws[1] * groups, H, W};
  const ConvGeom geo = geometry(op, xs, ws, p, gs[2], gs[3]);
  Tensor out = empty(xs, gy->dtype());
  const Tensor gc = dense(gy), wc = dense(w);
  FG_DISPATCH_FLOAT(gy->dtype(), op, T,
                    conv2d_input_grad(geo, gc->data<T>(), wc->data<T>(), out->data<T>()));
  if (auto n = make_fn_node("ConvTranspose2dBackward", conv_transpose2d_rule, {gy, w}, {out})) {
    n->save(gy);
    n->save(w);
    save_params(*n, p, H, W, 0, 0);
  }
  return out;
}

Tensor conv2d_weight(const Tensor& x, const Tensor& gy, const Shape& weight_shape,
                     const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                     const std::vector<int64_t>& dilation, int64_t groups) {
  const char* op = "conv2d_weight";
  const Params p = parse(op, stride, padding, dilation, groups);
  check_float_pair(op, x, gy);
  const Shape& xs = x->shape();
  const Shape& gs = gy->shape();
  FG_CHECK(weight_shape.size() == 4, op, ": weight shape must have 4 dims, got ", weight_shape);
  const ConvGeom geo = geometry(op, xs, weight_shape, p, gs.size() == 4 ? gs[2] : -1,
                                gs.size() == 4 ? gs[3] : -1);
  FG_CHECK(gs.size() == 4 && gs[0] == xs[0] && gs[1] == weight_shape[0] &&
               gs[2] == out_size(xs[2], weight_shape[2], p.sh, p.ph, p.dh) &&
               gs[3] == out_size(xs[3], weight_shape[3], p.sw, p.pw, p.dw),
           op, ": grad output of shape ", gs, " does not match input of shape ", xs,
           " and weight shape ", weight_shape);
  Tensor out = empty(weight_shape, x->dtype());
  const Tensor xc = dense(x), gc = dense(gy);
  FG_DISPATCH_FLOAT(x->dtype(), op, T,
                    conv2d_weight_grad(geo, xc->data<T>(), gc->data<T>(), out->data<T>()));
  if (auto n = make_fn_node("Conv2dWeightBackward", conv2d_weight_rule, {x, gy}, {out})) {
    n->save(x);
    n->save(gy);
    save_params(*n, p, weight_shape[0], weight_shape[1], weight_shape[2], weight_shape[3]);
  }
  return out;
}

Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& b,
                    const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                    const std::vector<int64_t>& dilation, int64_t groups, bool relu) {
  const char* op = "conv2d_fused";
  const auto [p, geo] = forward_plan(op, x, w, stride, padding, dilation, groups);
  if (b) {
    check_float_pair(op, x, b);
    FG_CHECK(b->shape().size() == 1 && b->shape()[0] == geo.O, op, ": bias of shape ", b->shape(),
             " does not match weight of shape ", w->shape(), " (expected (", geo.O, ",))");
  }
  Tensor out = empty({geo.N, geo.O, geo.OH, geo.OW}, x->dtype());
  const Tensor xc = dense(x), wc = dense(w);
  const Tensor bc = b ? dense(b) : Tensor();
  FG_DISPATCH_FLOAT(x->dtype(), op, T,
                    conv2d_forward(geo, xc->data<T>(), wc->data<T>(), bc ? bc->data<T>() : nullptr,
                                   relu, out->data<T>()));
  if (auto n = make_fn_node(relu ? "ConvReLU2dBackward" : "Conv2dBiasBackward", conv2d_fused_rule,
                            {x, w, b}, {out})) {
    n->save(x);
    n->save(w);
    // the output only for the ReLU mask: conv + bias alone keeps no output alive (a following
    // relu saves its own bits, and the output can be freed as with the unfused ops)
    if (relu) n->save(out, true);
    save_params(*n, p, geo.H, geo.W, relu ? 1 : 0, 0);
  }
  return out;
}

}  // namespace fastgrad
