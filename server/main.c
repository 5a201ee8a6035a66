/* SPDX-License-Identifier: MIT */
/* main.c - statemgrd: command-line options over the embeddable server.
 *
 * With no options it listens on 127.0.0.1:7450 with the default authkey
 * (~/.statemgr/authkey, created on first start), so local use needs no
 * configuration. tls:// listeners take their certificate and key from
 * --tls-cert and --tls-key (mutual TLS with --tls-ca and
 * --tls-require-client-cert). --syslog sends the log to syslog(3); the
 * --slowlog-* options set the slow-call log. SIGHUP reopens --log-file and reloads the
 * certificate and key. --config FILE reads the same long options from a
 * file, one per line (conf_file.c); the command line overrides it.
 *
 * The state is kept in ~/.statemgr/data (beside the default authkey)
 * unless --data-dir names another directory or --no-persist keeps it in
 * memory, or --cluster makes the daemon a member of a replicated group
 * whose state is kept in etcd; such a member that stops leading runs
 * itself again (execv), to load the group's state afresh. */
#include "statemgr_server.h"

#include "../proto/authkey.h"
#include "conf_file.h"
#include "persist.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_LISTEN 32

static void usage(FILE *f) {
  fprintf(f,
          "usage: statemgrd [options]\n"
          "\n"
          "  --config FILE       read options from FILE first: the long options below\n"
          "                      without their --, one per line, as 'key value' or\n"
          "                      'key = value'; # starts a comment line. Options on the\n"
          "                      command line override the file (its --listen URLs too)\n"
          "  --listen URL        accept clients on URL (repeatable; default %s)\n"
          "                      tcp://HOST:PORT, tcp://[V6ADDR]:PORT, tls://HOST:PORT,\n"
          "                      unix:PATH, unix:///PATH; plain, TLS and UNIX listeners\n"
          "                      mix freely\n"
          "  --authkey-file F    the shared authkey (default: $STATEMGR_AUTHKEY_FILE,\n"
          "                      $STATEMGR_AUTHKEY, ~/.statemgr/authkey, created if absent);\n"
          "                      mode 600, yours, at least 16 bytes\n"
          "  --authkey-fd N      read the authkey from descriptor N to its end (all of its\n"
          "                      bytes, at least 16), then close it\n"
          "  --log-level L       error, warn, info (default) or debug\n"
          "  --log-file F        append the log to F instead of stderr; SIGHUP reopens it\n"
          "  --syslog            send the log to syslog(3) as statemgrd (facility daemon)\n"
          "                      instead of stderr; excludes --log-file\n"
          "  --slowlog-threshold-us US\n"
          "                      keep calls taking US microseconds or more in the slow-call\n"
          "                      log (`statemgr slowlog`; default 10000; 0: every call;\n"
          "                      -1: none)\n"
          "  --slowlog-max-len N keep the newest N slow calls (default 128; 0 to 100000)\n"
          "  --max-frame BYTES   largest request frame accepted, and largest answer sent\n"
          "                      (default 64M; K/M/G suffixes)\n"
          "  --max-memory BYTES  refuse calls that would store data past BYTES (like Redis's\n"
          "                      maxmemory; K/M/G suffixes; default 0: no limit)\n"
          "  --max-connections N authenticated connections served at once (default 10000)\n"
          "  --max-unauth-connections N\n"
          "                      connections not authenticated yet (default 512); one more\n"
          "                      drops the oldest of them\n"
          "  --max-unauth-per-addr N\n"
          "                      the same per IPv4 address, IPv6 /64 or UNIX-socket user\n"
          "                      (default 128)\n"
          "  --max-pending N     parked calls per connection before it is no longer read,\n"
          "                      and answers kept for a session not acknowledged by its\n"
          "                      client before its changes are refused (default 65536)\n"
          "  --deadlock MODE     a lock, rlock or semaphore wait that would close a cycle\n"
          "                      of waiting clients: fail (default: refused with\n"
          "                      DEADLOCK) or report (logged and counted, it waits)\n"
          "  --max-depth N       nesting of lists and maps inside a value (default 64)\n"
          "  --handshake-timeout MS  time a client has to authenticate (default 10000)\n"
          "  --ready-file F      write the bound URLs to F once listening\n"
          "  --metrics URL       serve Prometheus metrics on tcp://HOST:PORT at /metrics\n"
          "                      (tcp://[V6ADDR]:PORT for IPv6)\n"
          "  --tls-cert F        PEM certificate chain for tls:// listeners (server first)\n"
          "  --tls-key F         PEM private key of --tls-cert (SIGHUP reloads both)\n"
          "  --tls-ca F          PEM CA file: client certificates must be signed by it\n"
          "  --tls-require-client-cert\n"
          "                      refuse TLS clients without such a certificate (mutual\n"
          "                      TLS; needs --tls-ca). The authkey is still required.\n"
          "  --data-dir DIR      keep the state in DIR (default ~/.statemgr/data, created\n"
          "                      mode 700): every object survives a stop, a crash or a\n"
          "                      reboot as of the last answered call\n"
          "  --no-persist        keep the state in memory only: it ends with the daemon\n"
          "  --fsync MODE        always (default: answer a change once it is on disk),\n"
          "                      everysec (sync once a second: a power cut may lose up to\n"
          "                      a second) or no (the kernel syncs: a power cut may lose\n"
          "                      what it had not written)\n"
          "  --session-resume-timeout MS\n"
          "                      after a restart, the earlier run's clients keep their\n"
          "                      locks, semaphore units and anonymous objects this long\n"
          "                      (default 10000)\n"
          "  --snapshot-log-size BYTES\n"
          "                      write a snapshot, and drop the log it covers, once the\n"
          "                      log grows by BYTES (default 64M; K/M/G suffixes)\n"
          "  --cluster NAME      be a member of the replicated group NAME, its state kept\n"
          "                      in etcd (no data directory): one member leads, the\n"
          "                      others answer clients REDIRECT to it; needs --etcd and\n"
          "                      --advertise\n"
          "  --etcd URLS         the etcd members, http://HOST:PORT[,http://HOST:PORT...],\n"
          "                      or https:// URLs (all of one scheme) for etcd over TLS\n"
          "  --etcd-cacert FILE  https etcd: the CA that signed etcd's certificate\n"
          "                      (default: the system's trusted CAs)\n"
          "  --etcd-cert FILE    https etcd: the client certificate etcd's\n"
          "                      --client-cert-auth asks for (with --etcd-key)\n"
          "  --etcd-key FILE     its private key\n"
          "  --etcd-max-request-bytes BYTES\n"
          "                      etcd's --max-request-bytes, as the etcd members run with\n"
          "                      it (default 1.5M, etcd's; K/M/G suffixes): batches and\n"
          "                      snapshot chunks are cut to fit, and a change too large\n"
          "                      for one request is refused before it runs\n"
          "  --advertise URL     how clients reach this member (tcp://HOST:PORT), told to\n"
          "                      those that reach another member\n"
          "  --cluster-lease-ttl SECONDS\n"
          "                      the leader's lease (default 3): a dead leader is replaced\n"
          "                      about this long after\n"
          "  --keepalive SECONDS TCP keepalive: probe a TCP/TLS client idle for SECONDS,\n"
          "                      drop it after 3 unanswered probes SECONDS/3 apart, which\n"
          "                      releases its locks (default 15: a dead peer is noticed\n"
          "                      within about 30 s; 0: the system's settings)\n"
          "  --version           print the version and exit\n"
          "  --help              this text\n",
          SM_DEFAULT_URL);
}

/* Raises the soft open-file limit toward the hard one, so that max_conns
 * authenticated connections, max_unauth others (plus a margin for those
 * being closed, listeners and logs) fit; the usual soft limit of 1024
 * would refuse them at accept. */
static void raise_fd_limit(size_t max_conns, size_t max_unauth) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = (rlim_t)max_conns + (rlim_t)max_unauth + 1024 + 64;
  if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Parses a byte count with an optional K, M or G suffix. */
static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return -1;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift) end++;
  if (*end || v > (SIZE_MAX >> shift)) return -1;
  *out = (size_t)(v << shift);
  return 0;
}

/* --authkey-fd N: the key is every byte read from N (a pipe from a parent,
 * say) until its end; N is closed. Returns 0, or 2 (a bad number) or 1 (no
 * usable key) after saying why; where prefixes the message ("" or
 * "FILE:LINE: "). */
static int read_key_fd(sm_server_options *opts, const char *arg, const char *where) {
  char *end = NULL, err[512], source[64];
  errno = 0;
  long fd = strtol(arg, &end, 10);
  if (errno || end == arg || *end || fd < 0 || fd > INT32_MAX) {
    fprintf(stderr, "statemgrd: %s--authkey-fd takes a descriptor number\n", where);
    return 2;
  }
  snprintf(source, sizeof source, "descriptor %ld", fd);
  authkey k = {0};
  int rc = authkey_read_fd((int)fd, source, &k, err, sizeof err);
  close((int)fd);
  if (rc == 0 && sm_server_options_set_authkey(opts, k.bytes, k.len) != 0) {
    snprintf(err, sizeof err, "out of memory");
    rc = -1;
  }
  authkey_clear(&k);
  if (rc != 0) fprintf(stderr, "statemgrd: %s%s\n", where, err);
  return rc == 0 ? 0 : 1;
}

static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"authkey-file", required_argument, NULL, 'k'},
    {"log-level", required_argument, NULL, 'v'},
    {"log-file", required_argument, NULL, 'L'},
    {"authkey-fd", required_argument, NULL, 'F'},
    {"max-unauth-connections", required_argument, NULL, 'U'},
    {"max-unauth-per-addr", required_argument, NULL, 'u'},
    {"max-frame", required_argument, NULL, 'f'},
    {"max-memory", required_argument, NULL, 'm'},
    {"ready-file", required_argument, NULL, 'r'},
    {"metrics", required_argument, NULL, 'M'},
    {"max-connections", required_argument, NULL, 'C'},
    {"max-pending", required_argument, NULL, 'P'},
    {"max-depth", required_argument, NULL, 'D'},
    {"deadlock", required_argument, NULL, 'J'},
    {"handshake-timeout", required_argument, NULL, 'H'},
    {"tls-cert", required_argument, NULL, 'T'},
    {"tls-key", required_argument, NULL, 'K'},
    {"tls-ca", required_argument, NULL, 'A'},
    {"tls-require-client-cert", no_argument, NULL, 'R'},
    {"keepalive", required_argument, NULL, 'E'},
    {"syslog", no_argument, NULL, 'S'},
    {"slowlog-threshold-us", required_argument, NULL, 's'},
    {"slowlog-max-len", required_argument, NULL, 'n'},
    {"data-dir", required_argument, NULL, 'd'},
    {"no-persist", no_argument, NULL, 'N'},
    {"fsync", required_argument, NULL, 'Y'},
    {"session-resume-timeout", required_argument, NULL, 'W'},
    {"snapshot-log-size", required_argument, NULL, 'Z'},
    {"cluster", required_argument, NULL, 'g'},
    {"etcd", required_argument, NULL, 'e'},
    {"etcd-cacert", required_argument, NULL, 'x'},
    {"etcd-cert", required_argument, NULL, 'X'},
    {"etcd-key", required_argument, NULL, 'y'},
    {"etcd-max-request-bytes", required_argument, NULL, 'B'},
    {"advertise", required_argument, NULL, 'a'},
    {"cluster-lease-ttl", required_argument, NULL, 't'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
static const char shortopts[] = "l:k:v:f:r:Vh";

/* Listen URLs from one source: the file's are used only when the command
 * line names none, so the command line overrides them as a whole. */
typedef struct listen_list {
  const char *url[MAX_LISTEN];
  size_t n;
} listen_list;

/* What the options build up before the server starts. */
typedef struct daemon_args {
  sm_server_options *opts;
  listen_list *listen; /* the list --listen adds to: the file's, then the command line's */
  size_t max_conns, max_unauth;
  const char *tls_cert, *tls_key, *tls_ca;
  bool tls_require;
  bool syslog, log_file; /* --syslog; --log-file given (they exclude each other) */
  long long slowlog_threshold_us;
  long long slowlog_max_len;
  const char *data_dir; /* NULL: the default */
  bool no_persist;
  const char *cluster, *etcd, *advertise; /* --cluster and its companions */
  const char *etcd_cacert, *etcd_cert, *etcd_key;
  bool etcd_max_request; /* --etcd-max-request-bytes given */
} daemon_args;

/* Applies option ch (a longopts val) with its argument arg (NULL for one
 * without). where prefixes messages: "" on the command line, "FILE:LINE: "
 * in a config file. Returns 0, 2 (bad usage, said why), 1 (said why) or -1
 * (--version or --help done: exit 0). The strings must outlive the server's
 * start: they are argv's or the loaded file's. */
static int apply_option(daemon_args *a, int ch, const char *arg, const char *where) {
  sm_server_options *opts = a->opts;
  size_t size;
  switch (ch) {
  case 'l':
    if (a->listen->n == MAX_LISTEN) {
      fprintf(stderr, "statemgrd: %sat most %d --listen options\n", where, MAX_LISTEN);
      return 2;
    }
    a->listen->url[a->listen->n++] = arg;
    return 0;
  case 'k': sm_server_options_set_authkey_file(opts, arg); return 0;
  case 'F': return read_key_fd(opts, arg, where);
  case 'L':
    if (sm_server_options_set_log_file(opts, arg) != 0) {
      fprintf(stderr, "statemgrd: %s--log-file takes a path\n", where);
      return 2;
    }
    a->log_file = true;
    return 0;
  case 'S': a->syslog = true; return 0;
  case 's':
  case 'n': {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    bool len = ch == 'n';
    if (errno || end == arg || *end || (len && (v < 0 || v > 100000))) {
      fprintf(stderr, "statemgrd: %s%s\n", where,
              len ? "--slowlog-max-len takes 0 to 100000"
                  : "--slowlog-threshold-us takes microseconds (0: every call; -1: none)");
      return 2;
    }
    if (len)
      a->slowlog_max_len = v;
    else
      a->slowlog_threshold_us = v;
    return 0;
  }
  case 'v': {
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
      if (strcmp(arg, levels[i]) == 0) {
        sm_server_options_set_log_level(opts, (sm_log_level)i);
        return 0;
      }
    fprintf(stderr, "statemgrd: %s--log-level takes error, warn, info or debug\n", where);
    return 2;
  }
  case 'f':
    if (parse_size(arg, &size) != 0 || sm_server_options_set_max_frame(opts, size) != 0) {
      fprintf(stderr, "statemgrd: %s--max-frame takes 1K to 4G bytes\n", where);
      return 2;
    }
    return 0;
  case 'm':
    if (parse_size(arg, &size) != 0 || sm_server_options_set_max_memory(opts, size) != 0) {
      fprintf(stderr,
              "statemgrd: %s--max-memory takes a byte count (K/M/G suffixes; 0: no limit)\n",
              where);
      return 2;
    }
    return 0;
  case 'r': sm_server_options_set_ready_file(opts, arg); return 0;
  case 'M': sm_server_options_set_metrics(opts, arg); return 0;
  case 'T': a->tls_cert = arg; return 0;
  case 'K': a->tls_key = arg; return 0;
  case 'A': a->tls_ca = arg; return 0;
  case 'R': a->tls_require = true; return 0;
  case 'd':
    if (!*arg) {
      fprintf(stderr, "statemgrd: %s--data-dir takes a directory\n", where);
      return 2;
    }
    a->data_dir = arg;
    a->no_persist = false; /* the later of the two wins: the command line over the file */
    return 0;
  case 'N':
    a->no_persist = true;
    a->data_dir = NULL;
    return 0;
  case 'J':
    if (strcmp(arg, "fail") == 0 || strcmp(arg, "report") == 0) {
      sm_server_options_set_deadlock(opts, arg[0] == 'r' ? SM_DEADLOCK_REPORT : SM_DEADLOCK_FAIL);
      return 0;
    }
    fprintf(stderr, "statemgrd: %s--deadlock takes fail or report\n", where);
    return 2;
  case 'Y': {
    int mode = persist_fsync_parse(arg); /* the names of persist.h, in sm_fsync_mode's order */
    if (mode < 0 || sm_server_options_set_fsync(opts, (sm_fsync_mode)mode) != 0) {
      fprintf(stderr, "statemgrd: %s--fsync takes always, everysec or no\n", where);
      return 2;
    }
    return 0;
  }
  case 'W': {
    char *end = NULL;
    errno = 0;
    long long ms = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || ms < 0 || ms > INT32_MAX ||
        sm_server_options_set_session_resume_timeout(opts, ms) != 0) {
      fprintf(stderr, "statemgrd: %s--session-resume-timeout takes 0 to %d milliseconds\n", where,
              INT32_MAX);
      return 2;
    }
    return 0;
  }
  case 'Z':
    if (parse_size(arg, &size) != 0 || sm_server_options_set_snapshot_log_size(opts, size) != 0) {
      fprintf(stderr,
              "statemgrd: %s--snapshot-log-size takes a byte count over 0 (K/M/G suffixes)\n",
              where);
      return 2;
    }
    return 0;
  case 'E': {
    char *end = NULL;
    errno = 0;
    long secs = strtol(arg, &end, 10);
    if (errno || end == arg || *end || secs < 0 || secs > 7200 ||
        sm_server_options_set_keepalive(opts, (int)secs) != 0) {
      fprintf(stderr, "statemgrd: %s--keepalive takes 0 to 7200 seconds\n", where);
      return 2;
    }
    return 0;
  }
  case 'C':
  case 'P':
  case 'D':
  case 'H':
  case 'U':
  case 'u': {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    int rc = errno || end == arg || *end || n == 0 || n > UINT32_MAX ? SM_EINVAL : 0;
    if (rc == 0 && ch == 'C') {
      rc = sm_server_options_set_max_connections(opts, (size_t)n);
      a->max_conns = (size_t)n;
    }
    if (rc == 0 && ch == 'P') rc = sm_server_options_set_max_pending(opts, (size_t)n);
    if (rc == 0 && ch == 'D') rc = sm_server_options_set_max_depth(opts, (unsigned)n);
    if (rc == 0 && ch == 'H') rc = sm_server_options_set_handshake_timeout(opts, (unsigned)n);
    if (rc == 0 && ch == 'U') {
      rc = sm_server_options_set_max_unauth_connections(opts, (size_t)n);
      a->max_unauth = (size_t)n;
    }
    if (rc == 0 && ch == 'u') rc = sm_server_options_set_max_unauth_per_addr(opts, (size_t)n);
    if (rc != 0) {
      const char *name = "?";
      for (const struct option *o = longopts; o->name; o++)
        if (o->val == ch) name = o->name;
      fprintf(stderr, "statemgrd: %sbad value '%s' for --%s\n", where, arg, name);
      return 2;
    }
    return 0;
  }
  case 'g': a->cluster = arg; return 0;
  case 'e': a->etcd = arg; return 0;
  case 'x': a->etcd_cacert = arg; return 0;
  case 'X': a->etcd_cert = arg; return 0;
  case 'y': a->etcd_key = arg; return 0;
  case 'B':
    if (parse_size(arg, &size) != 0 ||
        sm_server_options_set_etcd_max_request_bytes(opts, size) != 0) {
      fprintf(stderr,
              "statemgrd: %s--etcd-max-request-bytes takes 16K to 1G bytes (etcd's "
              "--max-request-bytes)\n",
              where);
      return 2;
    }
    a->etcd_max_request = true;
    return 0;
  case 'a': a->advertise = arg; return 0;
  case 't': {
    char *end = NULL;
    errno = 0;
    long secs = strtol(arg, &end, 10);
    if (errno || end == arg || *end ||
        sm_server_options_set_cluster_lease_ttl(opts, (int)secs) != 0) {
      fprintf(stderr, "statemgrd: %s--cluster-lease-ttl takes 1 to 600 seconds\n", where);
      return 2;
    }
    return 0;
  }
  case 'V':
    printf("statemgrd %d.%d.%d\n", SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH);
    return -1;
  case 'h': usage(stdout); return -1;
  default: return 2;
  }
}

/* Applies the entries of a loaded config file. A key is a long option's
 * name; a flag (tls-require-client-cert) takes no value, or yes or no. */
static int apply_conf_file(daemon_args *a, const char *path, const conf_file *f) {
  for (size_t i = 0; i < f->n; i++) {
    const conf_entry *e = &f->entries[i];
    char where[512];
    snprintf(where, sizeof where, "%s:%u: ", path, e->line);
    const struct option *o = longopts;
    while (o->name && strcmp(o->name, e->key) != 0)
      o++;
    const char *why = NULL;
    if (!o->name)
      why = "is not a key (the keys are the long options of --help)";
    else if (o->val == 'c' || o->val == 'V' || o->val == 'h')
      why = "is not a setting";
    else if (o->has_arg == required_argument && e->value[0] == '\0')
      why = "needs a value";
    if (why) {
      fprintf(stderr, "statemgrd: %s'%s' %s\n", where, e->key, why);
      return 2;
    }
    if (o->has_arg == no_argument) {
      bool on = e->value[0] == '\0' || strcmp(e->value, "yes") == 0;
      if (!on && strcmp(e->value, "no") != 0) {
        fprintf(stderr, "statemgrd: %s'%s' takes no value, or yes or no\n", where, e->key);
        return 2;
      }
      if (o->val == 'R') a->tls_require = on;
      if (o->val == 'S') a->syslog = on;
      if (o->val == 'N') {
        a->no_persist = on;
        if (on) a->data_dir = NULL;
      }
      continue;
    }
    int rc = apply_option(a, o->val, e->value, where);
    if (rc != 0) return rc;
  }
  return 0;
}

int main(int argc, char **argv) {
  sm_server_options *opts = sm_server_options_new();
  if (!opts) return 1;
  listen_list file_listen = {.n = 0}, cmd_listen = {.n = 0};
  daemon_args a = {.opts = opts,
                   .listen = &file_listen,
                   .max_conns = 10000,
                   .max_unauth = 512,
                   .slowlog_threshold_us = 10000,
                   .slowlog_max_len = 128};
  int status = 0, ch;

  /* First pass: only --config, whose file is applied before the rest of
   * the command line so that the command line overrides it. Errors are
   * left to the second pass, which reports them once. */
  const char *config = NULL;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    if (ch != 'c') continue;
    if (config) {
      fprintf(stderr, "statemgrd: one --config at most\n");
      status = 2;
    }
    config = optarg;
  }
  conf_file conf = {0};
  bool file_failed = false; /* its message says where: no usage text after it */
  if (status == 0 && config) {
    char err[1024];
    if (conf_file_load(config, &conf, err, sizeof err) != 0) {
      fprintf(stderr, "statemgrd: %s\n", err);
      status = 2;
    } else {
      status = apply_conf_file(&a, config, &conf);
    }
    file_failed = status > 0;
  }

  optind = 0; /* glibc: a full restart of the scan */
  opterr = 1;
  a.listen = &cmd_listen;
  while (status == 0 && (ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
    if (ch != 'c') status = apply_option(&a, ch, optarg, "");
  if (status == 0 && optind < argc) {
    fprintf(stderr, "statemgrd: unexpected argument '%s'\n", argv[optind]);
    status = 2;
  }
  if (status == 0 && (a.tls_cert || a.tls_key || a.tls_ca || a.tls_require)) {
    const char *why = NULL;
    if (!a.tls_cert || !a.tls_key)
      why = "--tls-cert and --tls-key go together";
    else if (a.tls_require && !a.tls_ca)
      why = "--tls-require-client-cert needs --tls-ca, the CA of the client certificates";
    else if (sm_server_options_set_tls(opts, a.tls_cert, a.tls_key, a.tls_ca, a.tls_require) != 0)
      why = "bad TLS options";
    if (why) {
      fprintf(stderr, "statemgrd: %s\n", why);
      status = 2;
    }
  }
  if (status == 0 && a.syslog && a.log_file) {
    fprintf(stderr, "statemgrd: --syslog and --log-file exclude each other\n");
    status = 2;
  }
  if (status == 0 &&
      (sm_server_options_set_syslog(opts, a.syslog) != 0 ||
       sm_server_options_set_slowlog(opts, a.slowlog_threshold_us, (size_t)a.slowlog_max_len) != 0))
    status = 1;
  if (status == 0 && !a.cluster &&
      (a.etcd_cacert || a.etcd_cert || a.etcd_key || a.etcd_max_request)) {
    fprintf(stderr, "statemgrd: --etcd-cacert, --etcd-cert, --etcd-key and "
                    "--etcd-max-request-bytes are for --cluster\n");
    status = 2;
  }
  if (status == 0 && (a.cluster || a.etcd || a.advertise)) {
    if (!a.cluster || !a.etcd || !a.advertise) {
      fprintf(stderr, "statemgrd: --cluster NAME, --etcd URLS and --advertise URL go together\n");
      status = 2;
    } else if (sm_server_options_set_cluster(opts, a.cluster, a.etcd, a.advertise) != 0) {
      status = 1;
    } else if (!a.etcd_cert != !a.etcd_key) {
      fprintf(stderr, "statemgrd: --etcd-cert and --etcd-key go together\n");
      status = 2;
    } else if (sm_server_options_set_etcd_tls(opts, a.etcd_cacert, a.etcd_cert, a.etcd_key) != 0) {
      status = 1;
    } else if (!a.data_dir) {
      a.no_persist = true; /* the state is the group's, in etcd */
    }
  }
  char data_dir[4096];
  if (status == 0 && !a.no_persist) {
    if (!a.data_dir && persist_default_dir(data_dir, sizeof data_dir) == 0) a.data_dir = data_dir;
    if (!a.data_dir) {
      fprintf(stderr, "statemgrd: no home directory for the default data directory: give "
                      "--data-dir DIR, or --no-persist\n");
      status = 1;
    } else if (sm_server_options_set_data_dir(opts, a.data_dir) != 0) {
      status = 1;
    }
  }
  if (status == 2 && !file_failed) usage(stderr);
  if (status != 0) {
    sm_server_options_free(opts);
    conf_file_free(&conf);
    return status < 0 ? 0 : status;
  }
  listen_list *listen = cmd_listen.n ? &cmd_listen : &file_listen;
  if (listen->n == 0) listen->url[listen->n++] = SM_DEFAULT_URL;
  raise_fd_limit(a.max_conns, a.max_unauth);

  sm_server *srv = NULL;
  int rc = sm_server_new(opts, &srv);
  sm_server_options_free(opts);
  for (size_t i = 0; rc == 0 && i < listen->n; i++)
    rc = sm_server_listen(srv, listen->url[i]);
  if (rc == 0) rc = sm_server_run(srv, true);
  bool again = sm_server_needs_restart(srv);
  sm_server_free(srv);
  conf_file_free(&conf);
  if (again) {
    /* A member of a group that stopped leading: its state may hold what the
     * group never took, so it starts afresh from the group's log, as the
     * same process (whoever watches its pid keeps watching it). */
    fprintf(stderr, "statemgrd: starting again from the group's log\n");
    char self[4096]; /* the binary's path: its name, not "exe", shows in ps */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = '\0';
      execv(self, argv);
    }
    execv("/proc/self/exe", argv);
    fprintf(stderr, "statemgrd: cannot run itself again: %s\n", strerror(errno));
    return 1;
  }
  return rc == 0 ? 0 : 1;
}
