/* SPDX-License-Identifier: MIT */
/* session.h - what each client session holds, kept with the registry.
 *
 * A session is one client connection's identity for ownership: the
 * references its proxies hold on anonymous objects, and the units it owns
 * of objects that remember their holders (lock acquisitions, semaphore
 * units). Ownership is a session's, not a connection's, so that the command
 * stream (cmd.h) can say who did what and a replay gives the same owners
 * back: lock owners, waiters and these tables all name session ids.
 *
 * Session ids are unique across runs, like object ids: the server numbers
 * its connections' sessions from the run's first id (the run's start ms <<
 * REG_ID_CLOCK_SHIFT) with a counter of its own, never from the registry's
 * object id counter (which only logged commands may advance). So a session
 * of an earlier run (found in a snapshot or the log) has an id below this
 * run's first id: an orphan (sess_each_orphan). Session 0 is nobody: calls
 * without a connection (the fuzzer, unit tests) record nothing.
 *
 * A session that holds nothing has no entry: an entry is made by the first
 * reference or unit it takes and goes when it holds nothing again. The
 * exception is a kept session (sess_begin: a protocol-3 client of a durable
 * daemon, which may resume it after a restart): its entry stays until the
 * session ends, with its reply table.
 *
 * The reply table (exactly once across a restart): a kept session keeps
 * the answer of each mutating call it made (by the request's seq; an
 * error too when the call was applied, as a barrier wait whose round
 * failed) until the
 * client acknowledges it (a request's `ack`: it has every answer up to that
 * seq). A request whose seq is in the table is answered from it, not
 * applied again. The table is durable state like the rest: the CALL
 * record carries seq and ack, so a replay recomputes the same answers, and
 * the snapshot's sessions blob holds them. */
#ifndef SM_SERVER_SESSION_H
#define SM_SERVER_SESSION_H

#include "../proto/vwire.h"
#include "htab.h"
#include "registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The sessions of a registry, embedded in it (registry.c) and kept by
 * session.c alone. Zero-initialised (after htab_init) is empty. */
/* Entries found recently, by session id modulo this: a connection's
 * session ids follow each other, so as many busy connections as this
 * find theirs without hashing. */
#define SESS_RECENT 64
typedef struct sess_table {
  htab by_id;                       /* 8-byte session id -> sess* (owned), in creation order */
  struct sess *recent[SESS_RECENT]; /* entries found lately, at id % SESS_RECENT (or NULL) */
} sess_table;

/* Sets up an empty table. */
void sess_init(sess_table *t);
/* Frees the table without giving anything back (the registry is going). */
void sess_fini(sess_table *t);

/* Records that session sid holds one more reference to anonymous object o
 * (the reference itself is taken by the caller or by reg_create). A named
 * object or session 0: nothing to record. Returns 0, or -1 when out of
 * memory (then the caller gives the reference back). */
int sess_hold(registry *reg, uint64_t sid, sm_obj *o);

/* Gives back one reference session sid holds on object id (the object may
 * be freed). Returns false when it holds none. */
bool sess_release(registry *reg, uint64_t sid, uint64_t id);

/* Adjusts how many units of o (lock acquisitions, semaphore units) session
 * sid holds; when the session ends, o's type gets them back through
 * owner_gone. Counts never go below zero; session 0 records nothing.
 * Returns 0, or -1 when out of memory. */
int sess_note_owned(registry *reg, uint64_t sid, sm_obj *o, int64_t delta);

/* Makes o an ephemeral object of session sid: sess_end deletes it. Sets
 * o->eph_session. Session 0: nothing. Returns 0, or -1 when out of memory
 * (o is then not ephemeral). */
int sess_note_ephemeral(registry *reg, uint64_t sid, sm_obj *o);

/* Ephemeral object id of session sid goes otherwise (deleted, expired):
 * its session forgets it. */
void sess_forget_ephemeral(registry *reg, uint64_t sid, uint64_t id);

/* Units of object id session sid holds (0 when none). */
uint64_t sess_owned_units(registry *reg, uint64_t sid, uint64_t id);

/* The references session sid holds on anonymous objects, all counted. */
uint64_t sess_ref_count(registry *reg, uint64_t sid);

/* Calls fn for every object session sid owns units of (lock acquisitions,
 * semaphore units), in the order it took them; fn must not change the
 * table. */
void sess_each_owned(registry *reg, uint64_t sid,
                     void (*fn)(void *ctx, uint64_t id, uint64_t units), void *ctx);

/* Calls fn for every session that owns units of object id, with their
 * number, in session order: a scan of every session (the wait-for graph of
 * a semaphore, waitfor.h, asks only when a call is about to wait). */
void sess_each_holder(registry *reg, uint64_t id, holder_visit_fn fn, void *ctx);
/* True when session sid has an entry: a reference, a unit or an ephemeral
 * object, or a kept session (its reply table). */
bool sess_holds_anything(registry *reg, uint64_t sid);

/* True when session sid holds a reference or a unit of some object, or an
 * ephemeral object: its end changes objects, not only the sessions table. */
bool sess_holds_objects(registry *reg, uint64_t sid);

/* Ends session sid: what it owned goes back to the objects (owner_gone,
 * which signal their next waiters), then its references are given back
 * (anonymous objects it alone held are freed), then its ephemeral objects
 * are deleted, and its entry goes. Answers nobody. */
void sess_end(registry *reg, uint64_t sid);

/* The table as one packed Value appended to out: a list of
 * [session, [id, count, ...] references, [id, units, ...] owned, kept,
 * acked, [seq, answer, ...] replies (by seq), key, [id, 1, ...] ephemeral],
 * sessions in creation order (an older blob's entries end after owned;
 * ephemeral is there only when the session has such objects); an answer is
 * its bytes, or [status, text bytes] for an error, or [status, result
 * bytes, token] for a grant that has a fencing token or answered
 * OWNER_DEAD (status 0 or 17; older blobs have none). Returns 0, or -1
 * when out of memory. */
int sess_save(registry *reg, vbuf *out);
/* As sess_save, for info's state digest, which must be the same on every
 * member of a replicated group that applied the same log: only the
 * sessions that hold a reference or a unit (a kept session begins with
 * each connection, and the asking connection's own is its leader's only),
 * without their reply tables (a client acknowledges answers in reads too,
 * which no command carries: only the member it talks to drops them). */
int sess_save_holding(registry *reg, vbuf *out);

/* Adds the entries of what sess_save wrote, taking no references (the
 * objects' saved counts hold them already). Returns 0, or -1 with err
 * filled when the blob is not one sess_save writes or memory runs out. */
int sess_load(registry *reg, sm_span saved, char *err, size_t errlen);

/* Makes session sid a kept session (see above) whose resume must name
 * key, attached to a connection of this run unless attached is false (a
 * replay). An entry it has already becomes kept. Returns 0, or -1 when out
 * of memory. */
int sess_begin(registry *reg, uint64_t sid, uint64_t key, bool attached);

/* A connection takes over kept session sid of an earlier run (a resume),
 * naming its key. Returns 0, or -1 with why filled (whylen bytes) when sid
 * is not a kept session (it ended, or never was one), key is not its key,
 * or it is attached to a live connection already. */
int sess_attach(registry *reg, uint64_t sid, uint64_t key, char *why, size_t whylen);

/* True when sid is a kept session (its mutating calls' answers are kept). */
bool sess_kept(registry *reg, uint64_t sid);

/* The kept answer of sid's call seq: true with its *status, *result
 * borrowed (valid until the table changes): the result when OK or
 * OWNER_DEAD (a grant; empty: nil), else the error text; and *token, a
 * grant's fencing token (0: none); false when there is none. */
bool sess_reply_find(registry *reg, uint64_t sid, uint64_t seq, int *status, sm_span *result,
                     uint64_t *token);

/* Keeps result as the answer of sid's call seq (a kept session only, and
 * seq above what the client acknowledged). Returns 0, or -1 when out of
 * memory. */
int sess_reply_keep(registry *reg, uint64_t sid, uint64_t seq, sm_span result);

/* The same for a grant (a lock, rlock or semaphore acquire): its result,
 * its fencing token, and whether it answered OWNER_DEAD (the last holder
 * died holding it), all given back to a resend. */
int sess_reply_keep_grant(registry *reg, uint64_t sid, uint64_t seq, sm_span result, uint64_t token,
                          bool owner_dead);

/* The same for an answer that is not OK, with its error text: a call
 * applied whose outcome is an error decided later (a barrier wait whose
 * round failed answers BROKEN). */
int sess_reply_keep_status(registry *reg, uint64_t sid, uint64_t seq, int status, sm_span text);

/* What a request finds of its session before it runs (dispatch.c): all
 * its exactly-once checks from one look-up. */
typedef struct sess_request {
  bool kept;      /* sid is a kept session */
  bool answered;  /* seq has a kept answer (a resend): status, result, token */
  int status;     /* as sess_reply_find's */
  sm_span result; /* borrowed, valid until the table changes */
  uint64_t token; /* a grant's fencing token (0: none) */
  uint64_t acked; /* the highest seq the client acknowledged, ack included */
  size_t replies; /* answers kept for it, after the ack */
} sess_request;

/* For a request of session sid with seq and ack (0: none): when sid is
 * kept and seq is not 0, drops the answers up to ack (as sess_ack) and
 * looks seq's answer up (as sess_reply_find); fills *out either way
 * (session 0, or one without an entry: all zero). */
void sess_request_begin(registry *reg, uint64_t sid, uint64_t seq, uint64_t ack, sess_request *out);

/* The client of sid has every answer up to seq ack: those go. */
void sess_ack(registry *reg, uint64_t sid, uint64_t ack);

/* The highest seq sid's client acknowledged, and how many answers are
 * kept for it. */
uint64_t sess_acked(registry *reg, uint64_t sid);
size_t sess_reply_count(registry *reg, uint64_t sid);

/* Calls fn for every session of the table whose id is below the run's
 * first id and that no connection of this run took over: one of an
 * earlier run, suspended until it is resumed or its time runs out. */
void sess_each_orphan(registry *reg, void (*fn)(void *ctx, uint64_t sid), void *ctx);

#endif
