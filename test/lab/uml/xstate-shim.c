/*
 * Preloaded into linux.uml by the lab (harness/umlshim.ts). Debian 12's User-Mode Linux (6.1)
 * restores a process's FPU state with PTRACE_SETREGSET(NT_X86_XSTATE) and a buffer of its own
 * size, 2696 bytes (x87 up to AVX-512). Host kernels accept only the whole XSAVE area there and
 * answer EFAULT to anything shorter, so on CPUs with AMX (an area of 11008 bytes) UML dies at
 * its first process ("ptrace set fp regs failed, errno = 14"). A short SETREGSET is sent whole
 * here: UML's part, then the tracee's current state for the rest (AMX's tile state, which no
 * process in a lab node uses: it needs a permission asked with arch_prctl).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, ...);

/* Larger than any XSAVE area (AMX makes it about 11 KiB); UML's kernel runs one thread. */
static unsigned char whole[65536] __attribute__((aligned(64)));

long ptrace(enum __ptrace_request request, ...) {
  static ptrace_fn real;
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);
  if (!real) real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  if (request == PTRACE_SETREGSET && (unsigned long)addr == NT_X86_XSTATE && data) {
    struct iovec *part = data;
    struct iovec all = { whole, sizeof whole };
    if (real(PTRACE_GETREGSET, pid, addr, &all) == 0 && all.iov_len > part->iov_len) {
      memcpy(whole, part->iov_base, part->iov_len);
      return real(PTRACE_SETREGSET, pid, addr, &all);
    }
  }
  return real(request, pid, addr, data);
}
