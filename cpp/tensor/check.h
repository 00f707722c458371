// Error helpers. User errors name the op and the shapes and map to Python exception types:
// FG_CHECK -> ValueError, FG_TYPE_ERROR -> TypeError, FG_INDEX_CHECK -> IndexError,
// FG_RUNTIME_CHECK -> RuntimeError, OutOfMemory -> MemoryError. FG_ASSERT is for our own bugs
// (file:line, RuntimeError).
// Nothing here may be called inside an OpenMP parallel region.
#pragma once
#include <cstdint>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tensor/shape.h"

namespace fastgrad {

struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An allocation that cannot be made, with a message naming what was asked for. A std::bad_alloc,
// so pybind11 raises MemoryError with this message.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  return os << ")";
}

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace fastgrad

#define FG_CHECK(cond, ...)                                                     \
  do {                                                                          \
    if (!(cond)) throw std::invalid_argument(::fastgrad::str_cat(__VA_ARGS__)); \
  } while (0)
#define FG_TYPE_ERROR(...) throw ::fastgrad::TypeError(::fastgrad::str_cat(__VA_ARGS__))
#define FG_TYPE_CHECK(cond, ...)             \
  do {                                       \
    if (!(cond)) FG_TYPE_ERROR(__VA_ARGS__); \
  } while (0)
#define FG_INDEX_CHECK(cond, ...)                                           \
  do {                                                                      \
    if (!(cond)) throw std::out_of_range(::fastgrad::str_cat(__VA_ARGS__)); \
  } while (0)
#define FG_RUNTIME_CHECK(cond, ...)                                          \
  do {                                                                       \
    if (!(cond)) throw std::runtime_error(::fastgrad::str_cat(__VA_ARGS__)); \
  } while (0)
#define FG_ASSERT(cond, ...)                                                                \
  do {                                                                                      \
    if (!(cond))                                                                            \
      throw std::logic_error(                                                               \
          ::fastgrad::str_cat(__FILE__, ":", __LINE__, ": internal error: ", __VA_ARGS__)); \
  } while (0)
