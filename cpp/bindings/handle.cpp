// fastgrad._core.TensorImpl (Note [Tensor handle]) and the C fast paths of Tensor.__add__,
// __sub__ and __mul__ (Note [Binary fast path]).
#include "bindings/handle.h"

#include <pybind11/functional.h>
#include <structmember.h>

#include <new>

#include "autograd/node.h"
#include "autograd/ops.h"

namespace py = pybind11;

namespace fastgrad::bindings {

PyTypeObject* g_handle_type = nullptr;

namespace {

// Runs f() (returning a new reference or an int status); a C++ exception becomes the Python
// exception pybind11 would raise for it, and `failed` is returned.
template <class R, class F>
R guarded(R failed, F f) {
  try {
    return f();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return failed;
  }
}

void handle_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  reinterpret_cast<Handle*>(self)->t.~Tensor();  // may free a whole graph: fine under the GIL
  tp->tp_free(self);
  Py_DECREF(tp);
}

TensorImpl& impl(PyObject* self) { return *handle_tensor(self); }

PyObject* get_shape(PyObject* self, void*) {
  const Shape& s = impl(self).shape();
  PyObject* r = PyTuple_New(static_cast<Py_ssize_t>(s.size()));
  if (r == nullptr) return nullptr;
  for (size_t i = 0; i < s.size(); ++i) {
    PyObject* v = PyLong_FromLongLong(s[i]);
    if (v == nullptr) {
      Py_DECREF(r);
      return nullptr;
    }
    PyTuple_SET_ITEM(r, static_cast<Py_ssize_t>(i), v);
  }
  return r;
}
PyObject* get_dtype(PyObject* self, void*) {
  return PyLong_FromLong(static_cast<long>(impl(self).dtype()));
}
PyObject* get_ndim(PyObject* self, void*) { return PyLong_FromLongLong(impl(self).dim()); }
PyObject* get_numel(PyObject* self, void*) { return PyLong_FromLongLong(impl(self).numel()); }
PyObject* get_is_leaf(PyObject* self, void*) { return PyBool_FromLong(impl(self).is_leaf()); }
PyObject* get_is_contiguous(PyObject* self, void*) {
  return PyBool_FromLong(impl(self).is_contiguous());
}
PyObject* get_version(PyObject* self, void*) { return PyLong_FromLongLong(impl(self).version()); }
PyObject* get_has_views(PyObject* self, void*) {
  return PyBool_FromLong(impl(self).storage()->has_views.load(std::memory_order_relaxed));
}
PyObject* get_retains_grad(PyObject* self, void*) {
  return PyBool_FromLong(impl(self).retains_grad_);
}
PyObject* get_output_nr(PyObject* self, void*) {
  return PyLong_FromUnsignedLong(impl(self).output_nr_);
}
PyObject* get_grad_fn(PyObject* self, void*) {
  return guarded<PyObject*>(nullptr, [&] { return py::cast(impl(self).grad_fn_).release().ptr(); });
}
// The same C++ tensor may come back in several handles (one per crossing into Python), so
// identity is the TensorImpl's address, not id(handle).
PyObject* get_key(PyObject* self, void*) { return PyLong_FromVoidPtr(&impl(self)); }
PyObject* get_requires_grad(PyObject* self, void*) {
  return PyBool_FromLong(impl(self).requires_grad_);
}
int set_requires_grad(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "requires_grad cannot be deleted");
    return -1;
  }
  const int flag = PyObject_IsTrue(value);
  if (flag < 0) return -1;
  return guarded(-1, [&] {
    TensorImpl& t = impl(self);
    FG_RUNTIME_CHECK(t.is_leaf() || flag,
                     "you can only change requires_grad flags of leaf tensors");
    FG_TYPE_CHECK(!flag || is_floating(t.dtype()),
                  "only tensors of floating point dtype can require gradients, got ",
                  dtype_name(t.dtype()));
    if (t.is_leaf()) t.requires_grad_ = flag != 0;
    return 0;
  });
}
PyObject* get_grad(PyObject* self, void*) { return wrap_handle(impl(self).grad_); }
int set_grad(PyObject* self, PyObject* value, void*) {
  if (value == nullptr || (value != Py_None && !is_handle(value))) {
    PyErr_SetString(PyExc_TypeError, "grad: expected a tensor handle or None");
    return -1;
  }
  return guarded(-1, [&] {
    TensorImpl& t = impl(self);
    Tensor g = value == Py_None ? nullptr : handle_tensor(value);
    if (g) {
      FG_CHECK(g->shape() == t.shape(), "grad: assigned grad of shape ", g->shape(),
               " to a tensor of shape ", t.shape());
      FG_TYPE_CHECK(g->dtype() == t.dtype(), "grad: assigned grad of dtype ",
                    dtype_name(g->dtype()), " to a tensor of dtype ", dtype_name(t.dtype()));
    }
    t.grad_ = std::move(g);
    return 0;
  });
}

PyObject* retain_grad(PyObject* self, PyObject*) {
  return guarded<PyObject*>(nullptr, [&] {
    const Tensor& t = handle_tensor(self);
    FG_RUNTIME_CHECK(t->requires_grad_, "retain_grad: the tensor does not require grad");
    if (!t->is_leaf() && !t->retains_grad_) {
      t->retains_grad_ = true;
      t->grad_fn_->extras().retained.emplace_back(t->output_nr_, t);
    }
    Py_RETURN_NONE;
  });
}

PyObject* register_hook(PyObject* self, PyObject* fn) {
  return guarded<PyObject*>(nullptr, [&] {
    const Tensor& t = handle_tensor(self);
    FG_RUNTIME_CHECK(
        t->requires_grad_,
        "register_hook: cannot register a hook on a tensor that does not require grad");
    FG_TYPE_CHECK(PyCallable_Check(fn), "register_hook: expected a callable");
    auto hook = make_hook(py::reinterpret_borrow<py::function>(fn));
    if (t->is_leaf()) t->hooks().push_back(std::move(hook));
    else t->grad_fn_->extras().pre_hooks.emplace_back(t->output_nr_, std::move(hook));
    Py_RETURN_NONE;
  });
}

PyObject* item_method(PyObject* self, PyObject*) {
  return guarded<PyObject*>(nullptr, [&] { return item(handle_tensor(self)).release().ptr(); });
}

PyGetSetDef kGetSets[] = {
    {"shape", get_shape, nullptr, nullptr, nullptr},
    {"dtype", get_dtype, nullptr, nullptr, nullptr},
    {"ndim", get_ndim, nullptr, nullptr, nullptr},
    {"numel", get_numel, nullptr, nullptr, nullptr},
    {"is_leaf", get_is_leaf, nullptr, nullptr, nullptr},
    {"is_contiguous", get_is_contiguous, nullptr, nullptr, nullptr},
    {"version", get_version, nullptr, nullptr, nullptr},
    {"has_views", get_has_views, nullptr, nullptr, nullptr},
    {"retains_grad", get_retains_grad, nullptr, nullptr, nullptr},
    {"output_nr", get_output_nr, nullptr, nullptr, nullptr},
    {"grad_fn", get_grad_fn, nullptr, nullptr, nullptr},
    {"key", get_key, nullptr, "identity of the tensor (equal for every handle of it)", nullptr},
    {"requires_grad", get_requires_grad, set_requires_grad, nullptr, nullptr},
    {"grad", get_grad, set_grad, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef kMethods[] = {
    {"retain_grad", retain_grad, METH_NOARGS, nullptr},
    {"register_hook", register_hook, METH_O,
     "fn(grad) -> None or a replacement gradient, run when the gradient is computed"},
    {"item", item_method, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

// --- Note [Binary fast path] -------------------------------------------------------------------
// a + b, a - b and a * b on two C++ tensors of one dtype are the hottest calls of a training loop
// of small ops. install_fast_paths makes Tensor.__add__/__sub__/__mul__ C methods that read the
// two Tensors' _impl and _b slots, run the op and build the result Tensor (as tensor._wrap does),
// with no Python frame; anything else (a Python scalar, another backend, dtypes to promote) goes
// to the Python fallback, tensor._binary, unchanged.
PyTypeObject* g_tensor_cls = nullptr;
Py_ssize_t g_off_impl = 0, g_off_b = 0;
PyObject* g_cpp_module = nullptr;
PyObject* g_fallback = nullptr;  // fallback(op_name, a, b) -> Tensor

PyObject*& slot(PyObject* o, Py_ssize_t off) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + off);
}

// The C++ tensor behind a Tensor of the C++ backend, or nullptr.
const Tensor* cpp_tensor(PyObject* o) {
  if (!PyObject_TypeCheck(o, g_tensor_cls) || slot(o, g_off_b) != g_cpp_module) return nullptr;
  PyObject* h = slot(o, g_off_impl);
  return h != nullptr && is_handle(h) ? &handle_tensor(h) : nullptr;
}

// Note [Untracked tensors]: a Tensor is a GC object (its __slots__ could hold anything), so every
// op result used to join the cyclic collector's generations, and a graph of many small ops paid
// for collections that walked all its live Tensors again and again (gc was 15% of a scalar
// MLP's time). A Tensor of the C++ backend refers only to its handle, which the collector cannot
// see into (no tp_traverse), and to the _core module: no cycle the collector could ever break
// passes through it, so it is untracked. Tensor subclasses (Parameter) and Tensors of the Python
// backend, whose RTensor is a tracked Python object, stay tracked.

// The Tensor of (impl, backend), as tensor._wrap makes it: owns `impl` (stolen), untracked when
// impl is a C++ handle. The one place Tensor objects are built in C.
PyObject* new_tensor(PyObject* impl, PyObject* backend) {
  PyObject* r = g_tensor_cls->tp_alloc(g_tensor_cls, 0);
  if (r == nullptr) {
    Py_DECREF(impl);
    return nullptr;
  }
  slot(r, g_off_impl) = impl;
  Py_INCREF(backend);
  slot(r, g_off_b) = backend;
  if (backend == g_cpp_module && is_handle(impl)) PyObject_GC_UnTrack(r);
  return r;
}

PyObject* wrap_tensor(Tensor t) {
  PyObject* h = wrap_handle(std::move(t));
  return h == nullptr ? nullptr : new_tensor(h, g_cpp_module);
}

// tensor._wrap(impl, backend) in C.
PyObject* wrap_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_wrap(impl, backend) takes 2 arguments");
    return nullptr;
  }
  Py_INCREF(args[0]);
  return new_tensor(args[0], args[1]);
}

PyMethodDef kWrap = {"_wrap",
                     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(wrap_fast)),
                     METH_FASTCALL, "_wrap(impl, backend) -> Tensor (Note [Untracked tensors])"};

template <Tensor (*Op)(const Tensor&, const Tensor&)>
PyObject* binary(PyObject* a, PyObject* b, const char* name) {
  const Tensor* ta = cpp_tensor(a);
  const Tensor* tb = ta ? cpp_tensor(b) : nullptr;
  if (tb != nullptr && (*ta)->dtype() == (*tb)->dtype()) {
    Tensor r;
    try {
      ReleaseIfLarge nogil((*ta)->numel() + (*tb)->numel());
      r = Op(*ta, *tb);
    } catch (...) {
      py::detail::try_translate_exceptions();
      if (!PyErr_ExceptionMatches(PyExc_TypeError)) return nullptr;
      PyErr_Clear();  // e.g. bool operands: the fallback promotes, or raises its own error
    }
    if (r) return wrap_tensor(std::move(r));
  }
  return PyObject_CallFunction(g_fallback, "sOO", name, a, b);
}

PyObject* fast_add(PyObject* a, PyObject* b) { return binary<fastgrad::add>(a, b, "add"); }
PyObject* fast_sub(PyObject* a, PyObject* b) { return binary<fastgrad::sub>(a, b, "sub"); }
PyObject* fast_mul(PyObject* a, PyObject* b) { return binary<fastgrad::mul>(a, b, "mul"); }

PyMethodDef kFast[] = {{"__add__", fast_add, METH_O, "self + other"},
                       {"__sub__", fast_sub, METH_O, "self - other"},
                       {"__mul__", fast_mul, METH_O, "self * other"}};

Py_ssize_t member_offset(PyObject* cls, const char* name) {
  py::object d = py::reinterpret_borrow<py::object>(cls).attr(name);
  FG_TYPE_CHECK(Py_TYPE(d.ptr()) == &PyMemberDescr_Type, "install_fast_paths: ", name,
                " is not a __slots__ member");
  const PyMemberDef* m = reinterpret_cast<PyMemberDescrObject*>(d.ptr())->d_member;
  FG_TYPE_CHECK(m->type == T_OBJECT_EX, "install_fast_paths: ", name, " is not an object slot");
  return m->offset;
}

py::object install_fast_paths(py::type cls, py::module_ cpp, py::function fallback) {
  g_off_impl = member_offset(cls.ptr(), "_impl");
  g_off_b = member_offset(cls.ptr(), "_b");
  g_tensor_cls = reinterpret_cast<PyTypeObject*>(cls.release().ptr());  // kept for good
  g_cpp_module = cpp.release().ptr();
  g_fallback = fallback.release().ptr();
  for (PyMethodDef& def : kFast) {
    py::object descr = py::reinterpret_steal<py::object>(PyDescr_NewMethod(g_tensor_cls, &def));
    if (!descr) throw py::error_already_set();
    if (PyObject_SetAttrString(reinterpret_cast<PyObject*>(g_tensor_cls), def.ml_name,
                               descr.ptr()) < 0) {
      throw py::error_already_set();
    }
  }
  PyObject* wrap = PyCFunction_New(&kWrap, nullptr);
  if (wrap == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(wrap);
}

}  // namespace

PyObject* wrap_handle(Tensor t) {
  if (!t) Py_RETURN_NONE;
  PyObject* o = g_handle_type->tp_alloc(g_handle_type, 0);
  if (o == nullptr) return nullptr;
  new (&reinterpret_cast<Handle*>(o)->t) Tensor(std::move(t));
  return o;
}

void init_handle_type(py::module_& m) {
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(handle_dealloc)},
      {Py_tp_getset, kGetSets},
      {Py_tp_methods, kMethods},
      {Py_tp_doc, const_cast<char*>("A C++ tensor: data, geometry and autograd metadata")},
      {0, nullptr}};
  unsigned long flags = Py_TPFLAGS_DEFAULT;
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
  flags |= Py_TPFLAGS_DISALLOW_INSTANTIATION;
#endif
  static PyType_Spec spec = {"fastgrad._core.TensorImpl", static_cast<int>(sizeof(Handle)), 0,
                             static_cast<unsigned int>(flags), slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) throw py::error_already_set();
  g_handle_type = reinterpret_cast<PyTypeObject*>(type);  // one reference kept for good
  m.attr("TensorImpl") = py::reinterpret_borrow<py::object>(type);
  m.def("install_fast_paths", &install_fast_paths,
        "Makes Tensor.__add__/__sub__/__mul__ C methods (Note [Binary fast path]); returns _wrap "
        "in C (Note [Untracked tensors])");
}

}  // namespace fastgrad::bindings
