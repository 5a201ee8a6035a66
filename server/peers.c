/* SPDX-License-Identifier: MIT */
/* peers.c - per-source state for connections not yet authenticated (see
 * peers.h).
 *
 * The sources live in an htab keyed by their key text. The table's
 * insertion order doubles as recency: a source seen again is taken out and
 * put back at the end, so the first entries are the least recently seen
 * and the first idle one among them is what goes when the table is full.
 *
 * Throttling books evaluation slots: next_eval is the earliest moment the
 * next attempt from the source may be checked, and each booking moves it
 * on by spacing(fails). With spacing 0 for the first few failures, a user
 * who mistyped a key is answered at once; an address that keeps failing
 * gets one check per second at most, however many connections it opens
 * (a connection cannot learn anything by being answered sooner, because
 * the check itself waits). Bookings never reach past the connection's own
 * handshake deadline: a later one is refused unchecked.
 *
 * Log lines: the first event of a source is logged in full (by the
 * caller) and opens an interval of PEER_SUMMARY_S seconds; what follows
 * within it is counted, and the sweep after the interval writes one line
 * with the counts, then opens the next interval if there were any. */
#include "peers.h"

#include "../proto/url.h"
#include "clock.h"
#include "htab.h"
#include "log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PEERS_MAX 4096         /* sources remembered at most (beyond those with connections) */
#define PEER_FORGET_MS 60000   /* failures older than this are forgotten */
#define PEER_SUMMARY_MS 10000  /* one summary line per source per interval */
#define PEER_FREE_FAILURES 5   /* failures checked without delay */
#define PEER_DELAY_FIRST_MS 50 /* the delay after those, doubling per failure */
#define PEER_DELAY_MAX_MS 1000 /* at most one check per second once throttled */

struct peer {
  peer_key key;
  size_t unauth;                  /* connections from here not authenticated yet */
  unsigned fails;                 /* recent failed authentications (reset after PEER_FORGET_MS) */
  int64_t last_fail_ms;           /* when the last one happened */
  int64_t next_eval_ms;           /* the earliest moment the next attempt may be checked */
  int64_t interval_ms;            /* start of the current log interval; 0: none open */
  uint64_t counts[PEER_N_EVENTS]; /* events not yet in a log line */
};

struct peers {
  htab tab; /* key text -> peer *, least recently seen first */
};

static const char *const event_words[PEER_N_EVENTS] = {
    [PEER_AUTH_FAILED] = "failed authentications",
    [PEER_THROTTLED] = "attempts refused unchecked while throttled",
    [PEER_DROPPED] = "connections dropped over the pre-authentication limits",
    [PEER_BAD_HANDSHAKE] = "bad or unfinished handshakes",
};

int64_t peers_now_ms(void) { return clock_mono_ms(); }

/* ---- identifying a peer ---- */

/* A UNIX-socket peer: its credentials from the kernel. */
static bool identify_unix(int fd, char *text, size_t textlen, peer_key *key) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    /* Never happens on Linux; an unknown local peer is limited as one
     * bucket of its own. */
    snprintf(text, textlen, "unix socket");
    snprintf(key->text, sizeof key->text, "unix socket");
    return true;
  }
  snprintf(text, textlen, "unix socket (uid %u, pid %d)", (unsigned)cred.uid, (int)cred.pid);
  snprintf(key->text, sizeof key->text, "uid %u", (unsigned)cred.uid);
  return cred.uid != geteuid() && cred.uid != 0;
}

bool peer_identify(int fd, const struct sockaddr *sa, socklen_t salen, char *text, size_t textlen,
                   peer_key *key) {
  if (sa->sa_family == AF_UNIX) return identify_unix(fd, text, textlen, key);
  char host[INET6_ADDRSTRLEN], port[16];
  if (getnameinfo(sa, salen, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    snprintf(text, textlen, "unknown");
    snprintf(key->text, sizeof key->text, "unknown");
    return true;
  }
  url_host_port(text, textlen, host, port);
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) { /* an IPv4 client of a dual-stack listener */
      inet_ntop(AF_INET, &a->s6_addr[12], key->text, sizeof key->text);
    } else {
      struct in6_addr net = *a; /* the /64 the host lives in */
      memset(&net.s6_addr[8], 0, 8);
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, &net, buf, sizeof buf);
      snprintf(key->text, sizeof key->text, "%s/64", buf);
    }
  } else {
    snprintf(key->text, sizeof key->text, "%s", host);
  }
  return true;
}

/* ---- the table ---- */

peers *peers_new(void) {
  peers *t = calloc(1, sizeof *t);
  if (t) htab_init(&t->tab);
  return t;
}

static void free_peer(void *ctx, void *val) {
  (void)ctx;
  free(val);
}

void peers_free(peers *t) {
  if (!t) return;
  htab_clear(&t->tab, free_peer, NULL);
  free(t);
}

static sm_span key_span(const peer_key *k) {
  return (sm_span){(const uint8_t *)k->text, strlen(k->text)};
}

/* True when p holds nothing worth keeping: no connection, no open log
 * interval, no failure recent enough to count. */
static bool idle(const peer *p, int64_t now_ms) {
  return p->unauth == 0 && p->interval_ms == 0 &&
         (p->fails == 0 || now_ms - p->last_fail_ms >= PEER_FORGET_MS) && p->next_eval_ms <= now_ms;
}

static void summarize(peer *p, int64_t now_ms);

static void forget(peers *t, peer *p) {
  htab_remove(&t->tab, key_span(&p->key), NULL);
  free(p);
}

/* Makes room for one more source: forgets the least recently seen one
 * without connections (a source with connections is bounded by the
 * pre-auth limits, so the table stays bounded too). */
static void make_room(peers *t, int64_t now_ms) {
  if (htab_len(&t->tab) < PEERS_MAX) return;
  size_t pos = 0;
  sm_span k;
  void *v;
  while (htab_next(&t->tab, &pos, &k, &v)) {
    peer *p = v;
    if (p->unauth == 0) {
      if (p->interval_ms) summarize(p, now_ms); /* what it has to say goes first */
      forget(t, p);
      return;
    }
  }
}

peer *peers_enter(peers *t, const peer_key *key, int64_t now_ms) {
  sm_span k = key_span(key);
  void *v = NULL;
  peer *p;
  if (htab_remove(&t->tab, k, &v)) { /* seen again: to the end of the order */
    p = v;
  } else {
    make_room(t, now_ms);
    if (!(p = calloc(1, sizeof *p))) return NULL;
    p->key = *key;
  }
  if (htab_put(&t->tab, k, p, NULL) != 1) {
    free(p);
    return NULL;
  }
  p->unauth++;
  return p;
}

void peers_leave(peers *t, peer *p, int64_t now_ms) {
  if (p->unauth > 0) p->unauth--;
  if (idle(p, now_ms)) forget(t, p);
}

size_t peer_unauth(const peer *p) { return p->unauth; }
const char *peer_name(const peer *p) { return p->key.text; }
size_t peers_count(const peers *t) { return htab_len(&t->tab); }

/* ---- throttling ---- */

/* The delay between two checks after fails recent failures. */
static int64_t spacing(unsigned fails) {
  if (fails < PEER_FREE_FAILURES) return 0;
  unsigned doublings = fails - PEER_FREE_FAILURES;
  if (doublings >= 5) return PEER_DELAY_MAX_MS;
  int64_t d = (int64_t)PEER_DELAY_FIRST_MS << doublings;
  return d < PEER_DELAY_MAX_MS ? d : PEER_DELAY_MAX_MS;
}

/* Forgets failures older than PEER_FORGET_MS. */
static void decay(peer *p, int64_t now_ms) {
  if (p->fails && now_ms - p->last_fail_ms >= PEER_FORGET_MS) p->fails = 0;
}

int64_t peer_auth_wait(peer *p, int64_t now_ms, int64_t max_wait_ms) {
  decay(p, now_ms);
  int64_t slot = p->next_eval_ms > now_ms ? p->next_eval_ms : now_ms;
  if (slot - now_ms > max_wait_ms) return -1;
  p->next_eval_ms = slot + spacing(p->fails);
  return slot - now_ms;
}

void peer_auth_failed(peer *p, int64_t now_ms) {
  decay(p, now_ms);
  p->fails++;
  p->last_fail_ms = now_ms;
  int64_t next = now_ms + spacing(p->fails);
  if (next > p->next_eval_ms) p->next_eval_ms = next;
}

/* ---- log lines ---- */

bool peer_note(peer *p, peer_event ev, int64_t now_ms) {
  if (p->interval_ms == 0) { /* quiet until now: this one gets its own line */
    p->interval_ms = now_ms ? now_ms : 1;
    return true;
  }
  p->counts[ev]++;
  return false;
}

/* Writes p's summary line when it has counts, and opens the next interval
 * if so (closes it if not). */
static void summarize(peer *p, int64_t now_ms) {
  char line[512];
  size_t n = 0;
  for (int e = 0; e < PEER_N_EVENTS; e++) {
    if (p->counts[e] == 0 || n >= sizeof line) continue;
    n += (size_t)snprintf(line + n, sizeof line - n, "%s%llu %s", n ? ", " : "",
                          (unsigned long long)p->counts[e], event_words[e]);
    p->counts[e] = 0;
  }
  if (n == 0) {
    p->interval_ms = 0;
    return;
  }
  int64_t secs = (now_ms - p->interval_ms + 999) / 1000;
  log_warn("from %s in the last %lld s: %s", p->key.text, (long long)(secs > 0 ? secs : 1), line);
  p->interval_ms = now_ms;
}

void peers_sweep(peers *t, int64_t now_ms, bool all) {
  size_t pos = 0;
  sm_span k;
  void *v;
  peer *gone[64];
  size_t n_gone = 0;
  /* Forgetting changes the table: collect, then remove, a batch per pass. */
  do {
    n_gone = 0;
    pos = 0;
    while (htab_next(&t->tab, &pos, &k, &v)) {
      peer *p = v;
      if (p->interval_ms && (all || now_ms - p->interval_ms >= PEER_SUMMARY_MS))
        summarize(p, now_ms);
      if (idle(p, now_ms) && n_gone < sizeof gone / sizeof gone[0]) gone[n_gone++] = p;
    }
    for (size_t i = 0; i < n_gone; i++)
      forget(t, gone[i]);
  } while (n_gone == sizeof gone / sizeof gone[0]);
}
