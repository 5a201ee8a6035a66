/* SPDX-License-Identifier: MIT */
/* check_throttle.c - failed authentications are slowed down per source
 * address and summed up in the log, against a real statemgrd.
 *
 * Eight threads try wrong keys from 127.0.0.2 as fast as the daemon
 * answers, for three seconds, while a good client on 127.0.0.1 connects
 * again and again. Counted, not timed: the daemon may check only a few
 * dozen of those attempts (it used to check about 4,000 a second), every
 * good connection works, and the log holds a couple of lines about
 * 127.0.0.2 (the first failure, then a summary with the count) instead of
 * one per failure. */
#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "smtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ATTACKERS 8
#define ATTACK_S 3.0
#define CHECKED_MAX 40 /* attempts the daemon may check in the attack's span */

static smtest_daemon d;

/* A handshake deadline of 3 s: attempts waiting for their turn are never
 * held longer than that, so the test ends soon after the attack. */
static void start(void) {
  const char *args[] = {"--handshake-timeout", "3000", NULL};
  smtest_daemon_start(&d, args);
}

static void stop(void) { smtest_daemon_stop_checked(&d); }

/* Reads one frame's payload within ms: its length, or -1 (EOF, timeout,
 * too large). For threads: never fails the test itself. */
static long read_frame_quiet(int fd, uint8_t *buf, size_t cap, int ms) {
  uint8_t hdr[FRAME_HEADER_LEN];
  size_t have = 0, need = sizeof hdr;
  bool header = true;
  while (have < need) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) != 1) return -1;
    ssize_t r = recv(fd, header ? hdr + have : buf + have, need - have, 0);
    if (r <= 0) return -1;
    have += (size_t)r;
    if (header && have == need) {
      size_t len;
      if (frame_parse(hdr, sizeof hdr, cap, &len) != FRAME_READY && len > cap) return -1;
      header = false;
      have = 0;
      need = len;
    }
  }
  return (long)need;
}

typedef struct attack {
  struct sockaddr_in dst;
  atomic_long checked;   /* refused as a wrong key: the daemon checked it */
  atomic_long unchecked; /* refused unchecked: throttled */
  atomic_long other;     /* anything else (a closed connection, a timeout) */
  double until;
} attack;

/* One wrong-key attempt from 127.0.0.2; counts its outcome. */
static void attempt(attack *a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
  uint8_t buf[FRAME_MAX_PREAUTH], sc[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN];
  uint32_t version;
  long n = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&src, sizeof src) == 0 &&
      connect(fd, (struct sockaddr *)&a->dst, sizeof a->dst) == 0)
    n = read_frame_quiet(fd, buf, sizeof buf, 5000);
  if (n > 0 && wire_hello_decode((sm_span){buf, (size_t)n}, &version, NULL, sc) == 0) {
    static const char wrong[] = "a wrong key tried from far away";
    auth_random(cc, sizeof cc);
    auth_client_mac((const uint8_t *)wrong, sizeof wrong - 1, sc, cc, mac);
    vbuf b;
    vb_init(&b);
    n = -1;
    if (wire_auth_encode(&b, AUTH_PROTOCOL_VERSION, mac, cc, "guesser") == 0 &&
        send(fd, b.p, b.len, MSG_NOSIGNAL) == (ssize_t)b.len)
      n = read_frame_quiet(fd, buf, sizeof buf, 6000);
    vb_free(&b);
  }
  int status = -1;
  bool has_mac;
  char text[256] = "";
  if (n >= 0)
    wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac, text, sizeof text,
                            NULL);
  if (status == WS_AUTH_FAILED && strstr(text, "does not know the authkey"))
    atomic_fetch_add(&a->checked, 1);
  else if (status == WS_AUTH_FAILED && strstr(text, "refused unchecked"))
    atomic_fetch_add(&a->unchecked, 1);
  else
    atomic_fetch_add(&a->other, 1);
  if (fd >= 0) close(fd);
}

static void *attacker_main(void *arg) {
  attack *a = arg;
  while (smtest_now_s() < a->until)
    attempt(a);
  return NULL;
}

/* True once pid has exited: gone, or a zombie its parent (the runner,
 * whose fixture started it) has not reaped yet. Looks for up to 60 s (a
 * daemon under valgrind checks for leaks on its way out). */
static bool exited(pid_t pid) {
  for (int waited = 0; waited < 60000; waited += 20) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    if (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X')) return true;
    usleep(20 * 1000);
  }
  return false;
}

/* The sum of the counts "N <what>" in the summary lines about 127.0.0.2. */
static long summed(const char *what) {
  FILE *f = fopen(d.log_file, "r");
  ck_assert_ptr_nonnull(f);
  char line[4096];
  long sum = 0;
  while (fgets(line, sizeof line, f)) {
    const char *at = strstr(line, "from 127.0.0.2 in the last ");
    const char *w = at ? strstr(at, what) : NULL;
    if (!w) continue;
    const char *digits = w - 1; /* "..., 12 failed authentications" */
    while (digits > at && digits[-1] >= '0' && digits[-1] <= '9')
      digits--;
    sum += atol(digits);
  }
  fclose(f);
  return sum;
}

/* Lines of d's log at warn level or above that mention needle. */
static int loud_lines(const char *needle) {
  FILE *f = fopen(d.log_file, "r");
  ck_assert_ptr_nonnull(f);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if ((strstr(line, "] warn ") || strstr(line, "] error ")) && strstr(line, needle)) n++;
  fclose(f);
  return n;
}

START_TEST(failures_throttled_per_address) {
  attack a = {.dst = {.sin_family = AF_INET}};
  const char *colon = strrchr(d.tcp_url, ':');
  a.dst.sin_port = htons((uint16_t)atoi(colon + 1));
  inet_pton(AF_INET, "127.0.0.1", &a.dst.sin_addr);
  atomic_init(&a.checked, 0);
  atomic_init(&a.unchecked, 0);
  atomic_init(&a.other, 0);
  a.until = smtest_now_s() + ATTACK_S;
  pthread_t t[ATTACKERS];
  for (int i = 0; i < ATTACKERS; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, attacker_main, &a), 0);

  /* The good client, from 127.0.0.1, all along: a fresh connection each
   * time, so each one goes through the handshake during the attack. */
  int good = 0;
  while (smtest_now_s() < a.until) {
    sm_client *c = smtest_connect(&d, NULL);
    OK(sm_ping(c));
    sm_client_free(c);
    good++;
    usleep(50 * 1000);
  }
  for (int i = 0; i < ATTACKERS; i++)
    ck_assert_int_eq(pthread_join(t[i], NULL), 0);
  long checked = atomic_load(&a.checked), unchecked = atomic_load(&a.unchecked),
       other = atomic_load(&a.other);
  fprintf(stderr,
          "throttle: %d threads for %.0f s from 127.0.0.2: %ld wrong keys checked, %ld refused "
          "unchecked, %ld other; %d good connections from 127.0.0.1\n",
          ATTACKERS, ATTACK_S, checked, unchecked, other, good);
  ck_assert_int_ge(checked, 5); /* the first few are checked at once */
  ck_assert_msg(checked <= CHECKED_MAX, "%ld attempts checked in %.0f s", checked, ATTACK_S);
  ck_assert_int_ge(good, 10);
  /* info (and /metrics) count each checked wrong key and each refusal */
  sm_client *c = smtest_connect(&d, NULL);
  ck_assert_int_eq(smtest_info_int(c, "auth_failures"), checked);
  ck_assert_int_eq(smtest_info_sub_int(c, "refused", "auth_throttled"), unchecked);
  sm_client_free(c);

  /* Stopping writes the summaries still open. */
  ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
  ck_assert(exited(d.pid));
  ck_assert(smtest_daemon_log_has(&d, "] info  stopped", 0));
  /* The first failure has a line of its own; the summaries count the rest. */
  ck_assert_int_eq(summed(" failed authentications"), checked - 1);
  ck_assert_int_eq(summed(" attempts refused unchecked while throttled"), unchecked);
  int loud = loud_lines("127.0.0.2");
  ck_assert_msg(loud >= 2 && loud <= 3, "%d warn lines about 127.0.0.2", loud);
  ck_assert_int_eq(loud_lines("127.0.0.1"), 0);
}
END_TEST

Suite *throttle_suite(void) {
  Suite *s = suite_create("throttle");
  TCase *tc = tcase_create("wrong keys");
  tcase_add_unchecked_fixture(tc, start, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, failures_throttled_per_address);
  suite_add_tcase(s, tc);
  return s;
}
