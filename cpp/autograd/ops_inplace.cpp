// In-place ops for optimizers and initialisation: no autograd (the Python layer runs them under
// no_grad and refuses leaves that require grad). Each bumps the storage's version counter.
#include "autograd/ops.h"
#include "tensor/map.h"

namespace fastgrad {

void copy_(const Tensor& dst, const Tensor& src) {
  if (src->storage() == dst->storage()) {
    Tensor tmp = detach(src);
    copy_into(dst, clone(tmp));  // overlapping memory: copy through a temporary
  } else {
    copy_into(dst, src);
  }
  dst->bump_version();
}

void fill_(const Tensor& dst, double value) {
  copy_into(dst, full({}, value, dst->dtype()));
  dst->bump_version();
}

void put_(const Tensor& dst, const Tensor& pos, const Tensor& src) {
  FG_TYPE_CHECK(pos->dtype() == DType::Int64, "put_: positions must be int64, got ",
                dtype_name(pos->dtype()));
  FG_CHECK(dst->is_contiguous(), "put_: the destination of shape ", dst->shape(),
           " must be contiguous");
  Tensor p = contiguous(pos);
  Shape b = broadcast_shapes("put_", p->shape(), src->shape());
  FG_CHECK(b == p->shape(), "put_: cannot assign a value of shape ", src->shape(),
           " to an index of shape ", p->shape());
  Tensor s = empty(p->shape(), dst->dtype());
  copy_into(s, src);
  const int64_t* pp = p->data<int64_t>();
  const int64_t n = dst->numel(), m = p->numel();
  for (int64_t i = 0; i < m; ++i) {
    FG_INDEX_CHECK(pp[i] >= -n && pp[i] < n, "put_: index ", pp[i],
                   " is out of bounds for a tensor of ", n, " elements");
  }
  FG_DISPATCH_ALL(dst->dtype(), T, {
    T* d = dst->data<T>();
    const T* v = s->data<T>();
    for (int64_t i = 0; i < m; ++i) d[pp[i] < 0 ? pp[i] + n : pp[i]] = v[i];
  });
  dst->bump_version();
}

// dst takes src's memory and geometry (Tensor.data = src in PyTorch); its autograd metadata stays.
void set_data_(const Tensor& dst, const Tensor& src) {
  FG_TYPE_CHECK(dst->requires_grad() == false || is_floating(src->dtype()),
                "set_data_: a tensor that requires grad cannot take data of dtype ",
                dtype_name(src->dtype()));
  dst->set_data(*src);
}

}  // namespace fastgrad
