// Storage allocation and TensorImpl geometry. No kernels and no autograd logic here.
#include "tensor/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_map>

#include "tensor/iter.h"
#include "tensor/pool.h"
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

struct BufferCache {
  // Power-of-two sizes up to 1 MiB (every size round_size gives below 1 MiB) by index, without
  // hashing; the others by size.
  static constexpr int kClasses = 15;
  std::vector<void*> by_class[kClasses];
  std::unordered_map<size_t, std::vector<void*>> by_size;
  size_t bytes = 0;

  static int class_of(size_t size) {
    if (size > (size_t(64) << (kClasses - 1)) || (size & (size - 1)) != 0) return -1;
    return __builtin_ctzll(size) - 6;
  }
  std::vector<void*>& list(size_t size) {
    const int k = class_of(size);
    return k >= 0 ? by_class[k] : by_size[size];
  }
  std::vector<void*>* find(size_t size) {
    const int k = class_of(size);
    if (k >= 0) return &by_class[k];
    auto it = by_size.find(size);
    return it == by_size.end() ? nullptr : &it->second;
  }
  // Frees cached buffers of sizes other than `keep` until `need` more bytes fit in the budget.
  void make_room(size_t need, size_t keep) {
    auto drop = [&](std::vector<void*>& l, size_t size) {
      while (!l.empty() && bytes + need > kCacheMaxBytes) {
        std::free(l.back());
        l.pop_back();
        bytes -= size;
      }
    };
    for (int k = 0; k < kClasses && bytes + need > kCacheMaxBytes; ++k) {
      if ((size_t(64) << k) != keep) drop(by_class[k], size_t(64) << k);
    }
    for (auto it = by_size.begin(); bytes + need > kCacheMaxBytes && it != by_size.end(); ++it) {
      if (it->first != keep) drop(it->second, it->first);
    }
  }
  ~BufferCache() {
    for (auto& l : by_class)
      for (void* p : l) std::free(p);
    for (auto& kv : by_size)
      for (void* p : kv.second) std::free(p);
  }
};

// The thread's cache, made on first use. The slot is trivially constructible and destructible, so
// reading it is one thread-local access (no guard); `dead` is set when the thread exits, after
// which buffers freed by other thread-locals' destructors go straight to free().
struct CacheSlot {
  BufferCache* cache = nullptr;
  bool dead = false;
};
thread_local CacheSlot t_slot;

struct CacheOwner {
  ~CacheOwner() {
    delete t_slot.cache;
    t_slot.cache = nullptr;
    t_slot.dead = true;
  }
};

BufferCache* cache() {
  CacheSlot& s = t_slot;
  if (s.cache || s.dead) return s.cache;
  thread_local CacheOwner owner;  // registers the destructor above; reached once per thread
  (void)owner;
  s.cache = new BufferCache();
  return s.cache;
}

void release_buffer(void* p, size_t size) {
  BufferCache* c = cache();
  if (c && size <= kCacheMaxBytes) {
    auto& l = c->list(size);
    if (l.size() < max_cached(size)) {
      // Over budget: make room by freeing buffers of other sizes, so the sizes in use now win over
      // those of an earlier phase (a 40 MB ReLU after GEMMs had found the cache full of their
      // buffers and paid a fresh, page-faulting buffer every step).
      if (c->bytes + size > kCacheMaxBytes) c->make_room(size, size);
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
    std::vector<void*>* l = c->find(size);
    if (l && !l->empty()) {
      void* p = l->back();
      l->pop_back();
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

// Note [Inline storage]: a 0-d tensor (or any of at most kInlineBytes) keeps its data in the same
// allocation as its Storage and control block: one malloc instead of a Storage plus a cached
// buffer (a hash lookup and thread-local access each way). Scalar graphs are made of such
// tensors; a 10^6-op chain saves ~100 bytes per op. 8 bytes (one element of any dtype) make the
// block 56 bytes, a 64-byte malloc chunk (16 bytes had made it 80); 8-byte alignment is enough
// for every kernel (they load unaligned: NumPy memory shared by from_numpy has no alignment
// promise either).
namespace {
struct InlineStorage : Storage {
  alignas(8) unsigned char bytes[kInlineBytes];
};
}  // namespace

std::shared_ptr<Storage> allocate_storage(int64_t nbytes) {
  if (nbytes <= kInlineBytes) {
    auto s = pool::make<InlineStorage>();
    s->data = s->bytes;
    s->nbytes = nbytes;
    return s;
  }
  auto s = pool::make<Storage>();
  s->data = acquire_buffer(round_size(static_cast<size_t>(nbytes)));
  s->owns_buffer = true;
  s->nbytes = nbytes;
  return s;
}

std::shared_ptr<Storage> foreign_storage(std::shared_ptr<void> holder, void* data, int64_t nbytes) {
  auto s = pool::make<ForeignStorage>();
  s->holder = std::move(holder);
  s->data = data;
  s->nbytes = nbytes;
  return s;
}

Storage::~Storage() {
  if (owns_buffer) release_buffer(data, round_size(static_cast<size_t>(nbytes)));
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
TensorImpl::~TensorImpl() {
  g_live_tensors.fetch_sub(1, std::memory_order_relaxed);
  if (grad_fn_) forget_output(*this);
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape, Shape strides,
                       DType dtype)
    : storage_(std::move(storage)),
      offset_(offset),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      dtype_(dtype) {
  numel_ = shape_numel(shape_);
  g_live_tensors.fetch_add(1, std::memory_order_relaxed);
  contiguous_ = compute_contiguous(shape_, strides_);
}

void TensorImpl::set_data(const TensorImpl& src) {
  storage_ = src.storage_;
  offset_ = src.offset_;
  shape_ = src.shape_;
  strides_ = src.strides_;
  dtype_ = src.dtype_;
  numel_ = src.numel_;
  contiguous_ = src.contiguous_;
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
  return pool::make<TensorImpl>(std::move(st), 0, shape, contiguous_strides(shape), dtype);
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  return pool::make<TensorImpl>(base->storage(), offset, std::move(shape), std::move(strides),
                                base->dtype());
}

Tensor detach(const Tensor& t) {
  return pool::make<TensorImpl>(t->storage(), t->offset(), t->shape(), t->strides(), t->dtype());
}

}  // namespace fastgrad
