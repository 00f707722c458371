// tls_address(v): the address of a thread-local, computed once. In -fPIC code each computation of
// a thread-local's address is a call to __tls_get_addr, and GCC recomputes it after every call
// in the function rather than keep it in a register; the empty asm hides where the pointer came
// from, so it stays in a register.
#pragma once

namespace fastgrad {

template <class T>
inline T* tls_address(T& thread_local_var) {
  T* p = &thread_local_var;
  asm("" : "+r"(p));
  return p;
}

}  // namespace fastgrad
