// Max pooling op, forward and rule side by side: max_pool2d returns the window maxima and the flat
// positions of their arguments in x; the rule scatters g back with put_add (differentiable: its
// own rule is a take at the same positions). Output sizes (ceil_mode) and 1-D pooling are the
// Python layer's (nn/_functional_conv.py).
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/pool.h"

namespace fastgrad {
namespace {

using Grads = std::vector<Tensor>;

// saved(0) = positions (int64, the output's shape).
GradList max_pool2d_rule(FnNode& n, const Grads& g) {
  return {put_add(g[0], n.saved(0), n.input_meta(0).shape)};
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const std::vector<int64_t>& kernel,
                                     const std::vector<int64_t>& stride,
                                     const std::vector<int64_t>& padding,
                                     const std::vector<int64_t>& dilation,
                                     const std::vector<int64_t>& output_size) {
  const char* op = "max_pool2d";
  FG_TYPE_CHECK(is_floating(x->dtype()), op, ": expected a floating-point input, got ",
                dtype_name(x->dtype()));
  FG_CHECK(x->dim() == 4, op, ": expected a 4-D input (N, C, H, W), got shape ", x->shape());
  FG_CHECK(kernel.size() == 2 && stride.size() == 2 && padding.size() == 2 &&
               dilation.size() == 2 && output_size.size() == 2,
           op, ": kernel, stride, padding, dilation and output size must have 2 values each");
  const Shape& s = x->shape();
  for (int a = 0; a < 2; ++a) {
    FG_CHECK(kernel[a] > 0 && stride[a] > 0 && dilation[a] > 0 && padding[a] >= 0 &&
                 2 * padding[a] <= kernel[a] && output_size[a] >= 0,
             op, ": bad window for input ", "of shape ", s, ": kernel (", kernel[0], ", ",
             kernel[1], "), stride (", stride[0], ", ", stride[1], "), padding (", padding[0], ", ",
             padding[1], "), dilation (", dilation[0], ", ", dilation[1], ")");
    // every window must start inside the input or its left padding and reach the input
    FG_CHECK(
        output_size[a] == 0 ||
            ((output_size[a] - 1) * stride[a] - padding[a] < s[2 + a] &&
             (output_size[a] - 1) * stride[a] - padding[a] + (kernel[a] - 1) * dilation[a] >= 0),
        op, ": output size (", output_size[0], ", ", output_size[1],
        ") does not fit input of shape ", s);
  }
  FG_CHECK(s[2] > 0 && s[3] > 0, op, ": input of shape ", s, " has an empty spatial dim");
  const PoolGeom geo{s[0] * s[1], s[2],        s[3],       output_size[0], output_size[1],
                     kernel[0],   kernel[1],   stride[0],  stride[1],      padding[0],
                     padding[1],  dilation[0], dilation[1]};
  Tensor xc = x;
  if (!x->is_contiguous()) {
    AutoGradMode no_grad(false);
    xc = contiguous(x);
  }
  const Shape out_shape = {s[0], s[1], output_size[0], output_size[1]};
  Tensor out = empty(out_shape, x->dtype());
  Tensor idx = empty(out_shape, DType::Int64);
  FG_DISPATCH_FLOAT(x->dtype(), op, T,
                    max_pool2d_forward(geo, xc->data<T>(), out->data<T>(), idx->data<int64_t>()));
  if (auto n = make_fn_node("MaxPool2DBackward", max_pool2d_rule, {x}, {out})) n->save(idx);
  return {out, idx};
}

}  // namespace fastgrad
