// Element types of fastgrad tensors and the dispatch macros that turn a runtime dtype into a
// template argument. Four dtypes only (float32, float64, int64, bool), numbered as the Python side
// numbers them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastgrad {

enum class DType : int8_t { Float32 = 0, Float64 = 1, Int64 = 2, Bool = 3 };

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 1;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

template <class T> struct dtype_of;
template <> struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <> struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <> struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <> struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};

}  // namespace fastgrad

// FG_DISPATCH_FLOAT(dtype, T, body): body runs with T = float or double; other dtypes throw TypeError.
#define FG_DISPATCH_FLOAT(DT, OPNAME, T, ...)                           \
  switch (DT) {                                                         \
    case ::fastgrad::DType::Float32: {                                  \
      using T = float;                                                  \
      __VA_ARGS__;                                                      \
      break;                                                            \
    }                                                                   \
    case ::fastgrad::DType::Float64: {                                  \
      using T = double;                                                 \
      __VA_ARGS__;                                                      \
      break;                                                            \
    }                                                                   \
    default:                                                            \
      FG_TYPE_ERROR(OPNAME, ": expected a floating-point tensor, got ", \
                    ::fastgrad::dtype_name(DT));                        \
  }

// FG_DISPATCH_ALL(dtype, T, body): body runs with T = float, double, int64_t or bool.
#define FG_DISPATCH_ALL(DT, T, ...)    \
  switch (DT) {                        \
    case ::fastgrad::DType::Float32: { \
      using T = float;                 \
      __VA_ARGS__;                     \
      break;                           \
    }                                  \
    case ::fastgrad::DType::Float64: { \
      using T = double;                \
      __VA_ARGS__;                     \
      break;                           \
    }                                  \
    case ::fastgrad::DType::Int64: {   \
      using T = int64_t;               \
      __VA_ARGS__;                     \
      break;                           \
    }                                  \
    case ::fastgrad::DType::Bool: {    \
      using T = bool;                  \
      __VA_ARGS__;                     \
      break;                           \
    }                                  \
  }

// FG_DISPATCH_NUMERIC: float, double, int64_t (bool throws TypeError).
#define FG_DISPATCH_NUMERIC(DT, OPNAME, T, ...)                                               \
  switch (DT) {                                                                               \
    case ::fastgrad::DType::Float32: {                                                        \
      using T = float;                                                                        \
      __VA_ARGS__;                                                                            \
      break;                                                                                  \
    }                                                                                         \
    case ::fastgrad::DType::Float64: {                                                        \
      using T = double;                                                                       \
      __VA_ARGS__;                                                                            \
      break;                                                                                  \
    }                                                                                         \
    case ::fastgrad::DType::Int64: {                                                          \
      using T = int64_t;                                                                      \
      __VA_ARGS__;                                                                            \
      break;                                                                                  \
    }                                                                                         \
    default: FG_TYPE_ERROR(OPNAME, ": not supported for dtype ", ::fastgrad::dtype_name(DT)); \
  }
