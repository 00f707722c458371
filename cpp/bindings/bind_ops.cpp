// Bindings of the primitives of cpp/autograd/ops.h: the unary and binary ones straight from the op
// table (generated op_list.inc), then one bind_<family> function per ops_<family>.cpp for the
// primitives with other signatures. Every op releases the GIL (tiny ones only when large enough,
// see ReleaseIfLarge); no math here.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "autograd/ops.h"
#include "bindings/bind.h"
#include "bindings/handle.h"
#include "tensor/pool.h"

namespace py = pybind11;

namespace fastgrad::bindings {
namespace {

using release = py::call_guard<py::gil_scoped_release>;

DType dtype_from_numpy(const py::dtype& dt) {
  if (dt.is(py::dtype::of<float>())) return DType::Float32;
  if (dt.is(py::dtype::of<double>())) return DType::Float64;
  if (dt.is(py::dtype::of<int64_t>())) return DType::Int64;
  if (dt.is(py::dtype::of<bool>())) return DType::Bool;
  char kind = dt.kind();
  int size = static_cast<int>(dt.itemsize());
  if (dt.byteorder() != '=' && dt.byteorder() != '|' && size > 1) {
    FG_TYPE_ERROR("from_numpy: arrays of non-native byte order are not shared; use ",
                  "fastgrad.tensor(a) to copy it");
  }
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'b') return DType::Bool;
  FG_TYPE_ERROR("from_numpy: unsupported dtype ", std::string(py::str(dt)),
                "; fastgrad has float32, float64, int64 and bool");
}

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Bool: return py::dtype::of<bool>();
  }
  return py::dtype::of<float>();
}

// A tensor whose storage is the array's memory (kept alive by a reference to the array).
Tensor from_numpy(py::array a) {
  DType d = dtype_from_numpy(a.dtype());
  const int64_t item = static_cast<int64_t>(itemsize(d));
  Shape shape, strides;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    shape.push_back(a.shape(i));
    FG_CHECK(a.strides(i) >= 0 && a.strides(i) % item == 0,
             "from_numpy: arrays with negative or unaligned strides cannot be shared; ",
             "use fastgrad.tensor(a) to copy it");
    strides.push_back(a.strides(i) / item);
  }
  auto st = foreign_storage(std::make_shared<PyRef>(py::reinterpret_borrow<py::object>(a)),
                            const_cast<void*>(a.data()), a.nbytes());
  return pool::make<TensorImpl>(std::move(st), 0, shape, strides, d);
}

// An array over the tensor's memory (keeps its storage alive).
py::array to_numpy(const Tensor& t) {
  auto keep = new std::shared_ptr<Storage>(t->storage());
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  std::vector<py::ssize_t> shape(t->shape().begin(), t->shape().end());
  std::vector<py::ssize_t> strides;
  for (int64_t s : t->strides()) strides.push_back(s * static_cast<int64_t>(itemsize(t->dtype())));
  return py::array(numpy_dtype(t->dtype()), shape, strides, t->raw(), base);
}

}  // namespace

py::object item(const Tensor& t) {
  FG_CHECK(t->numel() == 1, "item: a tensor with ", t->numel(),
           " elements cannot be converted to a Python scalar (shape ", t->shape(), ")");
  switch (t->dtype()) {
    case DType::Float32: return py::float_(*t->data<float>());
    case DType::Float64: return py::float_(*t->data<double>());
    case DType::Int64: return py::int_(*t->data<int64_t>());
    case DType::Bool: return py::bool_(*t->data<bool>());
  }
  return py::none();
}

void bind_table_ops(py::module_& m) {
#define FG_UNARY(NAME)                \
  m.def(#NAME, [](const Tensor& x) {  \
    ReleaseIfLarge nogil(x->numel()); \
    return fastgrad::NAME(x);         \
  });
#define FG_BINARY(NAME)                               \
  m.def(#NAME, [](const Tensor& a, const Tensor& b) { \
    ReleaseIfLarge nogil(a->numel() + b->numel());    \
    return fastgrad::NAME(a, b);                      \
  });
#include "op_list.inc"
#undef FG_UNARY
#undef FG_BINARY
}

void bind_elementwise(py::module_& m) {
  m.def("from_numpy", &from_numpy, py::arg("a").noconvert());
  m.def("to_numpy", &to_numpy);
  m.def("scalar", [](double v, int d) { return scalar_tensor(v, static_cast<DType>(d)); });
  m.def("full", [](const py::object& shape, double v, int d) {
    Shape s = shape.cast<std::vector<int64_t>>();
    py::gil_scoped_release nogil;
    return full(s, v, static_cast<DType>(d));
  });
  m.def("clone", &fastgrad::clone, release());
  m.def("to_dtype", [](const Tensor& x, int d) { return to_dtype(x, static_cast<DType>(d)); },
        release());
  m.def("where", &fastgrad::where, release());
  m.def("clamp", &fastgrad::clamp, release());
}

void bind_reduce(py::module_& m) {
  m.def("sum", &fastgrad::sum, release());
  m.def("amax", &fastgrad::amax, release());
  m.def("amin", &fastgrad::amin, release());
  m.def("argmax", &fastgrad::argmax, release());
  m.def("argmin", &fastgrad::argmin, release());
  m.def("softmax", &fastgrad::softmax, release());
  m.def("log_softmax", &fastgrad::log_softmax, release());
  m.def("sum_to", &fastgrad::sum_to, release());
  m.def("cumsum", &fastgrad::cumsum, release());
}

void bind_shape(py::module_& m) {
  m.def("reshape", &fastgrad::reshape, release());
  m.def("permute", &fastgrad::permute, release());
  m.def("expand", &fastgrad::expand, release());
  m.def("slice", &fastgrad::slice, release());
  m.def("slice_backward", &fastgrad::slice_backward, release());
  m.def("cat", &fastgrad::cat, release());
  m.def("contiguous", &fastgrad::contiguous, release());
}

void bind_index(py::module_& m) { m.def("put_add", &fastgrad::put_add, release()); }

void bind_loss(py::module_& m) {
  m.def("cross_entropy_rows", &fastgrad::cross_entropy_rows, release());
  m.def("cross_entropy_rows_backward", &fastgrad::cross_entropy_rows_backward, release());
  m.def("cross_entropy_reduced",  // h1-nnfast
        [](const Tensor& x, const Tensor& t, const std::string& reduction) {
    ReleaseIfLarge nogil(x->numel());
    return fastgrad::cross_entropy_reduced(x, t, reduction);
  });
}

void bind_inplace(py::module_& m) {
  m.def("copy_", &fastgrad::copy_, release());
  m.def("fill_", &fastgrad::fill_, release());
  m.def("put_", &fastgrad::put_, release());
  m.def("set_data_", &fastgrad::set_data_);
}

}  // namespace fastgrad::bindings
