/* SPDX-License-Identifier: MIT */
/* authkey.c - authkey lookup and first-start creation (see authkey.h). */
#define _POSIX_C_SOURCE 200809L
#include "authkey.h"

#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int authkey_set(authkey *out, const void *key, size_t len, const char *source) {
  authkey_clear(out);
  out->bytes = malloc(len ? len : 1);
  if (!out->bytes) return -1;
  memcpy(out->bytes, key, len);
  out->len = len;
  snprintf(out->source, sizeof out->source, "%s", source);
  return 0;
}

void authkey_clear(authkey *k) {
  if (k->bytes) {
    auth_wipe(k->bytes, k->len);
    free(k->bytes);
  }
  k->bytes = NULL;
  k->len = 0;
  k->source[0] = '\0';
}

int authkey_default_path(char *buf, size_t len) {
  const char *home = getenv("HOME");
  if (!home || !*home) {
    struct passwd *pw = getpwuid(getuid());
    home = pw ? pw->pw_dir : NULL;
  }
  if (!home) return -1;
  int n = snprintf(buf, len, "%s/.statemgr/authkey", home);
  return n > 0 && (size_t)n < len ? 0 : -1;
}

int authkey_check_len(size_t len, const char *source, char *err, size_t errlen) {
  if (len > AUTHKEY_MAX_LEN) {
    snprintf(err, errlen, "the authkey from %s is longer than %u bytes", source, AUTHKEY_MAX_LEN);
    return -1;
  }
  if (len < AUTHKEY_MIN_LEN) {
    snprintf(err, errlen,
             "the authkey from %s is %zu bytes, too short to resist guessing: use at least %u "
             "(for example: openssl rand -hex 32)",
             source, len, AUTHKEY_MIN_LEN);
    return -1;
  }
  return 0;
}

/* Reads fd to its end into buf (cap bytes); returns the count, cap when
 * there was more, or -1 (errno set). */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap) {
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    n += (size_t)r;
  }
  return (ssize_t)n;
}

/* Takes n bytes of buf as the key from source (wiping buf). */
static int take_key(uint8_t *buf, size_t bufsize, size_t n, const char *source, authkey *out,
                    char *err, size_t errlen) {
  int rc = authkey_check_len(n, source, err, errlen);
  if (rc == 0 && (rc = authkey_set(out, buf, n, source)) != 0)
    snprintf(err, errlen, "out of memory");
  auth_wipe(buf, bufsize);
  return rc;
}

int authkey_read_fd(int fd, const char *source, authkey *out, char *err, size_t errlen) {
  uint8_t buf[AUTHKEY_MAX_LEN + 1];
  ssize_t n = read_all(fd, buf, sizeof buf);
  if (n < 0) {
    snprintf(err, errlen, "cannot read the authkey from %s: %s", source, strerror(errno));
    return -1;
  }
  return take_key(buf, sizeof buf, (size_t)n, source, out, err, errlen);
}

/* Refuses a key file that others could read or change: not a regular
 * file, any group or other permission, or an owner other than us (or
 * root, who can read and write anything anyway). */
static int check_key_file(const char *path, const struct stat *st, char *err, size_t errlen) {
  if (!S_ISREG(st->st_mode)) {
    snprintf(err, errlen, "authkey file %s is not a regular file", path);
    return -1;
  }
  if (st->st_mode & 077) {
    snprintf(err, errlen,
             "authkey file %s is readable or writable by others (mode %03o): run chmod 600 %s",
             path, (unsigned)(st->st_mode & 0777), path);
    return -1;
  }
  uid_t me = geteuid();
  if (st->st_uid != me && st->st_uid != 0) {
    struct passwd *pw = getpwuid(st->st_uid);
    snprintf(err, errlen,
             "authkey file %s belongs to uid %u (%s), not to uid %u that runs this program, so "
             "its owner can change the key: chown it to uid %u, or use a key file of your own",
             path, (unsigned)st->st_uid, pw ? pw->pw_name : "unknown", (unsigned)me, (unsigned)me);
    return -1;
  }
  return 0;
}

/* Reads a key file, after check_key_file; one trailing newline (or CRLF)
 * is not part of the key. */
static int read_key_file(const char *path, authkey *out, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open authkey file %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, errlen, "cannot examine authkey file %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (check_key_file(path, &st, err, errlen) != 0) {
    close(fd);
    return -1;
  }
  uint8_t buf[AUTHKEY_MAX_LEN + 3];
  ssize_t r = read_all(fd, buf, sizeof buf);
  int e = errno;
  close(fd);
  if (r < 0) {
    snprintf(err, errlen, "cannot read authkey file %s: %s", path, strerror(e));
    return -1;
  }
  size_t n = (size_t)r;
  /* One line ending ("\n" or "\r\n") is not part of the key; any other
   * byte is, a lone trailing "\r" included: keys may be raw random bytes. */
  if (n > 0 && buf[n - 1] == '\n') {
    n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
  }
  if (n == 0) {
    snprintf(err, errlen, "authkey file %s is empty", path);
    return -1;
  }
  return take_key(buf, sizeof buf, n, path, out, err, errlen);
}

/* Creates ~/.statemgr (0700) and the key file (0600) with 32 random bytes as
 * hex. O_EXCL makes a concurrent creator lose cleanly; it then reads. */
static int create_default(const char *path, char *err, size_t errlen) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
      return -1;
    }
  }
  uint8_t raw[32];
  char hex[65];
  if (auth_random(raw, sizeof raw) != 0) {
    snprintf(err, errlen, "no randomness for a new authkey");
    return -1;
  }
  for (size_t k = 0; k < sizeof raw; k++)
    snprintf(hex + 2 * k, 3, "%02x", raw[k]);
  auth_wipe(raw, sizeof raw);
  hex[64] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    auth_wipe(hex, sizeof hex);
    if (errno == EEXIST) return 0;
    snprintf(err, errlen, "cannot create authkey file %s: %s", path, strerror(errno));
    return -1;
  }
  ssize_t w = write(fd, hex, sizeof hex);
  auth_wipe(hex, sizeof hex);
  if (close(fd) != 0 || w != (ssize_t)sizeof hex) {
    snprintf(err, errlen, "cannot write authkey file %s", path);
    unlink(path);
    return -1;
  }
  return 0;
}

int authkey_load(const char *explicit_file, bool create, authkey *out, char *err, size_t errlen) {
  if (explicit_file && *explicit_file) return read_key_file(explicit_file, out, err, errlen);
  const char *env_file = getenv("STATEMGR_AUTHKEY_FILE");
  if (env_file && *env_file) return read_key_file(env_file, out, err, errlen);
  const char *env_key = getenv("STATEMGR_AUTHKEY");
  if (env_key && *env_key) {
    if (authkey_check_len(strlen(env_key), "$STATEMGR_AUTHKEY", err, errlen) != 0) return -1;
    if (authkey_set(out, env_key, strlen(env_key), "$STATEMGR_AUTHKEY") != 0) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    return 0;
  }
  char path[1024];
  if (authkey_default_path(path, sizeof path) != 0) {
    snprintf(err, errlen, "no authkey: set STATEMGR_AUTHKEY_FILE or HOME");
    return -1;
  }
  if (access(path, F_OK) != 0) {
    if (!create) {
      snprintf(err, errlen,
               "no authkey: %s does not exist (start statemgrd once, or set "
               "STATEMGR_AUTHKEY_FILE)",
               path);
      return -1;
    }
    if (create_default(path, err, errlen) != 0) return -1;
  }
  return read_key_file(path, out, err, errlen);
}
