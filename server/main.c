/* main.c - statemgrd: command-line options over the embeddable server.
 *
 * With no options it listens on 127.0.0.1:7450 with the default authkey
 * (~/.statemgr/authkey, created on first start), so local use needs no
 * configuration. */
#include "statemgr_server.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTEN 32

static void usage(FILE *f) {
  fprintf(f,
          "usage: statemgrd [options]\n"
          "\n"
          "  --listen URL        accept clients on URL (repeatable; default %s)\n"
          "                      tcp://HOST:PORT, tcp://[V6ADDR]:PORT, unix:/PATH\n"
          "  --authkey-file F    the shared authkey (default: $STATEMGR_AUTHKEY_FILE,\n"
          "                      $STATEMGR_AUTHKEY, ~/.statemgr/authkey, created if absent)\n"
          "  --log-level L       error, warn, info (default) or debug\n"
          "  --max-frame BYTES   largest request frame accepted (default 64M; K/M/G suffixes)\n"
          "  --ready-file F      write the bound URLs to F once listening\n"
          "  --version           print the version and exit\n"
          "  --help              this text\n",
          SM_DEFAULT_URL);
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

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, 'l'},
      {"authkey-file", required_argument, NULL, 'k'},
      {"log-level", required_argument, NULL, 'v'},
      {"max-frame", required_argument, NULL, 'f'},
      {"ready-file", required_argument, NULL, 'r'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *listen[MAX_LISTEN];
  size_t n_listen = 0;
  sm_server_options *opts = sm_server_options_new();
  if (!opts) return 1;
  int status = 0, ch;
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
    case 'r': sm_server_options_set_ready_file(opts, optarg); break;
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
  if (status == 2) usage(stderr);
  if (status != 0) {
    sm_server_options_free(opts);
    return status < 0 ? 0 : status;
  }
  if (n_listen == 0) listen[n_listen++] = SM_DEFAULT_URL;

  sm_server *srv = NULL;
  int rc = sm_server_new(opts, &srv);
  sm_server_options_free(opts);
  for (size_t i = 0; rc == 0 && i < n_listen; i++)
    rc = sm_server_listen(srv, listen[i]);
  if (rc == 0) rc = sm_server_run(srv, true);
  sm_server_free(srv);
  return rc == 0 ? 0 : 1;
}
