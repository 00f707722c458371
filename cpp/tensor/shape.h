// Shape: the dims (or strides) of a tensor. Note [Inline shapes]: a vector of int64 that keeps up
// to kInline values inside the object and goes to the heap only beyond, so a tensor, a view and
// a graph node's metadata cost no allocation for their shapes (they were 5 of the 20-odd
// allocations of a tiny op). The subset of std::vector's interface the code uses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <vector>

namespace fastgrad {

class Shape {
 public:
  using value_type = int64_t;
  using size_type = size_t;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;
  static constexpr size_t kInline = 4;  // 48 bytes in all; 5-d and more go to the heap

  Shape() = default;
  explicit Shape(size_t n, int64_t v = 0) { resize(n, v); }
  Shape(std::initializer_list<int64_t> l) { assign(l.begin(), l.size()); }
  template <class It, class = std::enable_if_t<!std::is_integral<It>::value>>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }
  Shape(const std::vector<int64_t>& v) { assign(v.data(), v.size()); }  // NOLINT: implicit
  Shape(const Shape& o) { assign(o.data_, o.size_); }
  Shape(Shape&& o) noexcept { take(o); }
  Shape& operator=(const Shape& o) {
    if (this != &o) {
      size_ = 0;
      assign(o.data_, o.size_);
    }
    return *this;
  }
  Shape& operator=(Shape&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~Shape() { release(); }

  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return data_; }
  const int64_t* data() const { return data_; }
  iterator begin() { return data_; }
  iterator end() { return data_ + size_; }
  const_iterator begin() const { return data_; }
  const_iterator end() const { return data_ + size_; }
  int64_t& operator[](size_t i) { return data_[i]; }
  const int64_t& operator[](size_t i) const { return data_[i]; }
  int64_t& back() { return data_[size_ - 1]; }
  const int64_t& back() const { return data_[size_ - 1]; }
  int64_t& front() { return data_[0]; }
  const int64_t& front() const { return data_[0]; }

  void push_back(int64_t v) {
    if (size_ == cap_) grow(2 * cap_);
    data_[size_++] = v;
  }
  void pop_back() { --size_; }
  void clear() { size_ = 0; }
  void reserve(size_t n) {
    if (n > cap_) grow(n);
  }
  void resize(size_t n, int64_t v = 0) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data_[i] = v;
    size_ = static_cast<uint32_t>(n);
  }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(begin(), end()); }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.size_ == b.size_ &&
           (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_ * sizeof(int64_t)) == 0);
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  void assign(const int64_t* p, size_t n) {
    reserve(n);
    if (n != 0) std::memcpy(data_, p, n * sizeof(int64_t));
    size_ = static_cast<uint32_t>(n);
  }
  void grow(size_t n) {
    auto* p = static_cast<int64_t*>(std::malloc(n * sizeof(int64_t)));
    if (p == nullptr) throw std::bad_alloc();
    if (size_ != 0) std::memcpy(p, data_, size_ * sizeof(int64_t));
    release();
    data_ = p;
    cap_ = static_cast<uint32_t>(n);
  }
  void release() {
    if (data_ != inline_) std::free(data_);
    data_ = inline_;
    cap_ = kInline;
  }
  void take(Shape& o) {  // *this holds no heap memory
    if (o.data_ == o.inline_) {
      size_ = 0;
      assign(o.inline_, o.size_);
    } else {
      data_ = o.data_;
      cap_ = o.cap_;
      size_ = o.size_;
      o.data_ = o.inline_;
      o.cap_ = kInline;
    }
    o.size_ = 0;
  }

  int64_t* data_ = inline_;
  uint32_t size_ = 0;
  uint32_t cap_ = kInline;
  int64_t inline_[kInline];
};

}  // namespace fastgrad
