/* SPDX-License-Identifier: MIT */
/* manager.c - a private statemgrd in one call: sm_manager_start and
 * sm_manager_shutdown, the C form of Python's `with multiprocessing.Manager()`.
 *
 * sm_manager_start makes a private directory (mkdtemp, mode 0700), forks
 * and execs statemgrd listening only on DIR/statemgr.sock, waits for its
 * ready file while watching it with waitpid(WNOHANG), then connects. The
 * authkey is the caller's (sm_manager_options_set_authkey) or 32 random
 * bytes written as hex; the daemon reads it from a pipe on descriptor 4
 * (--authkey-fd 4), so it never touches the disk and any bytes work (a key
 * file would lose a trailing newline). sm_manager_authkey() hands it to
 * the caller, to share with the other programs it lets in. The daemon:
 * - gets PR_SET_PDEATHSIG = SIGKILL, so it dies with the thread that
 *   started it, even when the process is killed with SIGKILL (the getppid()
 *   check closes the race with a parent that died before the prctl);
 * - runs in a process group of its own, so a Ctrl-C meant for the program
 *   does not stop the manager under it (Python's manager ignores SIGINT);
 * - inherits no descriptor but stdin (/dev/null), stdout and stderr (the
 *   log file or /dev/null), the key pipe, and an empty signal mask.
 * An exec failure comes back through a close-on-exec pipe, so a daemon that
 * cannot run is reported as such, not as a daemon that exited.
 *
 * Children forked afterwards use the manager's sm_client as any client
 * (libstatemgr opens fresh connections in a fork child); only the process
 * that started the manager stops it. sm_manager_shutdown asks the daemon to
 * stop, waits for it by PID (bounded; SIGTERM when it cannot be asked,
 * SIGKILL as a last resort) and removes the private directory.
 *
 * Extending: a new option is a field of sm_manager_options, a setter, and
 * its use in build_argv() or sm_manager_start(). */
#include "statemgr.h"

#include "../proto/authkey.h"
#include "errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_START_TIMEOUT_MS 10000
#define STOP_WAIT_MS 5000 /* for the daemon to exit once asked, before SIGKILL */
#define KEY_BYTES 32      /* random bytes of a key the caller did not choose */
#define KEY_FD 4          /* where the daemon reads the key (--authkey-fd) */
#define SOCK_NAME "statemgr.sock"
#define DAEMON_NAME "statemgrd"

struct sm_manager_options {
  char *daemon_path;    /**< owned; NULL: $STATEMGRD, beside the program, then $PATH */
  char *log_file;       /**< owned; NULL: the daemon's stderr goes to /dev/null */
  int start_timeout_ms; /**< for the daemon to become ready */
  uint8_t *key;         /**< owned, wiped when freed; NULL: a random key */
  size_t key_len;
  char *data_dir; /**< owned; NULL: the daemon keeps its state in memory */
};

struct sm_manager {
  sm_client *client; /**< owned; lent out by sm_manager_client */
  pid_t pid;         /**< the daemon */
  pid_t owner;       /**< the process that started it: only it stops it */
  uint8_t *key;      /**< owned, wiped when freed: the authkey */
  size_t key_len;
  char dir[PATH_MAX];     /**< the private directory */
  char url[PATH_MAX + 8]; /**< unix:DIR/statemgr.sock */
};

/* ---- options ---- */

/* New options with defaults (caller frees with sm_manager_options_free()),
 * or NULL when out of memory. */
sm_manager_options *sm_manager_options_new(void) {
  sm_manager_options *o = calloc(1, sizeof *o);
  if (o) o->start_timeout_ms = DEFAULT_START_TIMEOUT_MS;
  return o;
}

/* Frees o; NULL is fine. */
void sm_manager_options_free(sm_manager_options *o) {
  if (!o) return;
  free(o->daemon_path);
  free(o->log_file);
  free(o->data_dir);
  if (o->key) OPENSSL_cleanse(o->key, o->key_len);
  free(o->key);
  free(o);
}

/* A copy of key (wiped when replaced or freed); NULL goes back to a random
 * key. */
int sm_manager_options_set_authkey(sm_manager_options *o, const void *key, size_t len) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  char why[256];
  if (key && authkey_check_len(len, "sm_manager_options_set_authkey()", why, sizeof why) != 0)
    return err_set(SM_EINVAL, "%s", why);
  uint8_t *copy = NULL;
  if (key && !(copy = malloc(len))) return err_set(SM_ENOMEM, "out of memory");
  if (copy) memcpy(copy, key, len);
  if (o->key) OPENSSL_cleanse(o->key, o->key_len);
  free(o->key);
  o->key = copy;
  o->key_len = copy ? len : 0;
  return SM_OK;
}

/* Replaces *dst with a copy of s (NULL: back to the default). */
static int set_path(char **dst, const char *s, const char *fn) {
  if (s && !*s) return err_set(SM_EINVAL, "%s: empty path", fn);
  char *copy = NULL;
  if (s && !(copy = strdup(s))) return err_set(SM_ENOMEM, "out of memory");
  free(*dst);
  *dst = copy;
  return SM_OK;
}

/* Copies path; NULL goes back to the default search. */
int sm_manager_options_set_daemon_path(sm_manager_options *o, const char *path) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  return set_path(&o->daemon_path, path, __func__);
}

/* Copies path; NULL goes back to keeping the state in memory. */
int sm_manager_options_set_data_dir(sm_manager_options *o, const char *path) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  return set_path(&o->data_dir, path, __func__);
}

/* Copies path; NULL goes back to /dev/null. */
int sm_manager_options_set_log_file(sm_manager_options *o, const char *path) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  return set_path(&o->log_file, path, __func__);
}

/* Only a positive bound: a manager that never starts must not hang. */
int sm_manager_options_set_start_timeout_ms(sm_manager_options *o, int ms) {
  if (!o || ms <= 0) return err_set(SM_EINVAL, "%s: NULL options or ms <= 0", __func__);
  o->start_timeout_ms = ms;
  return SM_OK;
}

/* ---- small helpers ---- */

/* Monotonic milliseconds, for the bounded waits. */
static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps about ms milliseconds between two looks at the daemon. */
static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL); /* an early wake-up (a signal) only means one more look */
}

/* Writes a printf-style path into buf; false when it does not fit. */
static bool path_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool path_fmt(char *buf, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, len, fmt, ap);
  va_end(ap);
  return n >= 0 && (size_t)n < len;
}

/* True when path names an executable regular file. */
static bool is_executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Looks name (no slash) up in $PATH; true with the full path in out. */
static bool search_path(const char *name, char *out, size_t len) {
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path;;) {
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    /* An empty entry is the current directory, as for execvp. */
    if (path_fmt(out, len, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", name) && is_executable(out))
      return true;
    if (!end) return false;
    p = end + 1;
  }
}

/* Finds the statemgrd to run: the option, else $STATEMGRD, else statemgrd
 * beside the running program, else in $PATH. A name without a slash is
 * looked up in $PATH. Returns 0 with the path in out, or SM_EINVAL. */
static int find_daemon(const sm_manager_options *o, char *out, size_t len) {
  const char *want = o && o->daemon_path ? o->daemon_path : getenv("STATEMGRD");
  const char *from = o && o->daemon_path ? "the daemon path option" : "$STATEMGRD";
  if (want && *want) {
    if (!strchr(want, '/')) {
      if (search_path(want, out, len)) return SM_OK;
      return err_set(SM_EINVAL, "cannot start a manager: %s \"%s\" is not in $PATH", from, want);
    }
    if (!path_fmt(out, len, "%s", want))
      return err_set(SM_EINVAL, "cannot start a manager: %s is too long", from);
    if (is_executable(out)) return SM_OK;
    int e = errno;
    struct stat st;
    const char *why = stat(out, &st) != 0    ? strerror(e)
                      : !S_ISREG(st.st_mode) ? "not a regular file"
                                             : strerror(EACCES);
    return err_set(SM_EINVAL, "cannot start a manager: cannot run statemgrd %s (from %s): %s", out,
                   from, why);
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      if (path_fmt(out, len, "%s/%s", self, DAEMON_NAME) && is_executable(out)) return SM_OK;
    }
  }
  if (search_path(DAEMON_NAME, out, len)) return SM_OK;
  return err_set(SM_EINVAL,
                 "cannot start a manager: no statemgrd beside this program (%s) nor in $PATH; "
                 "set $STATEMGRD or sm_manager_options_set_daemon_path()",
                 n > 0 ? self : "?");
}

/* Makes the private directory, mode 0700: under $TMPDIR when the socket
 * path still fits a UNIX socket address there, else under /tmp. */
static int make_dir(sm_manager *m) {
  struct sockaddr_un sun;
  /* DIR + "/statemgr.sock" must fit sun_path with its NUL. */
  size_t room = sizeof sun.sun_path - sizeof "/" SOCK_NAME;
  const char *tmp = getenv("TMPDIR");
  const char *bases[2] = {tmp && tmp[0] == '/' ? tmp : NULL, "/tmp"};
  for (int i = 0; i < 2; i++) {
    if (!bases[i]) continue;
    if (!path_fmt(m->dir, room + 1, "%s/statemgr-XXXXXX", bases[i])) continue;
    if (mkdtemp(m->dir)) return SM_OK;
    if (i == 1 || errno != ENOENT)
      return err_set(SM_ECONNECT, "cannot start a manager: mkdtemp in %s: %s", bases[i],
                     strerror(errno));
  }
  return err_set(SM_EINVAL, "cannot start a manager: no temporary directory short enough for a "
                            "UNIX socket path");
}

/* Sets m's key: a copy of the options' key, or KEY_BYTES random bytes as
 * hex. */
static int make_key(sm_manager *m, const sm_manager_options *o) {
  if (o && o->key) {
    if (!(m->key = malloc(o->key_len))) return err_set(SM_ENOMEM, "out of memory");
    memcpy(m->key, o->key, o->key_len);
    m->key_len = o->key_len;
    return SM_OK;
  }
  unsigned char raw[KEY_BYTES];
  if (RAND_bytes(raw, (int)sizeof raw) != 1)
    return err_set(SM_ECONNECT, "cannot start a manager: no randomness for the authkey");
  if (!(m->key = malloc(2 * KEY_BYTES))) {
    OPENSSL_cleanse(raw, sizeof raw);
    return err_set(SM_ENOMEM, "out of memory");
  }
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof raw; i++) {
    m->key[2 * i] = (uint8_t)digits[raw[i] >> 4];
    m->key[2 * i + 1] = (uint8_t)digits[raw[i] & 15];
  }
  m->key_len = 2 * KEY_BYTES;
  OPENSSL_cleanse(raw, sizeof raw);
  return SM_OK;
}

/* Wipes and frees m (its client is the caller's business). */
static void free_manager(sm_manager *m) {
  if (m->key) OPENSSL_cleanse(m->key, m->key_len);
  free(m->key);
  free(m);
}

/* Removes everything in the private directory, then the directory. */
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
  }
  rmdir(dir);
}

/* Describes a wait status: "exited with status 1", "was killed by signal
 * 9 (Killed)". */
static void describe_status(int st, char *buf, size_t len) {
  if (WIFEXITED(st))
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(buf, len, "ended with wait status %d", st);
}

/* Checks on the daemon without blocking. Returns 1 when it has ended
 * (*st its wait status, or 0 when another part of the program reaped it or
 * SIGCHLD is ignored), 0 while it runs. */
static int daemon_ended(pid_t pid, int *st) {
  for (;;) {
    pid_t r = waitpid(pid, st, WNOHANG);
    if (r == pid) return 1;
    if (r == 0) return 0;
    if (errno == EINTR) continue;
    /* ECHILD: not ours to reap any more; ask the kernel whether it lives. */
    *st = 0;
    return kill(pid, 0) != 0 && errno == ESRCH ? 1 : 0;
  }
}

/* Waits at most ms for the daemon to end; SIGKILL when it does not.
 * Returns 1 when it ended by itself (*st set), 0 when it had to be
 * killed. */
static int reap_daemon(pid_t pid, int ms, int *st) {
  int64_t deadline = now_ms() + ms;
  long pause = 1;
  while (now_ms() < deadline) {
    if (daemon_ended(pid, st)) return 1;
    sleep_ms(pause);
    if (pause < 20) pause *= 2;
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, st, 0) < 0 && errno == EINTR) {
  }
  return 0;
}

/* Moves fd to a descriptor >= 5, close-on-exec, so the child's dup2 onto
 * 0..4 never meets it. Returns the new fd (fd itself is closed), or -1. */
static int high_fd(int fd) {
  if (fd < 0 || fd > KEY_FD) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, KEY_FD + 1);
  int e = errno;
  close(fd);
  errno = e;
  return nfd;
}

/* Makes a pipe that holds m's key, its write end already closed: *rd gets
 * the read end (close-on-exec, above KEY_FD). Returns 0 or an SM_E* code. */
static int key_pipe(const sm_manager *m, int *rd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return err_set(SM_ECONNECT, "cannot start a manager: pipe: %s", strerror(errno));
  /* The key (at most 4 KiB) fits the pipe's buffer: no reader needed yet. */
  ssize_t w = write(fds[1], m->key, m->key_len);
  int e = w < 0 ? errno : EPIPE;
  close(fds[1]);
  *rd = high_fd(fds[0]);
  if (*rd < 0) e = errno;
  if (w != (ssize_t)m->key_len || *rd < 0) {
    if (*rd >= 0) close(*rd);
    *rd = -1;
    return err_set(SM_ECONNECT, "cannot start a manager: passing the key: %s", strerror(e));
  }
  return SM_OK;
}

/* In the forked child: only async-signal-safe calls until execve. Never
 * returns. */
static void exec_daemon(pid_t parent, const char *path, char *const *argv, int null_fd, int log_fd,
                        int err_fd, int key_fd) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127); /* the parent died before the prctl */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 || dup2(err_fd, 3) < 0 ||
      fcntl(3, F_SETFD, FD_CLOEXEC) < 0 || dup2(key_fd, KEY_FD) < 0)
    goto fail;
  if (close_range(KEY_FD + 1, ~0u, 0) != 0) {
    struct rlimit rl; /* a kernel before 5.9: close them one by one */
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (long)rl.rlim_cur
                   : 65536;
    for (long fd = KEY_FD + 1; fd < max; fd++)
      close((int)fd);
  }
  execve(path, argv, environ);
fail:;
  int e = errno;
  ssize_t w = write(3, &e, sizeof e);
  (void)w;
  _exit(127);
}

/* Starts the daemon: forks, execs, and reports an exec failure. Returns 0
 * with m->pid set, or an SM_E* code. */
static int spawn(sm_manager *m, const sm_manager_options *o, const char *daemon) {
  char sock[PATH_MAX], ready[PATH_MAX], listen[PATH_MAX + 8], key_fd_arg[8];
  snprintf(key_fd_arg, sizeof key_fd_arg, "%d", KEY_FD);
  if (!path_fmt(sock, sizeof sock, "%s/%s", m->dir, SOCK_NAME) ||
      !path_fmt(ready, sizeof ready, "%s/ready", m->dir) ||
      !path_fmt(listen, sizeof listen, "unix:%s", sock) ||
      !path_fmt(m->url, sizeof m->url, "unix:%s", sock))
    return err_set(SM_EINVAL, "cannot start a manager: path too long");
  /* In memory, as Python's Manager(), unless the caller names a data
   * directory. */
  const char *data_dir = o && o->data_dir ? o->data_dir : NULL;
  char *argv[] = {(char *)daemon,
                  "--listen",
                  listen,
                  "--authkey-fd",
                  key_fd_arg,
                  "--ready-file",
                  ready,
                  "--log-level",
                  "warn",
                  data_dir ? "--data-dir" : "--no-persist",
                  (char *)data_dir,
                  NULL};
  const char *log = o && o->log_file ? o->log_file : "/dev/null";
  int null_fd = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int log_fd = high_fd(open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  int pipe_fds[2] = {-1, -1}, key_fd = -1;
  int rc = SM_OK;
  if (null_fd < 0 || log_fd < 0) {
    rc = err_set(SM_EINVAL, "cannot start a manager: opening %s: %s",
                 null_fd < 0 ? "/dev/null" : log, strerror(errno));
  } else if ((rc = key_pipe(m, &key_fd)) != SM_OK) {
    /* the reason is the last error */
  } else if (pipe2(pipe_fds, O_CLOEXEC) != 0 || (pipe_fds[0] = high_fd(pipe_fds[0])) < 0 ||
             (pipe_fds[1] = high_fd(pipe_fds[1])) < 0) {
    rc = err_set(SM_ECONNECT, "cannot start a manager: pipe: %s", strerror(errno));
  } else {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) exec_daemon(parent, daemon, argv, null_fd, log_fd, pipe_fds[1], key_fd);
    if (pid < 0) {
      rc = err_set(SM_ECONNECT, "cannot start a manager: fork: %s", strerror(errno));
    } else {
      m->pid = pid;
      close(pipe_fds[1]);
      pipe_fds[1] = -1;
      int e = 0;
      ssize_t r;
      while ((r = read(pipe_fds[0], &e, sizeof e)) < 0 && errno == EINTR) {
      }
      if (r == (ssize_t)sizeof e) { /* exec failed: the child has exited */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        m->pid = 0;
        rc = err_set(SM_EINVAL, "cannot start a manager: cannot run statemgrd %s: %s", daemon,
                     strerror(e));
      }
    }
  }
  for (int i = 0; i < 2; i++)
    if (pipe_fds[i] >= 0) close(pipe_fds[i]);
  if (null_fd >= 0) close(null_fd);
  if (log_fd >= 0) close(log_fd);
  if (key_fd >= 0) close(key_fd);
  return rc;
}

/* Waits for DIR/ready (written by a rename, so complete once it exists)
 * until timeout_ms, watching for an early exit. Returns 0, SM_ECONNECT (the
 * daemon exited) or SM_ETIMEOUT; on failure the daemon is gone. */
static int wait_ready(sm_manager *m, const sm_manager_options *o, int timeout_ms) {
  char ready[PATH_MAX];
  if (!path_fmt(ready, sizeof ready, "%s/ready", m->dir))
    return err_set(SM_EINVAL, "cannot start a manager: path too long");
  int64_t deadline = now_ms() + timeout_ms;
  long pause = 1;
  for (;;) {
    if (access(ready, F_OK) == 0) return SM_OK;
    int st = 0;
    if (daemon_ended(m->pid, &st)) {
      char how[128];
      describe_status(st, how, sizeof how);
      m->pid = 0;
      if (o && o->log_file)
        return err_set(SM_ECONNECT, "statemgrd %s during start-up (its log: %s)", how, o->log_file);
      return err_set(SM_ECONNECT,
                     "statemgrd %s during start-up (sm_manager_options_set_log_file() keeps "
                     "its messages)",
                     how);
    }
    if (now_ms() >= deadline) break;
    sleep_ms(pause);
    if (pause < 10) pause *= 2;
  }
  int st;
  reap_daemon(m->pid, 0, &st);
  m->pid = 0;
  return err_set(SM_ETIMEOUT, "statemgrd did not become ready within %d ms", timeout_ms);
}

/* ---- the manager ---- */

/* *out: the new manager (caller stops it with sm_manager_shutdown()). */
int sm_manager_start(const sm_manager_options *opts, sm_manager **out) {
  if (!out) return err_set(SM_EINVAL, "%s: NULL out", __func__);
  char daemon[PATH_MAX];
  int rc = find_daemon(opts, daemon, sizeof daemon);
  if (rc != SM_OK) return rc;
  sm_manager *m = calloc(1, sizeof *m);
  if (!m) return err_set(SM_ENOMEM, "out of memory");
  m->owner = getpid();
  rc = make_dir(m);
  if (rc != SM_OK) {
    free(m);
    return rc;
  }
  rc = make_key(m, opts);
  if (rc == SM_OK) rc = spawn(m, opts, daemon);
  if (rc == SM_OK)
    rc = wait_ready(m, opts, opts ? opts->start_timeout_ms : DEFAULT_START_TIMEOUT_MS);
  if (rc == SM_OK) {
    sm_options *co = sm_options_new();
    if (!co) rc = err_set(SM_ENOMEM, "out of memory");
    if (rc == SM_OK) rc = sm_options_set_authkey(co, m->key, m->key_len);
    if (rc == SM_OK) rc = sm_connect(m->url, co, &m->client);
    sm_options_free(co);
  }
  if (rc != SM_OK) {
    if (m->pid > 0) {
      int st;
      kill(m->pid, SIGKILL);
      reap_daemon(m->pid, 1000, &st);
    }
    remove_dir(m->dir);
    free_manager(m);
    return rc; /* the text of the failure stays this thread's last error */
  }
  *out = m;
  return SM_OK;
}

/* Borrowed: valid until sm_manager_shutdown(m). */
sm_client *sm_manager_client(sm_manager *m) { return m ? m->client : NULL; }

/* Borrowed: valid until sm_manager_shutdown(m). */
const char *sm_manager_url(const sm_manager *m) { return m ? m->url : NULL; }

/* Borrowed: valid until sm_manager_shutdown(m). */
const void *sm_manager_authkey(const sm_manager *m, size_t *len) {
  if (len) *len = m ? m->key_len : 0;
  return m ? m->key : NULL;
}

/* The daemon's PID, also in a fork child (which must not wait for it). */
pid_t sm_manager_pid(const sm_manager *m) { return m ? m->pid : 0; }

/* Frees m in every case; in the starting process also stops the daemon
 * and removes the private directory. */
int sm_manager_shutdown(sm_manager *m) {
  if (!m) return SM_OK;
  if (getpid() != m->owner) { /* a fork child: its own copy only */
    sm_client_free(m->client);
    free_manager(m);
    return SM_OK;
  }
  int rc = SM_OK;
  bool asked = sm_shutdown(m->client) == SM_OK;
  sm_client_free(m->client);
  if (!asked) kill(m->pid, SIGTERM); /* its socket failed: stop it the other way */
  int st = 0;
  if (!reap_daemon(m->pid, STOP_WAIT_MS, &st)) {
    rc = err_set(SM_ETIMEOUT, "statemgrd (pid %d) did not stop within %d ms: killed", (int)m->pid,
                 STOP_WAIT_MS);
  } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    char how[128];
    describe_status(st, how, sizeof how);
    rc = err_set(SM_EINTERNAL, "statemgrd (pid %d) %s", (int)m->pid, how);
  }
  remove_dir(m->dir);
  free_manager(m);
  return rc;
}
