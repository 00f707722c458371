// Binding functions of the op families bound outside module.cpp: each file bind_<family>.cpp
// defines one, and PYBIND11_MODULE in module.cpp calls it. No math here.
#pragma once
#include <pybind11/pybind11.h>

namespace fastgrad {

void bind_rnn(pybind11::module_& m);  // bind_rnn.cpp: lstm_cell, gru_cell
void bind_attention(pybind11::module_& m);  // bind_attention.cpp: attention

}  // namespace fastgrad
