/* SPDX-License-Identifier: MIT */
/* smtest_fake.c - a fake daemon for the suites (see smtest.h): a thread of
 * the test process that listens on a UNIX socket and speaks the protocol
 * with proto/ functions, sending exactly what its script says. It lets a
 * test show how the library meets peers statemgrd never is: a daemon of an
 * older protocol, one that answers with a status from a newer one, or a
 * member of a replicated group that redirects its clients to the leader
 * (in the handshake, or on a request of a session it resumed). */
#include "proto/auth.h"
#include "proto/frame.h"
#include "smtest.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FAKE_POLL_MS 20

/* Reads one frame's payload into buf (cap bytes) without failing the test
 * (this runs off the test's thread). Returns its length, or -1 on EOF, an
 * oversized frame, or stop. */
static long fake_read_frame(smtest_fake *f, int fd, uint8_t *buf, size_t cap) {
  uint8_t hdr[FRAME_HEADER_LEN];
  size_t have = 0, need = sizeof hdr;
  uint8_t *dst = hdr;
  bool header = true;
  while (have < need) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, FAKE_POLL_MS);
    if (f->stop) return -1;
    if (n <= 0) continue;
    ssize_t r = recv(fd, dst + have, need - have, 0);
    if (r <= 0) return -1;
    have += (size_t)r;
    if (header && have == need) {
      size_t len = 0;
      if (frame_parse(hdr, sizeof hdr, cap, &len) == FRAME_TOO_LARGE) return -1;
      header = false;
      dst = buf;
      have = 0;
      need = len;
    }
  }
  return (long)need;
}

static bool fake_send(int fd, const vbuf *b) {
  size_t off = 0;
  while (off < b->len) {
    ssize_t w = send(fd, b->p + off, b->len - off, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += (size_t)w;
  }
  return true;
}

/* Handshake as cfg says; true when the client authenticated. */
static bool fake_handshake(smtest_fake *f, int fd) {
  uint8_t sc[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN], expect[AUTH_MAC_LEN];
  uint8_t buf[4096];
  char name[64];
  uint32_t version = 0;
  vbuf b;
  vb_init(&b);
  auth_random(sc, sizeof sc);
  bool ok = wire_hello_encode(&b, f->cfg.hello_version, f->cfg.hello_max_version, sc) == 0 &&
            fake_send(fd, &b);
  long n = ok ? fake_read_frame(f, fd, buf, sizeof buf) : -1;
  uint64_t resume = 0, resume_key = 0;
  ok = n >= 0 && wire_auth_decode((sm_span){buf, (size_t)n}, &version, mac, cc, name, sizeof name,
                                  &resume, &resume_key) == 0;
  if (ok) {
    f->auth_version = version;
    auth_client_mac(f->key, f->keylen, sc, cc, expect);
    ok = auth_mac_ok(mac, sizeof mac, expect);
  }
  vb_reset(&b);
  if (ok) {
    wire_daemon_info info = f->cfg.info;
    if (f->cfg.resume_any && resume) {
      info.session = resume;
      info.key = resume_key;
      info.resumed = info.durable = true;
    }
    auth_server_mac(f->key, f->keylen, sc, cc, mac);
    bool accept = f->cfg.auth_status == WS_OK;
    ok = wire_auth_result_encode(&b, f->cfg.auth_status, accept ? mac : NULL, NULL, &info) == 0 &&
         fake_send(fd, &b) && accept;
  }
  vb_free(&b);
  return ok;
}

/* Answers every request of one connection from the script. */
static void fake_serve(smtest_fake *f, int fd) {
  static uint8_t buf[1 << 16];
  for (;;) {
    long n = fake_read_frame(f, fd, buf, sizeof buf);
    wire_request req;
    if (n < 0 || wire_request_decode((sm_span){buf, (size_t)n}, &req) != 0) return;
    size_t i = (size_t)f->requests;
    wire_response_out r = {.seq = req.seq, .status = WS_OK};
    if (i < f->cfg.n_answers && f->cfg.statuses) {
      r.status = f->cfg.statuses[i];
      r.error = f->cfg.texts ? f->cfg.texts[i] : NULL;
      r.leader = f->cfg.leaders ? f->cfg.leaders[i] : NULL;
    }
    wire_request_release(&req);
    vbuf b;
    vb_init(&b);
    f->requests++; /* before the answer: the client may look as soon as it has it */
    bool sent = wire_response_encode(&b, &r) == 0 && fake_send(fd, &b);
    vb_free(&b);
    if (!sent) return;
  }
}

static void *fake_main(void *arg) {
  smtest_fake *f = arg;
  while (!f->stop) {
    struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
    if (poll(&p, 1, FAKE_POLL_MS) <= 0) continue;
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0) continue;
    f->accepted++;
    if (fake_handshake(f, fd)) fake_serve(f, fd);
    close(fd);
  }
  return NULL;
}

void smtest_fake_start(smtest_fake *f, const smtest_fake_cfg *cfg) {
  memset(f, 0, sizeof *f);
  f->cfg = *cfg;
  if (cfg->key_file) {
    authkey k = {0};
    char why[512];
    ck_assert_msg(authkey_load(cfg->key_file, false, &k, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_le(k.len, sizeof f->key);
    memcpy(f->key, k.bytes, k.len);
    f->keylen = k.len;
    authkey_clear(&k);
  } else {
    f->keylen = 32;
    auth_random(f->key, f->keylen);
  }
  snprintf(f->dir, sizeof f->dir, "/tmp/smfake.XXXXXX");
  ck_assert_msg(mkdtemp(f->dir) != NULL, "mkdtemp: %s", strerror(errno));
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s/fake.sock", f->dir);
  snprintf(f->url, sizeof f->url, "unix:%s", sun.sun_path);
  f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(f->listen_fd, 0);
  ck_assert_int_eq(bind(f->listen_fd, (struct sockaddr *)&sun, sizeof sun), 0);
  ck_assert_int_eq(listen(f->listen_fd, 8), 0);
  ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

void smtest_fake_stop(smtest_fake *f) {
  f->stop = true;
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
  char path[128];
  snprintf(path, sizeof path, "%s/fake.sock", f->dir);
  unlink(path);
  rmdir(f->dir);
}

int smtest_fake_connect(const smtest_fake *f, sm_client **out) {
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  OK(sm_options_set_authkey(o, f->key, f->keylen));
  OK(sm_options_set_connect_timeout(o, 5000));
  int rc = sm_connect(f->url, o, out);
  sm_options_free(o);
  return rc;
}
