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

/* Reads a key file; private says the file must not be readable by others. */
static int read_key_file(const char *path, bool private, authkey *out, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open authkey file %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "authkey file %s is not a regular file", path);
    close(fd);
    return -1;
  }
  if (private && (st.st_mode & 077)) {
    snprintf(err, errlen, "authkey file %s is readable by others (mode %03o); chmod 600 it", path,
             (unsigned)(st.st_mode & 0777));
    close(fd);
    return -1;
  }
  uint8_t buf[AUTHKEY_MAX_LEN + 1];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(err, errlen, "cannot read authkey file %s: %s", path, strerror(errno));
      close(fd);
      auth_wipe(buf, sizeof buf);
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == sizeof buf) break;
  }
  close(fd);
  if (n > AUTHKEY_MAX_LEN) {
    snprintf(err, errlen, "authkey file %s is larger than %u bytes", path, AUTHKEY_MAX_LEN);
    auth_wipe(buf, sizeof buf);
    return -1;
  }
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
  int rc = authkey_set(out, buf, n, path);
  auth_wipe(buf, sizeof buf);
  if (rc != 0) snprintf(err, errlen, "out of memory");
  return rc;
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
  if (explicit_file && *explicit_file) return read_key_file(explicit_file, false, out, err, errlen);
  const char *env_file = getenv("STATEMGR_AUTHKEY_FILE");
  if (env_file && *env_file) return read_key_file(env_file, false, out, err, errlen);
  const char *env_key = getenv("STATEMGR_AUTHKEY");
  if (env_key && *env_key) {
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
  return read_key_file(path, true, out, err, errlen);
}
