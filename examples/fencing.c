/* SPDX-License-Identifier: MIT */
/* fencing.c - Kleppmann's fencing argument, with statemgr's fencing tokens.
 *
 * Client A takes the lock "storage-lock" (fencing token 1) and writes the
 * shared file (a dict entry) under a guard of that token. Then A stalls -
 * a long GC pause, a partition - and the daemon stops seeing it: here an
 * operator closes A's connection (what a dead peer's keepalive does), and
 * the lock goes to client B with token 2. B writes. When A wakes up it
 * still believes it holds the lock and writes again, with token 1: the
 * daemon refuses the write (SM_EFENCED) because the lock's current token
 * is 2, so B's data survives. Without the guard A's late write would have
 * overwritten it. Run ./build/examples/fencing (STATEMGRD=./build/statemgrd
 * when statemgrd is neither beside it nor in $PATH). */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exits with the library's explanation when a call failed. */
static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

/* A client of the manager m called name (caller frees). */
static sm_client *connect_as(sm_manager *m, const char *name) {
  sm_options *o = sm_options_new();
  size_t keylen;
  const void *key = sm_manager_authkey(m, &keylen);
  check(sm_options_set_authkey(o, key, keylen), "authkey");
  check(sm_options_set_client_name(o, name), "name");
  sm_client *c;
  check(sm_connect(sm_manager_url(m), o, &c), "connect");
  sm_options_free(o);
  return c;
}

/* The connection of the client called name that holds something. */
static uint64_t holder_connection(sm_client *c, const char *name) {
  sm_value *list, *kname = sm_value_str("name"), *kholds = sm_value_str("holds"),
                  *kid = sm_value_str("id");
  check(sm_clients(c, &list), "clients");
  uint64_t id = 0;
  for (size_t i = 0; i < sm_value_len(list); i++) {
    const sm_value *e = sm_value_list_at(list, i);
    if (strcmp(sm_value_as_str(sm_value_map_get(e, kname), NULL), name) == 0 &&
        sm_value_len(sm_value_map_get(e, kholds)) > 0)
      id = (uint64_t)sm_value_as_int(sm_value_map_get(e, kid));
  }
  sm_value_free(kname);
  sm_value_free(kholds);
  sm_value_free(kid);
  sm_value_free(list);
  return id;
}

int main(void) {
  sm_manager *m;
  check(sm_manager_start(NULL, &m), "start manager");
  sm_client *a = connect_as(m, "client-a"), *b = connect_as(m, "client-b");
  sm_lock *lock_a, *lock_b;
  sm_dict *file_a, *file_b;
  check(sm_lock_open(a, "storage-lock", &lock_a), "open lock");
  check(sm_lock_open(b, "storage-lock", &lock_b), "open lock");
  check(sm_dict_open(a, "storage", &file_a), "open storage");
  check(sm_dict_open(b, "storage", &file_b), "open storage");

  uint64_t token_a, token_b;
  check(sm_lock_acquire_token(lock_a, SM_FOREVER, &token_a), "A acquires");
  check(sm_client_set_guard(a, sm_lock_proxy(lock_a), token_a), "A's guard");
  check(sm_dict_set_str(file_a, "file", "written by A"), "A writes");
  printf("A holds the lock with token %llu and writes\n", (unsigned long long)token_a);

  /* A stalls; the daemon loses it and hands the lock on. */
  check(sm_clients_kill(sm_manager_client(m), holder_connection(sm_manager_client(m), "client-a")),
        "cut A");
  check(sm_lock_acquire_token(lock_b, SM_FOREVER, &token_b), "B acquires");
  check(sm_client_set_guard(b, sm_lock_proxy(lock_b), token_b), "B's guard");
  check(sm_dict_set_str(file_b, "file", "written by B"), "B writes");
  printf("A stalled; B holds the lock with token %llu and writes\n", (unsigned long long)token_b);

  /* A wakes up and writes with its old token (its first call may find the
   * connection gone: then the next one reconnects). */
  int rc = sm_dict_set_str(file_a, "file", "written by A, too late");
  if (rc == SM_ECLOSED) rc = sm_dict_set_str(file_a, "file", "written by A, too late");
  printf("A writes again with token %llu: %s (%s)\n", (unsigned long long)token_a, sm_errname(rc),
         rc == SM_EFENCED ? sm_last_error() : "it should have been refused");
  char *v;
  check(sm_dict_get_str(file_b, "file", &v), "read");
  printf("the file says: %s\n", v);
  int ok = rc == SM_EFENCED && strcmp(v, "written by B") == 0;
  sm_free(v);
  check(sm_lock_release(lock_b), "B releases");
  sm_dict_free(file_a);
  sm_dict_free(file_b);
  sm_lock_free(lock_a);
  sm_lock_free(lock_b);
  sm_client_free(a);
  sm_client_free(b);
  check(sm_manager_shutdown(m), "shutdown");
  return ok ? 0 : 1;
}
