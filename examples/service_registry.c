/* SPDX-License-Identifier: MIT */
/* service_registry.c - services register themselves as ephemeral objects;
 * a killed service disappears from the registry by itself.
 *
 * Each service process opens a named dict "service/NAME" with the
 * ephemeral option and writes its address and pid into it: the daemon
 * deletes that dict when the service's session ends (it exits, closes its
 * client, or dies), so the registry is never left with a dead entry and no
 * one has to clean up (etcd leases and ZooKeeper's ephemeral nodes do this
 * for keys; here it is any object). A client lists the live services with
 * ls. The program runs a private manager (sm_manager_start), forks three
 * services, lists them, kills one with SIGKILL and lists again. Run
 * ./build/examples/service_registry (STATEMGRD=./build/statemgrd when
 * statemgrd is neither beside it nor in $PATH). */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_SERVICES 3
#define PREFIX "service/"

/* Exits with the library's explanation when a call failed. */
static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

/* A service: registers as an ephemeral dict, says so on ready, and serves
 * (sleeps here) until it is stopped. */
static void service(sm_client *c, int i, int ready) {
  char name[64], addr[64];
  snprintf(name, sizeof name, PREFIX "worker-%d", i);
  snprintf(addr, sizeof addr, "10.0.0.%d:8080", i + 1);
  sm_open_options *o = sm_open_options_new();
  if (!o) exit(1);
  check(sm_open_options_set_ephemeral(o, true), "options");
  sm_dict *me;
  check(sm_dict_open_ex(c, name, o, &me), "register"); /* lives while this client does */
  sm_open_options_free(o);
  check(sm_dict_set_str(me, "addr", addr), "set addr");
  check(sm_dict_set_int(me, "pid", getpid()), "set pid");
  if (write(ready, "r", 1) != 1) exit(1);
  for (;;)
    pause();
}

/* Prints the live services and returns how many there are. */
static size_t list_services(sm_client *c) {
  sm_value *ls = NULL, *k = sm_value_str("name");
  check(sm_ls(c, "dict", &ls), "ls");
  size_t n = 0;
  for (size_t i = 0; i < sm_value_len(ls); i++) {
    const char *name = sm_value_as_str(sm_value_map_get(sm_value_list_at(ls, i), k), NULL);
    if (!name || strncmp(name, PREFIX, strlen(PREFIX)) != 0) continue;
    sm_dict *d;
    char *addr = NULL;
    check(sm_dict_open(c, name, &d), "open");
    if (sm_dict_get_str(d, "addr", &addr) == SM_OK) printf("  %s at %s\n", name, addr);
    sm_free(addr);
    sm_dict_free(d);
    n++;
  }
  sm_value_free(k);
  sm_value_free(ls);
  printf("%zu live services\n", n);
  return n;
}

/* Waits (up to 5 s) until want services are left. */
static size_t wait_for(sm_client *c, size_t want) {
  size_t n = 0;
  for (int t = 0; t < 250; t++) {
    sm_value *ls = NULL, *k = sm_value_str("name");
    check(sm_ls(c, "dict", &ls), "ls");
    n = 0;
    for (size_t i = 0; i < sm_value_len(ls); i++) {
      const char *name = sm_value_as_str(sm_value_map_get(sm_value_list_at(ls, i), k), NULL);
      if (name && strncmp(name, PREFIX, strlen(PREFIX)) == 0) n++;
    }
    sm_value_free(k);
    sm_value_free(ls);
    if (n == want) break;
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
  }
  return n;
}

int main(void) {
  sm_manager *m;
  check(sm_manager_start(NULL, &m), "start manager");
  sm_client *c = sm_manager_client(m);
  int ready[2];
  if (pipe(ready) != 0) return 1;
  pid_t pids[N_SERVICES];
  for (int i = 0; i < N_SERVICES; i++) {
    if ((pids[i] = fork()) == 0) { /* the child opens its own connections */
      close(ready[0]);
      service(c, i, ready[1]);
    }
  }
  close(ready[1]);
  for (int i = 0; i < N_SERVICES; i++) {
    char r;
    if (read(ready[0], &r, 1) != 1) {
      fprintf(stderr, "a service failed to register\n");
      return 1;
    }
  }
  close(ready[0]);
  list_services(c);

  printf("killing worker-1 (pid %d) with SIGKILL\n", (int)pids[1]);
  kill(pids[1], SIGKILL);
  waitpid(pids[1], NULL, 0);
  if (wait_for(c, N_SERVICES - 1) != N_SERVICES - 1) {
    fprintf(stderr, "the killed service is still registered\n");
    return 1;
  }
  size_t left = list_services(c);

  for (int i = 0; i < N_SERVICES; i++) { /* stop the others: they deregister by ending */
    if (i == 1) continue;
    kill(pids[i], SIGTERM);
    waitpid(pids[i], NULL, 0);
  }
  size_t none = wait_for(c, 0);
  printf("%zu live services after the others stopped\n", none);
  check(sm_manager_shutdown(m), "shutdown");
  return left == N_SERVICES - 1 && none == 0 ? 0 : 1;
}
