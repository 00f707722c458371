// Per-family binding functions, each defined in cpp/bindings/bind_<family>.cpp and called once
// from PYBIND11_MODULE in module.cpp. Declarations only.
#pragma once
#include <pybind11/pybind11.h>

namespace fastgrad::bindings {

void bind_optim(pybind11::module_& m);  // bind_optim.cpp: fused optimizer steps, clipping

}  // namespace fastgrad::bindings
