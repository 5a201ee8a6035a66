/* SPDX-License-Identifier: MIT */
/* smtest_failsync.c - a library the durable suite preloads into a daemon
 * (LD_PRELOAD) to make its fdatasync fail: once the file named by
 * $SMTEST_FAIL_FSYNC exists, every fdatasync returns -1 with EIO, as the
 * kernel does after a write-back error. Nothing else changes. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Exported whatever -fvisibility the build uses: it must interpose. */
__attribute__((visibility("default"))) int fdatasync(int fd) {
  const char *flag = getenv("SMTEST_FAIL_FSYNC");
  if (flag && access(flag, F_OK) == 0) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real ? real(fd) : -1;
}
