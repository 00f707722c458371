// SmallVec<T, N>: a vector that keeps its first N elements inside the object and moves to the
// heap only beyond. A graph node's edges, input and output metadata and saved tensors are one
// or two elements for nearly every op; as std::vectors they were four of a tiny op's mallocs
// (and four frees in backward). The subset of std::vector's interface the graph code uses;
// movable, not copyable.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace fastgrad {

template <class T, size_t N>
class SmallVec {
  static_assert(std::is_nothrow_move_constructible<T>::value,
                "growing moves elements and must not throw halfway");
  static_assert(N > 0 && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "heap storage alignment");

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVec() = default;
  SmallVec(const SmallVec&) = delete;
  SmallVec& operator=(const SmallVec&) = delete;
  // Moving takes over heap storage, or moves the inline elements one by one; `o` ends empty.
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~SmallVec() { release(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }

  void reserve(size_t n) {
    if (n > cap_) grow(n);
  }
  template <class... A>
  T& emplace_back(A&&... args) {
    if (size_ == cap_) grow(2 * cap_);
    T* p = ::new (static_cast<void*>(data() + size_)) T(std::forward<A>(args)...);
    ++size_;
    return *p;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }
  // Destroys the elements last to first; the capacity stays.
  void clear() {
    T* d = data();
    while (size_ != 0) d[--size_].~T();
  }

 private:
  // The heap pointer shares the inline elements' bytes (a graph node has three SmallVecs, and a
  // 10^6-node graph pays for each of their bytes): the capacity tells which is in use.
  bool on_heap() const { return cap_ > N; }
  T* inline_data() { return reinterpret_cast<T*>(inline_); }
  const T* inline_data() const { return reinterpret_cast<const T*>(inline_); }
  T* data() { return on_heap() ? heap_ : inline_data(); }
  const T* data() const { return on_heap() ? heap_ : inline_data(); }
  void release() {
    clear();
    if (on_heap()) ::operator delete(heap_);
    cap_ = N;
  }
  void take(SmallVec& o) {  // *this is empty with inline storage
    if (o.on_heap()) {
      heap_ = o.heap_;
      cap_ = o.cap_;
      o.cap_ = N;
    } else {
      for (uint32_t i = 0; i < o.size_; ++i) {
        ::new (static_cast<void*>(inline_data() + i)) T(std::move(o.inline_data()[i]));
        o.inline_data()[i].~T();
      }
    }
    size_ = o.size_;
    o.size_ = 0;
  }
  void grow(size_t n) {
    T* p = static_cast<T*>(::operator new(n * sizeof(T)));
    T* d = data();
    for (size_t i = 0; i < size_; ++i) {
      ::new (static_cast<void*>(p + i)) T(std::move(d[i]));
      d[i].~T();
    }
    if (on_heap()) ::operator delete(heap_);
    heap_ = p;
    cap_ = static_cast<uint32_t>(n);
  }

  union {
    T* heap_;
    alignas(T) unsigned char inline_[N * sizeof(T)];
  };
  uint32_t size_ = 0;
  uint32_t cap_ = N;
};

}  // namespace fastgrad
