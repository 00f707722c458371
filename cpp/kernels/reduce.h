// Reduction kernels over one axis of a strided array: sum / max / min, argmax / argmin, and the
// fused softmax / log_softmax. Pure compute on raw pointers and sizes: no Tensor, no autograd, no
// dtype dispatch and no argument checks (the ops in autograd/ops_reduce.cpp validate first).
//
// Dimension key: O = kept outer length, R = reduced length (R >= 1), I = kept inner length (unit
// stride); ld, so, sr = strides in elements between rows, O entries and R entries.
// Results are bitwise identical for any thread count: see Note [Deterministic reductions].
#pragma once
#include <cstdint>

namespace fastgrad {

enum class Reduce { Sum, Max, Min };

// out (O,) = op over r of x (O, R): x[o*ld + r]. T -> Out is float -> float, double -> double,
// int64 -> int64 and, for Sum only, bool -> int64.
template <class T, class Out>
void reduce_rows(Reduce op, int64_t O, int64_t R, const T* x, int64_t ld, Out* out);

// out (O, I) = op over r of x (O, R, I): x[o*so + r*sr + i]. Same type pairs as reduce_rows.
template <class T, class Out>
void reduce_cols(Reduce op, int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr,
                 Out* out);

// out (O,) = first r of the max (op Max) or min (op Min) of x (O, R): x[o*ld + r]. NaN counts as
// the extreme value (as in NumPy and PyTorch). T: float, double, int64.
template <class T>
void argreduce_rows(Reduce op, int64_t O, int64_t R, const T* x, int64_t ld, int64_t* out);

// out (O, I) = first r of the max / min of x (O, R, I): x[o*so + r*sr + i].
template <class T>
void argreduce_cols(Reduce op, int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr,
                    int64_t* out);

// y (O, R, I) = softmax of contiguous x (O, R, I) over R, exp(x - max) / sum, or log_softmax
// (x - max) - log(sum) when log_space; a NaN in a slice makes that slice NaN. T: float, double.
template <class T>
void softmax_forward(bool log_space, int64_t O, int64_t R, int64_t I, const T* x, T* y);

// y (O, R, I) = running sums of contiguous x (O, R, I) along R: y[o, r, i] = x[o, 0, i] + ... +
// x[o, r, i], added in order of r (serial: the same bits for any thread count).
template <class T, class Out>
void cumsum_forward(int64_t O, int64_t R, int64_t I, const T* x, Out* y) {
  for (int64_t o = 0; o < O; ++o) {
    const T* xo = x + o * R * I;
    Out* yo = y + o * R * I;
    for (int64_t i = 0; i < I; ++i) yo[i] = static_cast<Out>(xo[i]);
    for (int64_t r = 1; r < R; ++r) {
      for (int64_t i = 0; i < I; ++i)
        yo[r * I + i] = yo[(r - 1) * I + i] + static_cast<Out>(xo[r * I + i]);
    }
  }
}

}  // namespace fastgrad
