// LD_PRELOAD shim for the end-to-end fault injection tests
// (tests/test_fault_injection.py): makes file system calls on paths under one directory
// fail with a chosen errno while a control file exists, so that a test can switch a fault
// on and off under a running server (tests run as root: chmod cannot make a directory
// read-only, and they may not mount anything).
//
//   LD_PRELOAD=libfault_inject.so
//   INGESTER_FAULT_DIR=/abs/dir          calls on `dir` itself or anything under it
//   INGESTER_FAULT_CONTROL=/abs/file     while this file exists, its tokens apply
//
// The control file holds whitespace-separated `op=ERRNO` tokens (read at every call, so
// rewriting it changes the fault at once):
//   open=E      open/openat/creat for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC)
//   write=E     write, pwrite, writev, pwritev on such a file; with ENOSPC the call
//               first writes half of what it was given (a disk filling up mid-write
//               returns short writes, then ENOSPC), down to a single byte
//   fsync=E     fsync, fdatasync, sync_file_range
//   meta=E      rename, unlink, mkdir, rmdir, truncate, ftruncate
//   readonly    every one of the above fails with EROFS (a file system remounted
//               read-only after an error)
// E is one of EIO, ENOSPC, EROFS, EACCES, EDQUOT. A file descriptor's path is read from
// /proc/self/fd. Each injected failure is reported on stderr ("fault_inject: ...").
//
// Test only: never linked into the ingester.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum Op { kOpen, kWrite, kFsync, kMeta, kOps };
static const char* const kOpNames[kOps] = {"open", "write", "fsync", "meta"};

static char g_dir[4096];
static size_t g_dir_len;
static char g_control[4096];

// Every call goes to the next definition (libc's), looked up on first use.
#define REAL(name, ret, ...)                                        \
  static ret (*real_##name)(__VA_ARGS__);                           \
  static void resolve_##name(void) {                                \
    if (real_##name == NULL) real_##name = dlsym(RTLD_NEXT, #name); \
  }
REAL(open, int, const char*, int, ...)
REAL(open64, int, const char*, int, ...)
REAL(openat, int, int, const char*, int, ...)
REAL(openat64, int, int, const char*, int, ...)
REAL(creat, int, const char*, mode_t)
REAL(creat64, int, const char*, mode_t)
REAL(write, ssize_t, int, const void*, size_t)
REAL(pwrite, ssize_t, int, const void*, size_t, off_t)
REAL(pwrite64, ssize_t, int, const void*, size_t, off64_t)
REAL(writev, ssize_t, int, const struct iovec*, int)
REAL(pwritev, ssize_t, int, const struct iovec*, int, off_t)
REAL(fsync, int, int)
REAL(fdatasync, int, int)
REAL(sync_file_range, int, int, off64_t, off64_t, unsigned int)
REAL(rename, int, const char*, const char*)
REAL(renameat, int, int, const char*, int, const char*)
REAL(renameat2, int, int, const char*, int, const char*, unsigned int)
REAL(unlink, int, const char*)
REAL(unlinkat, int, int, const char*, int)
REAL(mkdir, int, const char*, mode_t)
REAL(mkdirat, int, int, const char*, mode_t)
REAL(rmdir, int, const char*)
REAL(truncate, int, const char*, off_t)
REAL(ftruncate, int, int, off_t)

__attribute__((constructor)) static void init(void) {
  const char* dir = getenv("INGESTER_FAULT_DIR");
  const char* control = getenv("INGESTER_FAULT_CONTROL");
  if (dir == NULL || control == NULL || dir[0] != '/') return;
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  g_dir_len = strlen(g_dir);
  while (g_dir_len > 1 && g_dir[g_dir_len - 1] == '/') g_dir[--g_dir_len] = '\0';
  snprintf(g_control, sizeof g_control, "%s", control);
}

static void report(const char* what, const char* path, int err) {
  char line[4600];
  int n = snprintf(line, sizeof line, "fault_inject: %s '%s' -> %s\n", what, path,
                   strerrorname_np(err) ? strerrorname_np(err) : "?");
  if (n > 0)
    syscall(SYS_write, 2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line);
}

static int parse_errno(const char* name, size_t len) {
  static const struct {
    const char* name;
    int err;
  } kErrnos[] = {{"EIO", EIO},
                 {"ENOSPC", ENOSPC},
                 {"EROFS", EROFS},
                 {"EACCES", EACCES},
                 {"EDQUOT", EDQUOT}};
  for (size_t i = 0; i < sizeof kErrnos / sizeof kErrnos[0]; ++i) {
    if (strlen(kErrnos[i].name) == len && strncmp(kErrnos[i].name, name, len) == 0)
      return kErrnos[i].err;
  }
  return 0;
}

// The errno `op` must fail with now, 0 for none. Reads the control file with raw
// system calls (not through this shim).
static int fault_for(enum Op op) {
  if (g_dir_len == 0) return 0;
  int fd = (int)syscall(SYS_openat, AT_FDCWD, g_control, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  int err = 0;
  for (char* tok = buf; *tok != '\0';) {
    size_t len = strcspn(tok, " \t\r\n");
    if (len == 8 && strncmp(tok, "readonly", 8) == 0) err = EROFS;
    const char* eq = memchr(tok, '=', len);
    if (eq != NULL) {
      size_t name_len = (size_t)(eq - tok);
      if (strlen(kOpNames[op]) == name_len && strncmp(tok, kOpNames[op], name_len) == 0)
        err = parse_errno(eq + 1, len - name_len - 1);
    }
    tok += len;
    tok += strspn(tok, " \t\r\n");
  }
  return err;
}

static int under_dir(const char* path) {
  return g_dir_len > 0 && strncmp(path, g_dir, g_dir_len) == 0 &&
         (path[g_dir_len] == '\0' || path[g_dir_len] == '/');
}

// The absolute form of `path` opened relative to `dirfd`, in `out`.
static void absolute(int dirfd, const char* path, char* out, size_t size) {
  if (path[0] == '/') {
    snprintf(out, size, "%s", path);
    return;
  }
  char base[4096];
  if (dirfd == AT_FDCWD) {
    if (getcwd(base, sizeof base) == NULL) base[0] = '\0';
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    base[n > 0 ? n : 0] = '\0';
  }
  snprintf(out, size, "%s/%s", base, path);
}

// The errno a call on `path` (relative to `dirfd`) must fail with, 0 for none.
static int path_fault(enum Op op, int dirfd, const char* path, const char* what) {
  if (g_dir_len == 0 || path == NULL) return 0;
  int err = fault_for(op);
  if (err == 0) return 0;
  char abs[4096];
  absolute(dirfd, path, abs, sizeof abs);
  if (!under_dir(abs)) return 0;
  report(what, abs, err);
  return err;
}

static int fd_fault(enum Op op, int fd, const char* what) {
  if (g_dir_len == 0 || fd < 0) return 0;
  int err = fault_for(op);
  if (err == 0) return 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  if (!under_dir(path)) return 0;
  report(what, path, err);
  return err;
}

static int writes(int flags) {
  return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
}

#define FAIL(err)  \
  do {             \
    errno = (err); \
    return -1;     \
  } while (0)

#define OPEN_BODY(name, dirfd, ...)                                    \
  mode_t mode = 0;                                                     \
  if (flags & (O_CREAT | O_TMPFILE)) {                                 \
    va_list ap;                                                        \
    va_start(ap, flags);                                               \
    mode = va_arg(ap, mode_t);                                         \
    va_end(ap);                                                        \
  }                                                                    \
  int err = writes(flags) ? path_fault(kOpen, dirfd, path, #name) : 0; \
  if (err) FAIL(err);                                                  \
  resolve_##name();                                                    \
  return real_##name(__VA_ARGS__, flags, mode);

int open(const char* path, int flags, ...) { OPEN_BODY(open, AT_FDCWD, path) }
int open64(const char* path, int flags, ...) { OPEN_BODY(open64, AT_FDCWD, path) }
int openat(int dirfd, const char* path, int flags, ...) {
  OPEN_BODY(openat, dirfd, dirfd, path)
}
int openat64(int dirfd, const char* path, int flags,
             ...){OPEN_BODY(openat64, dirfd, dirfd, path)}
// What fortified callers (_FORTIFY_SOURCE) call for an open without a mode argument.
REAL(__open_2, int, const char*, int)
    REAL(__open64_2, int, const char*, int) int __open_2(const char* path, int flags) {
  int err = writes(flags) ? path_fault(kOpen, AT_FDCWD, path, "open") : 0;
  if (err) FAIL(err);
  resolve___open_2();
  return real___open_2(path, flags);
}
int __open64_2(const char* path, int flags) {
  int err = writes(flags) ? path_fault(kOpen, AT_FDCWD, path, "open64") : 0;
  if (err) FAIL(err);
  resolve___open64_2();
  return real___open64_2(path, flags);
}
int creat(const char* path, mode_t mode) {
  int err = path_fault(kOpen, AT_FDCWD, path, "creat");
  if (err) FAIL(err);
  resolve_creat();
  return real_creat(path, mode);
}
int creat64(const char* path, mode_t mode) {
  int err = path_fault(kOpen, AT_FDCWD, path, "creat64");
  if (err) FAIL(err);
  resolve_creat64();
  return real_creat64(path, mode);
}

ssize_t write(int fd, const void* buf, size_t count) {
  int err = fd_fault(kWrite, fd, "write");
  resolve_write();
  if (err == ENOSPC && count > 1) return real_write(fd, buf, count / 2);
  if (err) FAIL(err);
  return real_write(fd, buf, count);
}
ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  int err = fd_fault(kWrite, fd, "pwrite");
  resolve_pwrite();
  if (err == ENOSPC && count > 1) return real_pwrite(fd, buf, count / 2, offset);
  if (err) FAIL(err);
  return real_pwrite(fd, buf, count, offset);
}
ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  int err = fd_fault(kWrite, fd, "pwrite64");
  resolve_pwrite64();
  if (err == ENOSPC && count > 1) return real_pwrite64(fd, buf, count / 2, offset);
  if (err) FAIL(err);
  return real_pwrite64(fd, buf, count, offset);
}
ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  int err = fd_fault(kWrite, fd, "writev");
  resolve_writev();
  if (err == ENOSPC && iovcnt > 0 && iov[0].iov_len > 1) {
    resolve_write();
    return real_write(fd, iov[0].iov_base, iov[0].iov_len / 2);
  }
  if (err) FAIL(err);
  return real_writev(fd, iov, iovcnt);
}
ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  int err = fd_fault(kWrite, fd, "pwritev");
  resolve_pwritev();
  if (err == ENOSPC && iovcnt > 0 && iov[0].iov_len > 1) {
    resolve_pwrite();
    return real_pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, offset);
  }
  if (err) FAIL(err);
  return real_pwritev(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
  int err = fd_fault(kFsync, fd, "fsync");
  if (err) FAIL(err);
  resolve_fsync();
  return real_fsync(fd);
}
int fdatasync(int fd) {
  int err = fd_fault(kFsync, fd, "fdatasync");
  if (err) FAIL(err);
  resolve_fdatasync();
  return real_fdatasync(fd);
}
int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  int err = fd_fault(kFsync, fd, "sync_file_range");
  if (err) FAIL(err);
  resolve_sync_file_range();
  return real_sync_file_range(fd, offset, nbytes, flags);
}

int rename(const char* from, const char* to) {
  int err = path_fault(kMeta, AT_FDCWD, from, "rename");
  if (!err) err = path_fault(kMeta, AT_FDCWD, to, "rename");
  if (err) FAIL(err);
  resolve_rename();
  return real_rename(from, to);
}
int renameat(int fromfd, const char* from, int tofd, const char* to) {
  int err = path_fault(kMeta, fromfd, from, "renameat");
  if (!err) err = path_fault(kMeta, tofd, to, "renameat");
  if (err) FAIL(err);
  resolve_renameat();
  return real_renameat(fromfd, from, tofd, to);
}
int renameat2(int fromfd, const char* from, int tofd, const char* to,
              unsigned int flags) {
  int err = path_fault(kMeta, fromfd, from, "renameat2");
  if (!err) err = path_fault(kMeta, tofd, to, "renameat2");
  if (err) FAIL(err);
  resolve_renameat2();
  return real_renameat2(fromfd, from, tofd, to, flags);
}
int unlink(const char* path) {
  int err = path_fault(kMeta, AT_FDCWD, path, "unlink");
  if (err) FAIL(err);
  resolve_unlink();
  return real_unlink(path);
}
int unlinkat(int dirfd, const char* path, int flags) {
  int err = path_fault(kMeta, dirfd, path, "unlinkat");
  if (err) FAIL(err);
  resolve_unlinkat();
  return real_unlinkat(dirfd, path, flags);
}
int mkdir(const char* path, mode_t mode) {
  int err = path_fault(kMeta, AT_FDCWD, path, "mkdir");
  if (err) FAIL(err);
  resolve_mkdir();
  return real_mkdir(path, mode);
}
int mkdirat(int dirfd, const char* path, mode_t mode) {
  int err = path_fault(kMeta, dirfd, path, "mkdirat");
  if (err) FAIL(err);
  resolve_mkdirat();
  return real_mkdirat(dirfd, path, mode);
}
int rmdir(const char* path) {
  int err = path_fault(kMeta, AT_FDCWD, path, "rmdir");
  if (err) FAIL(err);
  resolve_rmdir();
  return real_rmdir(path);
}
int truncate(const char* path, off_t length) {
  int err = path_fault(kMeta, AT_FDCWD, path, "truncate");
  if (err) FAIL(err);
  resolve_truncate();
  return real_truncate(path, length);
}
int ftruncate(int fd, off_t length) {
  int err = fd_fault(kMeta, fd, "ftruncate");
  if (err) FAIL(err);
  resolve_ftruncate();
  return real_ftruncate(fd, length);
}
