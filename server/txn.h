/* SPDX-License-Identifier: MIT */
/* txn.h - guarded transactions across objects: the manager's "txn" method
 * (etcd's Txn compare/then/else over the daemon's rich objects).
 *
 * txn(conditions, then_ops[, else_ops]) checks every condition, then runs
 * then_ops when all hold, else else_ops, in one turn of the event loop: no
 * other call runs in between. It is one METHOD_MUTATES call of the manager,
 * so the command stream logs it as ONE record and a replay (or a replica)
 * applies it whole, recomputing the same branch from the same state. It is
 * all or nothing: an operation failing fails the call with nothing applied
 * (and nothing logged).
 * docs/protocol.md ("Transactions") gives the wire form; txn.c the rules. */
#ifndef SM_SERVER_TXN_H
#define SM_SERVER_TXN_H

#include "object.h"

/* The manager method txn (manager.c's table). The answer is
 * [succeeded:bool, [[status, value], ...]]: one pair per operation of the
 * branch that ran. */
int txn_m_txn(call *c);

#endif
