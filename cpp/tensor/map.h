// Tensor-level elementwise maps built on for_each_row: unary, binary (NumPy broadcasting) and
// ternary. Outputs are fresh contiguous tensors. The functor sees scalars only, so the compiler
// vectorises the unit-stride inner loop. No autograd here.
#pragma once
#include "tensor/iter.h"
#include "tensor/stream.h"
#include "tensor/tensor.h"

namespace fastgrad {

// True when n elements are handled by one thread (for_each_row's own rule), so a fast path that
// skips it changes nothing about who computes what.
inline bool serial_size(int64_t n, int64_t parallel_min = kParallelMin) {
  return n < parallel_min || num_threads() == 1;
}

// out[i] = f(x[i]) with x of type Tin, out of dtype `out_dtype` (type Tout); split over the
// threads from `parallel_min` elements.
template <class Tin, class Tout, class F>
Tensor map1(const Tensor& x, DType out_dtype, F f, int64_t parallel_min = kParallelMin) {
  Tensor out = empty(x->shape(), out_dtype);
  const Tin* px = x->data<Tin>();
  Tout* po = out->data<Tout>();
  const bool stream = out->numel() * int64_t(sizeof(Tout)) >= kStreamBytes;
  if (x->is_contiguous() && serial_size(x->numel(), parallel_min)) {  // the tiny-op path
    write_row(po, x->numel(), stream, [&](int64_t i0, int64_t len, Tout* o) {
      for (int64_t i = 0; i < len; ++i) o[i] = f(px[i0 + i]);
    });
    return out;
  }
  std::array<Shape, 2> st{contiguous_strides(x->shape()), x->strides()};
  for_each_row<2>(
      x->shape(), st,
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
    const Tin* a = px + off[1];
    const int64_t sa = s[1];
    write_row(po + off[0], n, stream, [&](int64_t i0, int64_t len, Tout* o) {
      if (sa == 1) {
        for (int64_t i = 0; i < len; ++i) o[i] = f(a[i0 + i]);
      } else if (sa == 0) {  // an expanded row (broadcast_to, sum's gradient): one value
        const Tout v = f(a[0]);
        for (int64_t i = 0; i < len; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < len; ++i) o[i] = f(a[(i0 + i) * sa]);
      }
    });
  }, parallel_min);
  return out;
}

// out = f(a, b) broadcast; a and b of type T, out of type Tout.
template <class T, class Tout, class F>
Tensor map2(const char* op, const Tensor& a, const Tensor& b, DType out_dtype, F f) {
  // The tiny-op paths: equal shapes or a 0-d operand, contiguous, small enough for one thread.
  // No stride vectors, no row iteration (they cost more than a 16x16 op itself).
  if (a->is_contiguous() && b->is_contiguous()) {
    const Tensor* big = nullptr;
    if (a->shape() == b->shape()) big = &a;
    else if (b->dim() == 0) big = &a;
    else if (a->dim() == 0) big = &b;
    if (big != nullptr && serial_size((*big)->numel()) &&
        (*big)->numel() * int64_t(sizeof(Tout)) < kStreamBytes) {
      Tensor out = empty((*big)->shape(), out_dtype);
      const T* pa = a->data<T>();
      const T* pb = b->data<T>();
      Tout* po = out->data<Tout>();
      const int64_t n = out->numel();
      if (a->shape() == b->shape()) {
        for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
      } else if (b->dim() == 0) {
        const T y = *pb;
        for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], y);
      } else {
        const T x = *pa;
        for (int64_t i = 0; i < n; ++i) po[i] = f(x, pb[i]);
      }
      return out;
    }
  }
  Shape shape = broadcast_shapes(op, a->shape(), b->shape());
  Tensor out = empty(shape, out_dtype);
  const T* pa = a->data<T>();
  const T* pb = b->data<T>();
  Tout* po = out->data<Tout>();
  std::array<Shape, 3> st{contiguous_strides(shape),
                          broadcast_strides(a->shape(), a->strides(), shape),
                          broadcast_strides(b->shape(), b->strides(), shape)};
  const bool stream = out->numel() * int64_t(sizeof(Tout)) >= kStreamBytes;
  for_each_row<3>(
      shape, st,
      [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
    const T* x = pa + off[1];
    const T* y = pb + off[2];
    const int64_t sx = s[1], sy = s[2];
    write_row(po + off[0], n, stream, [&](int64_t i0, int64_t len, Tout* o) {
      if (sx == 1 && sy == 1) {
        for (int64_t i = 0; i < len; ++i) o[i] = f(x[i0 + i], y[i0 + i]);
      } else if (sx == 1 && sy == 0) {
        const T yv = *y;
        for (int64_t i = 0; i < len; ++i) o[i] = f(x[i0 + i], yv);
      } else if (sx == 0 && sy == 1) {
        const T xv = *x;
        for (int64_t i = 0; i < len; ++i) o[i] = f(xv, y[i0 + i]);
      } else if (sx == 0 && sy == 0) {  // both expanded along the row: one value
        const Tout v = f(*x, *y);
        for (int64_t i = 0; i < len; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < len; ++i) o[i] = f(x[(i0 + i) * sx], y[(i0 + i) * sy]);
      }
    });
  });
  return out;
}

// out = f(c, a, b) broadcast over three operands of types C, T, T.
template <class C, class T, class Tout, class F>
Tensor map3(const char* op, const Tensor& c, const Tensor& a, const Tensor& b, DType out_dtype,
            F f) {
  Shape shape = broadcast_shapes(op, broadcast_shapes(op, c->shape(), a->shape()), b->shape());
  Tensor out = empty(shape, out_dtype);
  const C* pc = c->data<C>();
  const T* pa = a->data<T>();
  const T* pb = b->data<T>();
  Tout* po = out->data<Tout>();
  std::array<Shape, 4> st{contiguous_strides(shape),
                          broadcast_strides(c->shape(), c->strides(), shape),
                          broadcast_strides(a->shape(), a->strides(), shape),
                          broadcast_strides(b->shape(), b->strides(), shape)};
  for_each_row<4>(
      shape, st,
      [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& s) {
    for (int64_t i = 0; i < n; ++i)
      po[off[0] + i] = f(pc[off[1] + i * s[1]], pa[off[2] + i * s[2]], pb[off[3] + i * s[3]]);
  });
  return out;
}

// Writes src (broadcast to dst's shape, cast to dst's dtype) into dst's memory, in place.
void copy_into(const Tensor& dst, const Tensor& src);

}  // namespace fastgrad
