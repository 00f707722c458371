// Binding functions of op families bound outside module.cpp, one per file bind_<family>.cpp; each
// is called once from PYBIND11_MODULE in module.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace fastgrad {

void bind_conv(pybind11::module_& m);
void bind_pool(pybind11::module_& m);

}  // namespace fastgrad
