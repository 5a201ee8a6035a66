/* SPDX-License-Identifier: MIT */
/* authkey.h - where the shared authkey comes from, the same for the daemon,
 * the library and every tool.
 *
 * First match wins: an explicit file (the --authkey-file option),
 * $STATEMGR_AUTHKEY_FILE (a path), $STATEMGR_AUTHKEY (the key itself), then
 * ~/.statemgr/authkey. The daemon asks for the default file to be created
 * when absent: 32 random bytes written as 64 hex characters, mode 0600, so
 * that local use needs no configuration. A key file's content is the key,
 * less one trailing newline.
 *
 * Hygiene, wherever the key comes from: a key is at least AUTHKEY_MIN_LEN
 * bytes (a short key falls to guessing), and a key file must be a regular
 * file that neither group nor others may read or write, owned by the
 * user running the program (or by root), as ssh asks of its keys. Each
 * refusal says how to fix it. */
#ifndef SM_PROTO_AUTHKEY_H
#define SM_PROTO_AUTHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTHKEY_MIN_LEN 16u
#define AUTHKEY_MAX_LEN 4096u

typedef struct authkey {
  uint8_t *bytes; /* owned; wiped and freed by authkey_clear() */
  size_t len;
  char source[512]; /* where it came from, for log lines and errors */
} authkey;

/* Loads the key. explicit_file may be NULL. With create_default, a missing
 * ~/.statemgr/authkey is created. Returns 0, or -1 with a reason in err. */
int authkey_load(const char *explicit_file, bool create_default, authkey *out, char *err,
                 size_t errlen);

/* Sets a key from memory (copies it). Returns 0, or -1 when out of memory. */
int authkey_set(authkey *out, const void *key, size_t len, const char *source);

/* Checks that a key of len bytes from source (for the message) is long
 * enough, and not longer than AUTHKEY_MAX_LEN. Returns 0, or -1 with the
 * reason in err. */
int authkey_check_len(size_t len, const char *source, char *err, size_t errlen);

/* Reads a key from the open descriptor fd until end of file: all its bytes
 * are the key (no newline is taken off). source names it in messages.
 * Returns 0, or -1 with the reason in err. fd stays open. */
int authkey_read_fd(int fd, const char *source, authkey *out, char *err, size_t errlen);

/* Wipes and frees the key; harmless on a zeroed or cleared struct. */
void authkey_clear(authkey *k);

/* The default key file path (~/.statemgr/authkey) into buf. Returns 0, or -1
 * when no home directory is known. */
int authkey_default_path(char *buf, size_t len);

#endif
