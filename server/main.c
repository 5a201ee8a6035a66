/* main.c - statemgrd: command-line options over the embeddable server.
 *
 * With no options it listens on 127.0.0.1:7450 with the default authkey
 * (~/.statemgr/authkey, created on first start), so local use needs no
 * configuration. tls:// listeners take their certificate and key from
 * --tls-cert and --tls-key (mutual TLS with --tls-ca and
 * --tls-require-client-cert). SIGHUP reopens --log-file and reloads the
 * certificate and key. */
#include "statemgr_server.h"

#include "../proto/authkey.h"

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
          "  --max-pending N     parked calls per connection before it is no longer read\n"
          "                      (default 65536)\n"
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
 * usable key) after saying why. */
static int read_key_fd(sm_server_options *opts, const char *arg) {
  char *end = NULL, err[512], source[64];
  errno = 0;
  long fd = strtol(arg, &end, 10);
  if (errno || end == arg || *end || fd < 0 || fd > INT32_MAX) {
    fprintf(stderr, "statemgrd: --authkey-fd takes a descriptor number\n");
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
  if (rc != 0) fprintf(stderr, "statemgrd: %s\n", err);
  return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
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
      {"handshake-timeout", required_argument, NULL, 'H'},
      {"tls-cert", required_argument, NULL, 'T'},
      {"tls-key", required_argument, NULL, 'K'},
      {"tls-ca", required_argument, NULL, 'A'},
      {"tls-require-client-cert", no_argument, NULL, 'R'},
      {"keepalive", required_argument, NULL, 'E'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *listen[MAX_LISTEN];
  size_t n_listen = 0;
  sm_server_options *opts = sm_server_options_new();
  if (!opts) return 1;
  int status = 0, ch;
  size_t max_conns = 10000, max_unauth = 512;
  const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
  bool tls_require = false;
  while (status == 0 && (ch = getopt_long(argc, argv, "l:k:v:f:r:Vh", longopts, NULL)) != -1) {
    size_t size;
    switch (ch) {
    case 'l':
      if (n_listen == MAX_LISTEN) {
        fprintf(stderr, "statemgrd: at most %d --listen options\n", MAX_LISTEN);
        status = 2;
      } else {
        listen[n_listen++] = optarg;
      }
      break;
    case 'k': sm_server_options_set_authkey_file(opts, optarg); break;
    case 'F': status = read_key_fd(opts, optarg); break;
    case 'L':
      if (sm_server_options_set_log_file(opts, optarg) != 0) {
        fprintf(stderr, "statemgrd: --log-file takes a path\n");
        status = 2;
      }
      break;
    case 'v': {
      static const char *const levels[] = {"error", "warn", "info", "debug"};
      int level = -1;
      for (int i = 0; i < 4; i++)
        if (strcmp(optarg, levels[i]) == 0) level = i;
      if (level < 0) {
        fprintf(stderr, "statemgrd: --log-level takes error, warn, info or debug\n");
        status = 2;
      } else {
        sm_server_options_set_log_level(opts, (sm_log_level)level);
      }
      break;
    }
    case 'f':
      if (parse_size(optarg, &size) != 0 || sm_server_options_set_max_frame(opts, size) != 0) {
        fprintf(stderr, "statemgrd: --max-frame takes 1K to 4G bytes\n");
        status = 2;
      }
      break;
    case 'm':
      if (parse_size(optarg, &size) != 0 || sm_server_options_set_max_memory(opts, size) != 0) {
        fprintf(stderr,
                "statemgrd: --max-memory takes a byte count (K/M/G suffixes; 0: no limit)\n");
        status = 2;
      }
      break;
    case 'r': sm_server_options_set_ready_file(opts, optarg); break;
    case 'M': sm_server_options_set_metrics(opts, optarg); break;
    case 'T': tls_cert = optarg; break;
    case 'K': tls_key = optarg; break;
    case 'A': tls_ca = optarg; break;
    case 'R': tls_require = true; break;
    case 'E': {
      char *end = NULL;
      errno = 0;
      long secs = strtol(optarg, &end, 10);
      if (errno || end == optarg || *end || secs < 0 || secs > 7200 ||
          sm_server_options_set_keepalive(opts, (int)secs) != 0) {
        fprintf(stderr, "statemgrd: --keepalive takes 0 to 7200 seconds\n");
        status = 2;
      }
      break;
    }
    case 'C':
    case 'P':
    case 'D':
    case 'H':
    case 'U':
    case 'u': {
      char *end = NULL;
      errno = 0;
      unsigned long long n = strtoull(optarg, &end, 10);
      int rc = errno || !end || *end || n == 0 || n > UINT32_MAX ? SM_EINVAL : 0;
      if (rc == 0 && ch == 'C') {
        rc = sm_server_options_set_max_connections(opts, (size_t)n);
        max_conns = (size_t)n;
      }
      if (rc == 0 && ch == 'P') rc = sm_server_options_set_max_pending(opts, (size_t)n);
      if (rc == 0 && ch == 'D') rc = sm_server_options_set_max_depth(opts, (unsigned)n);
      if (rc == 0 && ch == 'H') rc = sm_server_options_set_handshake_timeout(opts, (unsigned)n);
      if (rc == 0 && ch == 'U') {
        rc = sm_server_options_set_max_unauth_connections(opts, (size_t)n);
        max_unauth = (size_t)n;
      }
      if (rc == 0 && ch == 'u') rc = sm_server_options_set_max_unauth_per_addr(opts, (size_t)n);
      if (rc != 0) {
        const char *name = "?";
        for (const struct option *o = longopts; o->name; o++)
          if (o->val == ch) name = o->name;
        fprintf(stderr, "statemgrd: bad value '%s' for --%s\n", optarg, name);
        status = 2;
      }
      break;
    }
    case 'V':
      printf("statemgrd %d.%d.%d\n", SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH);
      status = -1;
      break;
    case 'h':
      usage(stdout);
      status = -1;
      break;
    default: status = 2; break;
    }
  }
  if (status == 0 && optind < argc) {
    fprintf(stderr, "statemgrd: unexpected argument '%s'\n", argv[optind]);
    status = 2;
  }
  if (status == 0 && (tls_cert || tls_key || tls_ca || tls_require)) {
    const char *why = NULL;
    if (!tls_cert || !tls_key)
      why = "--tls-cert and --tls-key go together";
    else if (tls_require && !tls_ca)
      why = "--tls-require-client-cert needs --tls-ca, the CA of the client certificates";
    else if (sm_server_options_set_tls(opts, tls_cert, tls_key, tls_ca, tls_require) != 0)
      why = "bad TLS options";
    if (why) {
      fprintf(stderr, "statemgrd: %s\n", why);
      status = 2;
    }
  }
  if (status == 2) usage(stderr);
  if (status != 0) {
    sm_server_options_free(opts);
    return status < 0 ? 0 : status;
  }
  if (n_listen == 0) listen[n_listen++] = SM_DEFAULT_URL;
  raise_fd_limit(max_conns, max_unauth);

  sm_server *srv = NULL;
  int rc = sm_server_new(opts, &srv);
  sm_server_options_free(opts);
  for (size_t i = 0; rc == 0 && i < n_listen; i++)
    rc = sm_server_listen(srv, listen[i]);
  if (rc == 0) rc = sm_server_run(srv, true);
  sm_server_free(srv);
  return rc == 0 ? 0 : 1;
}
