// The Python handle of a C++ tensor, fastgrad._core.TensorImpl, and the pybind11 caster that
// maps it to and from fastgrad::Tensor. Note [Tensor handle]: a plain CPython type holding one
// shared_ptr, not a pybind11 class: pybind11 registers every instance of its classes in a global
// map and looks the type up on every argument, which cost about a third of a 16x16 op's time.
// None converts to and from a null Tensor (an absent gradient).
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>

#include "tensor/tensor.h"

namespace fastgrad::bindings {

struct Handle {
  PyObject_HEAD Tensor t;
};

// The handle type, created by init_handle_type (nullptr before).
extern PyTypeObject* g_handle_type;

inline bool is_handle(PyObject* o) { return Py_TYPE(o) == g_handle_type; }
inline const Tensor& handle_tensor(PyObject* o) { return reinterpret_cast<Handle*>(o)->t; }

// A new reference: a handle of t, or None for a null t.
PyObject* wrap_handle(Tensor t);

// Releases the GIL for the scope when the op is big enough for another Python thread to gain from
// it; a tiny op (16x16) keeps it, since a release and re-acquire costs more than the op itself.
class ReleaseIfLarge {
 public:
  explicit ReleaseIfLarge(int64_t elements)
      : state_(elements >= kMinElements ? PyEval_SaveThread() : nullptr) {}
  ~ReleaseIfLarge() {
    if (state_ != nullptr) PyEval_RestoreThread(state_);
  }
  ReleaseIfLarge(const ReleaseIfLarge&) = delete;
  ReleaseIfLarge& operator=(const ReleaseIfLarge&) = delete;

 private:
  static constexpr int64_t kMinElements = 1 << 14;
  PyThreadState* state_;
};

// A gradient hook calling a Python function (bind_autograd.cpp), and Tensor.item() (bind_ops.cpp).
std::function<Tensor(const Tensor&)> make_hook(pybind11::function fn);
pybind11::object item(const Tensor& t);

// Creates the handle type and adds it to the module as TensorImpl, and install_fast_paths.
void init_handle_type(pybind11::module_& m);

}  // namespace fastgrad::bindings

namespace pybind11::detail {
// Shapes cross as sequences of ints (as std::vector<int64_t> did) and come back as lists.
template <>
struct type_caster<fastgrad::Shape> {
  PYBIND11_TYPE_CASTER(fastgrad::Shape, const_name("Sequence[int]"));
  bool load(handle src, bool convert) {
    make_caster<std::vector<int64_t>> v;
    if (!v.load(src, convert)) return false;
    value = fastgrad::Shape(cast_op<std::vector<int64_t>&>(v));
    return true;
  }
  static handle cast(const fastgrad::Shape& s, return_value_policy p, handle parent) {
    return make_caster<std::vector<int64_t>>::cast(s.vec(), p, parent);
  }
};

template <>
struct type_caster<std::shared_ptr<fastgrad::TensorImpl>> {
  PYBIND11_TYPE_CASTER(std::shared_ptr<fastgrad::TensorImpl>, const_name("TensorImpl"));
  bool load(handle src, bool) {
    if (src.is_none()) {
      value = nullptr;
      return true;
    }
    if (!fastgrad::bindings::is_handle(src.ptr())) return false;
    value = fastgrad::bindings::handle_tensor(src.ptr());
    return true;
  }
  static handle cast(const std::shared_ptr<fastgrad::TensorImpl>& t, return_value_policy, handle) {
    return fastgrad::bindings::wrap_handle(t);
  }
};
}  // namespace pybind11::detail
