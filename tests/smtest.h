/* SPDX-License-Identifier: MIT */
/* smtest.h - helpers shared by the Check suites: start a real statemgrd on
 * an ephemeral TCP port and a UNIX socket in a private directory, connect to
 * it, stop it by PID.
 *
 * Set SMTEST_URL (and SMTEST_AUTHKEY_FILE) to point the suites at a daemon
 * you already run, for gdb; then start/stop do nothing. Set SMTEST_VALGRIND=1
 * to run each daemon under valgrind memcheck (errors and leaks fail the run). */
#ifndef SMTEST_H
#define SMTEST_H

#include "proto/authkey.h"
#include "proto/msg.h"
#include "proto/vwire.h"
#include "statemgr.h"

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct smtest_daemon {
  pid_t pid;              /* 0 when an external daemon is used */
  char dir[256];          /* private temp dir: socket, key, ready file */
  char tcp_url[128];      /* tcp://127.0.0.1:PORT */
  char unix_url[320];     /* unix:DIR/statemgr.sock */
  char tls_url[128];      /* the first tls:// listener (from extra_args), or "" */
  char metrics_url[160];  /* http://HOST:PORT/metrics with --metrics, or "" */
  char authkey_file[320]; /* DIR/authkey */
  char log_file[320];     /* DIR/statemgrd.log: the daemon's stderr */
} smtest_daemon;

/* Starts statemgrd (path from $STATEMGRD) with a fresh authkey, listening on
 * tcp://127.0.0.1:0 and a UNIX socket, plus extra arguments (NULL-terminated
 * list, may be NULL), and waits until it is ready. The state is kept in
 * memory (--no-persist) unless the extra arguments hold --data-dir. Aborts
 * the test on failure. */
void smtest_daemon_start(smtest_daemon *d, const char *const *extra_args);

/* As smtest_daemon_start, with the daemon inside the network namespace
 * netns (a name of `ip netns`, whose loopback must be up; NULL: this
 * process's namespace). Its private directory stays on the shared file
 * system, so its UNIX socket is reachable from any namespace. */
void smtest_daemon_start_in(smtest_daemon *d, const char *netns, const char *const *extra_args);

/* SIGTERM, then waits for the exit (SIGKILL after 60 s). Returns the exit
 * status as from waitpid's WEXITSTATUS, or -1 when it did not exit cleanly.
 * Removes the private directory. */
int smtest_daemon_stop(smtest_daemon *d);

/* Sends sig (SIGTERM: a clean stop; SIGKILL: a crash; 0: nothing, for a
 * daemon that stops by itself) and waits for the exit as
 * smtest_daemon_stop does, but keeps the private directory (key,
 * socket path) for smtest_daemon_restart. Returns as smtest_daemon_stop. */
int smtest_daemon_kill(smtest_daemon *d, int sig);

/* Starts a new daemon after smtest_daemon_kill, in the same directory: the
 * same authkey and UNIX socket path (unix_url), a new TCP port, no extra
 * arguments. Aborts the test on failure. Stop it with smtest_daemon_stop. */
void smtest_daemon_restart(smtest_daemon *d);
/* The same, with extra arguments (a fixed --listen port, for example). */
void smtest_daemon_restart_args(smtest_daemon *d, const char *const *extra_args);

/* Connects to url (NULL: the daemon's TCP URL) with the daemon's authkey;
 * fails the test when it cannot. Caller frees with sm_client_free(). */
sm_client *smtest_connect(const smtest_daemon *d, const char *url);

/* A daemon with a data directory that outlives its restarts. */
typedef struct smtest_durable {
  smtest_daemon d;
  char base[64];  /* private temp dir holding the data directory */
  char data[128]; /* base/data */
  const char *args[16];
} smtest_durable;

/* Starts a daemon on a fresh data directory, with extra arguments (NULL
 * terminated, may be NULL; kept for the restarts). */
void smtest_durable_start(smtest_durable *x, const char *const *extra);
/* Stops it with sig (SIGKILL: a crash; SIGTERM: a clean stop, which writes
 * a snapshot) and starts it again on the same data directory, UNIX socket
 * and key. */
void smtest_durable_restart(smtest_durable *x, int sig);
/* Stops it and removes its data directory. */
void smtest_durable_stop(smtest_durable *x);
/* Connects over its UNIX socket (the same across restarts). */
sm_client *smtest_durable_connect(const smtest_durable *x);

/* The daemon of the current test case, started by smtest_add_daemon's
 * fixture. */
extern smtest_daemon smtest_d;

/* Fails the test with the library's explanation when expr is not SM_OK. */
#define OK(expr)                                                                                   \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    ck_assert_msg(rc_ == SM_OK, "%s -> %s: %s", #expr, sm_errname(rc_), sm_last_error());          \
  } while (0)

/* Checks that expr fails with code and leaves an explanation behind. */
#define FAILS(expr, code)                                                                          \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    ck_assert_msg(rc_ == (code), "%s -> %s, wanted %s (%s)", #expr, sm_errname(rc_),               \
                  sm_errname(code), sm_last_error());                                              \
    ck_assert_str_ne(sm_last_error(), "");                                                         \
  } while (0)

/* Loop tests run once over TCP (i = 0) and once over the UNIX socket of
 * smtest_d; the client is the caller's to free. */
sm_client *smtest_connect_i(int i);

/* base plus "-tcp" or "-unix": per-iteration object names, so the two runs
 * of a loop test do not meet. Borrowed: valid for the next 3 calls. */
const char *smtest_name_i(const char *base, int i);

/* An int field of the daemon's info map ("objects", "waiters"...). */
int64_t smtest_info_int(sm_client *c, const char *field);
/* An int field of a map inside the daemon's info ("refused",
 * "max_connections"). */
int64_t smtest_info_sub_int(sm_client *c, const char *map, const char *field);

/* Daemons that did not exit 0 when stopped; the runner fails when non-zero. */
extern int smtest_failures;

/* Stops d and counts a daemon that did not exit 0 in smtest_failures: for
 * suites with fixtures of their own (daemons started with extra flags). */
void smtest_daemon_stop_checked(smtest_daemon *d);

/* A test case named name in s, with its own daemon (smtest_add_daemon) and
 * a timeout of timeout_s seconds: the usual start of a suite's test case. */
TCase *smtest_daemon_tcase(Suite *s, const char *name, double timeout_s);

/* Adds an unchecked fixture to tc that starts one daemon (smtest_d) before
 * the test case and stops it after. */
void smtest_add_daemon(TCase *tc);

/* Runs a shell command line, returns its exit status (WEXITSTATUS) or -1;
 * stdout is captured into out (may be NULL) up to outlen bytes. */
int smtest_run(const char *cmdline, char *out, size_t outlen);
/* Runs `ip ARGS` (ARGS printf-formatted). Returns true when it exited 0;
 * otherwise, when why is still empty, writes the command, its exit code and
 * its first line of output there (the suite's reason to skip). */
bool smtest_ip(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A free loopback TCP port (bound, read, released), for a daemon that
 * must listen on a port known before it starts. */
int smtest_free_port(void);

/* Seconds on the monotonic clock, for measuring spans in tests. */
double smtest_now_s(void);

/* True once a line of d's log holds needle; looks again every 20 ms for up
 * to wait_ms (0: looks once), as the daemon may log just after a client
 * has seen the outcome. */
bool smtest_daemon_log_has(const smtest_daemon *d, const char *needle, int wait_ms);

/* Asserts the text form of v (sm_value_to_text), then frees v. */
void smtest_expect_value(sm_value *v, const char *want);

/* ---- certificates made at test time (smtest_tls.c) ---- */

/* PEM files in a private directory. Server certificates name localhost and
 * 127.0.0.1 (and the extra IP address given, if any). */
typedef struct smtest_certs {
  char dir[256];
  char ca[320];                                  /* the test CA */
  char other_ca[320];                            /* an unrelated CA */
  char server[320], server_key[320];             /* signed by ca */
  char expired[320], expired_key[320];           /* signed by ca, expired yesterday */
  char other_server[320], other_server_key[320]; /* signed by other_ca */
  char client[320], client_key[320];             /* client certificate signed by ca */
  char other_client[320], other_client_key[320]; /* client certificate signed by other_ca */
  /* signed by ca, for server and client use: etcd's (its JSON gateway
   * connects to etcd itself with it when client certificates are asked) */
  char server_client[320], server_client_key[320];
} smtest_certs;

/* Makes every certificate above; extra_ip (may be NULL) is added to the
 * server certificates' names. Fails the test on error. */
void smtest_certs_make(smtest_certs *c, const char *extra_ip);
/* Removes the directory of c. */
void smtest_certs_remove(smtest_certs *c);

/* ---- a raw protocol client (smtest_raw.c) ---- */

/* Connects to tcp://127.0.0.1:PORT or unix:/path; fails the test otherwise. */
int smtest_raw_connect(const char *url);
void smtest_send_all(int fd, const void *p, size_t n);
/* Reads one frame's payload into buf; returns its length, or -1 on EOF
 * before a whole frame. Fails the test after timeout_ms. */
long smtest_read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms);
/* True when the daemon closes the connection within 5 s. */
bool smtest_closed_by_daemon(int fd);
/* The test daemon's authkey (caller clears with authkey_clear()). */
authkey smtest_key(void);
/* Reads Hello, proves key, returns the AuthResult status (verifying the
 * daemon's proof on success). hello_out (may be NULL) gets the challenge. */
int smtest_raw_handshake(int fd, const uint8_t *key, size_t keylen, uint8_t *hello_out);
/* The same, naming protocol version in Auth; info (may be NULL) gets the
 * daemon's facts, err (may be NULL) the AuthResult's text. */
int smtest_raw_handshake_as(int fd, const uint8_t *key, size_t keylen, uint32_t version,
                            uint8_t *hello_out, wire_daemon_info *info, char *err, size_t errlen);
/* A raw TCP connection to smtest_d, authenticated. */
int smtest_raw_authed(void);
/* A raw TCP connection to d, authenticated with d's authkey. */
int smtest_raw_authed_to(const smtest_daemon *d);
/* Sends one request (args are packed values) and returns the status of the
 * response with the same seq; err (may be NULL) gets its text. */
int smtest_raw_call(int fd, uint64_t seq, uint64_t object, const char *method, const sm_span *args,
                    size_t nargs, char *err, size_t errlen);
/* The same with Request.type set to type (0: not sent). */
int smtest_raw_call_typed(int fd, uint64_t seq, uint64_t object, uint32_t type, const char *method,
                          const sm_span *args, size_t nargs, char *err, size_t errlen);

/* ---- a fake daemon (smtest_fake.c) ---- */

/* What the fake daemon says: its Hello, its AuthResult, and the status of
 * each answer, in the order requests arrive (past the script: OK, nil). */
typedef struct smtest_fake_cfg {
  uint32_t hello_version;     /* Hello.version */
  uint32_t hello_max_version; /* 0: not sent, as a protocol-1 daemon does */
  wire_daemon_info info;      /* sent in the AuthResult (zero fields: not sent); with
                                 auth_status REDIRECT, info.leader names the leader */
  int auth_status;            /* the AuthResult's status (0: OK, with the daemon's proof) */
  bool resume_any;            /* takes over whatever session an Auth asks to resume (AuthResult
                                 session, resumed, durable and key), as a group member would */
  const int *statuses;        /* n_answers statuses; may be NULL */
  const char *const *texts;   /* their error texts (may be NULL, or hold NULLs) */
  const char *const *leaders; /* their Response.leader (may be NULL, or hold NULLs) */
  size_t n_answers;
  const char *key_file; /* expect the authkey in this file (a real daemon's, so that
                           one client reaches both); NULL: a random key */
} smtest_fake_cfg;

/* A daemon played by a thread of the test on a UNIX socket, speaking the
 * handshake and answering requests as its script says, so a test can
 * make the library meet what statemgrd never sends (an old Hello, a status
 * from a newer daemon). One connection at a time. */
typedef struct smtest_fake {
  smtest_fake_cfg cfg;
  char dir[64];                 /* private directory of the socket */
  char url[128];                /* unix:DIR/fake.sock */
  uint8_t key[AUTHKEY_MAX_LEN]; /* the authkey it expects */
  size_t keylen;
  int listen_fd;
  pthread_t thread;
  volatile bool stop;
  volatile int accepted;          /* connections accepted so far */
  volatile int requests;          /* requests answered so far */
  volatile uint32_t auth_version; /* the version of the last Auth (0: none came) */
} smtest_fake;

/* Starts the fake daemon; fails the test when it cannot. */
void smtest_fake_start(smtest_fake *f, const smtest_fake_cfg *cfg);
/* Stops its thread and removes its socket; the counters stay readable. */
void smtest_fake_stop(smtest_fake *f);
/* Connects the library to f (as smtest_connect, with f's key); returns the
 * sm_connect status and *out on success. */
int smtest_fake_connect(const smtest_fake *f, sm_client **out);

#endif
