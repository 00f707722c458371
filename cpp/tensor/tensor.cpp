// Storage allocation and TensorImpl geometry. No kernels and no autograd logic here.
#include "tensor/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_map>

#include "tensor/iter.h"
#include "tensor/stream.h"
#if defined(__x86_64__)
#include <emmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastgrad {

static int initial_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
static std::atomic<int> g_num_threads{initial_threads()};
int num_threads() { return g_num_threads.load(std::memory_order_relaxed); }
void set_num_threads(int n) { g_num_threads.store(n < 1 ? 1 : n); }

// Note [Caching allocator]: a training step allocates the same sizes every iteration; a fresh
// buffer costs malloc's bookkeeping (glibc consolidates its bins on every request of 1 KiB or
// more) and, for large ones, page faults. Freed buffers go to a cache of the freeing thread,
// keyed by rounded size, and are handed out again. The cache is bounded.
namespace {
constexpr size_t kCacheMaxBytes = size_t(256) << 20;  // per thread
// Per size: at least 16 buffers, more for small sizes (up to 8 MiB of them), so the hundreds of
// small tensors a graph of tiny ops keeps alive until backward come back from the cache too.
size_t max_cached(size_t size) { return std::max<size_t>(16, (size_t(8) << 20) / size); }

size_t round_size(size_t n) {
  if (n <= 64) return 64;
  if (n < (size_t(1) << 20)) {
    size_t p = 64;
    while (p < n) p <<= 1;
    return p;
  }
  return (n + 65535) / 65536 * 65536;
}

thread_local bool t_cache_alive = false;  // trivially destructible: valid after the cache dies

struct BufferCache {
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  size_t bytes = 0;
  BufferCache() { t_cache_alive = true; }
  ~BufferCache() {
    t_cache_alive = false;
    for (auto& kv : free_lists)
      for (void* p : kv.second) std::free(p);
  }
};

BufferCache* cache() {
  thread_local BufferCache c;
  return t_cache_alive ? &c : nullptr;
}

void release_buffer(void* p, size_t size) {
  BufferCache* c = cache();
  if (c && size <= kCacheMaxBytes) {
    auto& l = c->free_lists[size];
    if (l.size() < max_cached(size)) {
      // Over budget: make room by freeing buffers of other sizes, so the sizes in use now win over
      // those of an earlier phase (a 40 MB ReLU after GEMMs had found the cache full of their
      // buffers and paid a fresh, page-faulting buffer every step).
      for (auto it = c->free_lists.begin();
           c->bytes + size > kCacheMaxBytes && it != c->free_lists.end(); ++it) {
        if (it->first == size) continue;
        while (!it->second.empty() && c->bytes + size > kCacheMaxBytes) {
          std::free(it->second.back());
          it->second.pop_back();
          c->bytes -= it->first;
        }
      }
      if (c->bytes + size <= kCacheMaxBytes) {
        l.push_back(p);
        c->bytes += size;
        return;
      }
    }
  }
  std::free(p);
}

void* acquire_buffer(size_t size) {
  if (BufferCache* c = cache()) {
    auto it = c->free_lists.find(size);
    if (it != c->free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c->bytes -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void stream_store(void* dst, const void* src, size_t bytes) {
#if defined(__x86_64__)
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  size_t head = (16 - reinterpret_cast<uintptr_t>(d) % 16) % 16;
  if (head > bytes) head = bytes;
  std::memcpy(d, s, head);
  size_t i = head;
  for (; i + 16 <= bytes; i += 16) {
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
  }
  std::memcpy(d + i, s + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

void stream_fence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

std::shared_ptr<Storage> allocate_storage(int64_t nbytes) {
  auto s = std::make_shared<Storage>();
  const size_t n = round_size(static_cast<size_t>(nbytes));
  s->data = acquire_buffer(n);
  s->owned_bytes = n;
  s->nbytes = nbytes;
  return s;
}

Storage::~Storage() {
  if (owned_bytes != 0) release_buffer(data, owned_bytes);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    FG_CHECK(d >= 0, "negative dimension in shape ", shape);
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      throw OutOfMemory(str_cat("a tensor of shape ", shape, " has more than 2^63 elements"));
    }
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return st;
}

static bool compute_contiguous(const Shape& shape, const Shape& strides) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (shape[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

static std::atomic<int64_t> g_live_tensors{0};
int64_t TensorImpl::live_count() { return g_live_tensors.load(); }
TensorImpl::~TensorImpl() { g_live_tensors.fetch_sub(1, std::memory_order_relaxed); }

TensorImpl::TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape,
                       Shape strides, DType dtype)
    : storage_(std::move(storage)),
      offset_(offset),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      dtype_(dtype) {
  numel_ = shape_numel(shape_);
  g_live_tensors.fetch_add(1, std::memory_order_relaxed);
  contiguous_ = compute_contiguous(shape_, strides_);
}

Tensor empty(const Shape& shape, DType dtype) {
  const int64_t n = shape_numel(shape);
  const int64_t item = static_cast<int64_t>(itemsize(dtype));
  std::shared_ptr<Storage> st;
  try {
    if (n > std::numeric_limits<int64_t>::max() / 8) throw std::bad_alloc();
    st = allocate_storage(n * item);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(str_cat("cannot allocate ", static_cast<double>(n) * item / (1 << 30),
                              " GiB for a tensor of shape ", shape, " and dtype ",
                              dtype_name(dtype)));
  }
  return std::make_shared<TensorImpl>(std::move(st), 0, shape, contiguous_strides(shape), dtype);
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  return std::make_shared<TensorImpl>(base->storage(), offset, std::move(shape),
                                      std::move(strides), base->dtype());
}

Tensor detach(const Tensor& t) {
  return std::make_shared<TensorImpl>(t->storage(), t->offset(), t->shape(), t->strides(),
                                      t->dtype());
}

}  // namespace fastgrad
