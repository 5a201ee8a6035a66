/* SPDX-License-Identifier: MIT */
/* cmd.h - the command stream: every change to the registry as one record,
 * in the order it was applied, and the replay of those records.
 *
 * A command is what a change needs to be made again, deterministically, on
 * a registry in the same state: a client's mutating call (its session, the
 * object, the method, the arguments, the time), or a decision the daemon
 * made by itself (a parked call served: logged as the same call made
 * without waiting, by the waiter's session; a deadline that changes state;
 * a session ending; the start of a run's ids). Replaying the records of a
 * run on the snapshot it started from yields the same objects, the same
 * ids and the same owners. Apply reads no clock and draws no random
 * number: what depends on time comes in the command.
 *
 * The live daemon hands each record to a sink right after applying it
 * (persist.c appends it to the log, replication ships it); with no sink
 * (in memory, unit tests) nothing is encoded. */
#ifndef SM_SERVER_CMD_H
#define SM_SERVER_CMD_H

#include "../proto/vwire.h"
#include "blocked.h"
#include "registry.h"

#include <stddef.h>
#include <stdint.h>

/* Receives one encoded record (borrowed for the call), with two of its
 * fields, so that the sink need not decode what was just encoded: its
 * kind (CMD_CALL...) and the object it names (0: none; CMD_NO_OBJECT for
 * the end of a session that held no object); o is that object when the
 * caller had it at hand (a client's call), else NULL: the sink looks it
 * up if it needs it. */
typedef void (*cmd_sink_fn)(void *ctx, const uint8_t *rec, size_t len, int kind, uint64_t object,
                            sm_obj *o);

/* Sets where reg's records go; fn NULL: nowhere. */
void cmd_set_sink(registry *reg, cmd_sink_fn fn, void *ctx);

/* True when a sink is set (callers skip building records otherwise). */
bool cmd_logging(const registry *reg);

/* Applies one record read back from the log (recovery): no connection,
 * nothing answered. Returns 0, or -1 with err filled when the record is
 * not a command this daemon knows or does not apply to this state (the
 * log and the snapshot disagree: recovery stops). */
int cmd_replay(registry *reg, const uint8_t *rec, size_t len, char *err, size_t errlen);

/* Logs and applies the start of a run's ids (reg_begin_ids), so that a
 * replay gives later creates the ids they had. */
void cmd_begin_ids(registry *reg, uint64_t first);

/* Logs and applies the start of a kept session (session.h: a protocol-3
 * client of a durable daemon, which may resume it after a restart naming
 * key), made by a connection of this run. Returns 0, or -1 when out of
 * memory. */
int cmd_begin_session(registry *reg, uint64_t session, uint64_t key, int64_t now_ms);

/* Logs and applies the end of a session: its parked calls are dropped
 * and what it held is given back (the connection closed, or a session
 * of an earlier run was not resumed in time). */
void cmd_end_session(registry *reg, uint64_t session, int64_t now_ms);

/* The sessions table, then the revisions of watched objects (watch.h), as
 * one blob for the snapshot (a snap_extra_fn), and back (a blob of an older
 * daemon holds the sessions only). cmd_sessions_load takes no references: the objects' saved counts
 * already hold the sessions' ones. */
int cmd_sessions_save(void *reg, vbuf *out);
int cmd_sessions_load(registry *reg, const uint8_t *data, size_t len, char *err, size_t errlen);

/* Calls fn for every session in the table that no connection has now
 * (after recovery: the clients of the earlier run), to suspend them. */
void cmd_each_orphan(registry *reg, void (*fn)(void *ctx, uint64_t session), void *ctx);

/* ---- inside the server: the logging points and the record's parts ---- */

/* The object field of an END_SESSION record whose session held no object
 * (written as -1): its end shows in no answer. */
#define CMD_NO_OBJECT UINT64_MAX

/* The kinds of record: the first field of each. */
enum {
  CMD_CALL = 1,
  CMD_END_SESSION = 2,
  CMD_BEGIN_IDS = 3,
  CMD_BEGIN_SESSION = 4,
  CMD_NEXT_ID = 5
};

/* The command state of a registry, embedded in it (registry.c) and kept by
 * cmd.c alone. Zero-initialised: no sink. */
typedef struct cmd_state {
  cmd_sink_fn sink; /* NULL: nothing is encoded */
  void *ctx;
  vbuf rec;       /* the record being encoded (reused) */
  bool replaying; /* cmd_replay is applying a record: log nothing again */
  bool timed;     /* a live change is being applied (cmd_clock_begin) */
  bool now_read;  /* timed: now_ms was read for it */
  int64_t now_ms; /* the time of the change being applied: the record's in a replay */
} cmd_state;

/* Objects of a type without a save hook (a custom type without serialize
 * callbacks) are kept in memory only: neither they nor calls on them are
 * logged (a call on an object: its type's save hook says). cmd_kept_manager_call
 * says whether a manager call (create/create_with/open/release/delete/
 * expire/persist naming such a
 * type or object) is about state the daemon keeps; looked at before the
 * call runs, since a release or delete may free its object. */
bool cmd_kept_manager_call(const registry *reg, const char *method, const sm_span *args,
                           size_t nargs);

/* A kept call may not store a reference to an object kept in memory only
 * (the reference would outlive it across a restart): WS_TYPE_ERROR with
 * err filled, else WS_OK. Only while logging. */
int cmd_check_refs_kept(const registry *reg, const sm_span *args, const unsigned *arg_flags,
                        size_t nargs, char *err, size_t errlen);

/* A call that was not logged (kept in memory only) gave out object ids:
 * logs where the ids go on (CMD_NEXT_ID), so the creates logged after it
 * get theirs in a replay. */
void cmd_log_next_id(registry *reg);

/* Frees what the state holds (with the registry). */
void cmd_fini(cmd_state *st);

/* True while cmd_replay applies a record: the only time dispatch lets a
 * METHOD_INTERNAL method run. */
bool cmd_replaying(const registry *reg);

/* The wall clock in milliseconds since the epoch, as records carry it (read
 * when a record is made, never while one is applied). */
int64_t cmd_now_ms(void);

/* The time of the change being applied, in ms since the epoch, for the
 * methods whose effect depends on it (a TTL's deadline is that time plus
 * its length): in a replay the record's time; live, between
 * cmd_clock_begin and cmd_clock_end (dispatch puts them around each call;
 * the daemon's own decisions, such as an expiry, around theirs), the clock
 * read the first time it is asked, then the same value, which the records
 * logged meanwhile carry too. Outside both, the clock. */
int64_t cmd_time(const registry *reg);

/* Starts and ends a live change whose time cmd_time gives (see above); a
 * no-op in a replay. */
void cmd_clock_begin(registry *reg);
void cmd_clock_end(registry *reg);

/* Logs a CALL record: session called method on object (0: the manager)
 * with the packed arguments args[0..nargs), and it answered OK without
 * waiting (a parked call being served is logged this way, by the
 * waiter's session, when it is served). A no-op without a sink. */
void cmd_log_call(registry *reg, uint64_t session, uint64_t object, const char *method,
                  const sm_span *args, size_t nargs);

/* As cmd_log_call, for a client's request seq that came with ack: a kept
 * session's record carries both (its reply table is rebuilt by a replay). */
void cmd_log_request(registry *reg, uint64_t session, uint64_t seq, uint64_t ack, uint64_t object,
                     const char *method, const sm_span *args, size_t nargs);

/* Logs a client's request req that answered OK (dispatch, once per
 * change a client makes): as cmd_log_request, with req's fencing guard
 * (fence.h; none when req->guard_object is 0), which its replay checks as
 * the live call did. kept: the session is kept (sess_kept, which the
 * caller looked up already): only then are seq and ack logged. o: the
 * object req names, NULL for the manager. */
void cmd_log_client_call(registry *reg, uint64_t session, bool kept, const wire_request *req,
                         sm_obj *o, const sm_span *args, size_t nargs);
/* As cmd_log_call, for parked call w served now, as its session: the
 * record carries w's seq, and the answer w gets next is kept in a kept
 * session's reply table (blk_keep_answer), when the answer a replay of
 * this record recomputes is the one w gets. */
void cmd_log_served(registry *reg, waiter *w, uint64_t object, const char *method,
                    const sm_span *args, size_t nargs);

#endif
