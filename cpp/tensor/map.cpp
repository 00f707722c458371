// What tensor/map.h declares out of line: copy_into (a strided, broadcasting, casting copy).
// No autograd here.
#include "tensor/map.h"

namespace fastgrad {

void copy_into(const Tensor& dst, const Tensor& src) {
  Shape shape = dst->shape();
  Shape b = broadcast_shapes("copy_", shape, src->shape());
  FG_CHECK(b == shape, "copy_: cannot broadcast a tensor of shape ", src->shape(),
           " into one of shape ", shape);
  std::array<Shape, 2> st{dst->strides(), broadcast_strides(src->shape(), src->strides(), shape)};
  FG_DISPATCH_ALL(dst->dtype(), To, {
    To* pd = dst->data<To>();
    FG_DISPATCH_ALL(src->dtype(), From, {
      const From* ps = src->data<From>();
      for_each_row<2>(
          shape, st,
          [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
        for (int64_t i = 0; i < n; ++i)
          pd[off[0] + i * s[0]] = static_cast<To>(ps[off[1] + i * s[1]]);
      });
    });
  });
}

}  // namespace fastgrad
