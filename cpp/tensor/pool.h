// pool::make<T>(args...): std::make_shared through per-thread free lists of small blocks. A graph
// of tiny ops allocates and frees a TensorImpl (232 bytes with its control block), a node (296
// for a FnNode) and a Storage (56 with a 0-d tensor's data) per op; glibc serves those sizes from its sorted bins once its
// 7-entry tcache is empty, about 160 instructions a malloc and as many a free, a fifth of a
// scalar graph's time. See Note [Object pool] in pool.cpp.
#pragma once
#include <cstddef>
#include <memory>
#include <utility>

namespace fastgrad {
namespace pool {

void* allocate(size_t bytes);
void deallocate(void* p, size_t bytes) noexcept;

template <class T>
struct Allocator {
  using value_type = T;
  Allocator() = default;
  template <class U>
  Allocator(const Allocator<U>&) {}  // NOLINT: rebinding is implicit
  T* allocate(size_t n) { return static_cast<T*>(pool::allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { pool::deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const Allocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const Allocator<U>&) const {
    return false;
  }
};

template <class T, class... A>
std::shared_ptr<T> make(A&&... args) {
  static_assert(alignof(T) <= alignof(std::max_align_t), "pooled blocks are malloc-aligned");
  return std::allocate_shared<T>(Allocator<T>(), std::forward<A>(args)...);
}

}  // namespace pool
}  // namespace fastgrad
