/* SPDX-License-Identifier: MIT */
/* vequal.h - one equality, hash and order for values, Python's rules, shared
 * by the daemon (dict keys, list search, compare-and-set, sort) and the
 * client library (sm_value_equal, map keys).
 *
 * It works on packed values (vwire.h), so the daemon compares and hashes the
 * bytes it stores without decoding them, and on a value's top level (vinfo),
 * which is how the client hashes and compares the scalars of its sm_value
 * trees: both sides run the same code for every scalar rule.
 *
 * The rules are Python's:
 *  - bool, int and double compare by numeric value: 1 == 1.0 == True and
 *    0 == -0.0 == False. An int and a double compare exactly, as Python does
 *    (2^53 + 1 does not equal the double 2^53), never by converting the int.
 *  - NaN equals nothing, itself included.
 *  - str never equals bytes; nil equals only nil; refs are equal when they
 *    name the same object id.
 *  - Lists are equal element by element; maps when they hold the same
 *    pairs, in any order.
 *  - Equal values hash alike (veq_hash): hash(1) == hash(1.0) == hash(True).
 *
 * Python looks for an element in a container (dict lookup, list.count, a
 * list or dict compared element by element) with `x is y or x == y`. There
 * is no object identity across the wire; identical packed bytes stand for
 * it (veq_match). The only values this changes are NaNs: a NaN matches a
 * NaN with the very same bits, so a dict key or list item that is a NaN is
 * found by the same NaN, as Python finds math.nan. veq_equal is Python's ==
 * at the top (a NaN is not equal to itself) and matches elements inside.
 *
 * A map never holds two equal keys (Python cannot build one): the daemon
 * refuses such a value with veq_check_keys, and the client merges equal
 * keys as it builds a map.
 *
 * Sorting (veq_compare) orders numbers by value, consistently with
 * equality (a result of 0 means equal, except for NaN, which compares 0
 * against everything, its comparisons being all false in Python), strings
 * with strings and bytes with bytes bytewise; other pairs are not
 * comparable, Python's TypeError. */
#ifndef SM_PROTO_VEQUAL_H
#define SM_PROTO_VEQUAL_H

#include "vwire.h"

#include <stdbool.h>
#include <stdint.h>

/* A random seed drawn once per process, so that clients cannot choose keys
 * that collide; hash tables keyed by plain bytes use it too. */
uint64_t veq_seed(void);

/* The hash of a value given its top level. Lists and maps are not hashable
 * (they cannot be keys); they hash by kind only. */
uint64_t veq_hash_info(const vinfo *v);

/* The hash of a packed value: veq_hash_info of its top level, or a hash of
 * the bytes when they are not a packed value. */
uint64_t veq_hash(sm_span v);

/* Python's == for two top levels that are not lists or maps (a list or map
 * on either side gives false: compare those packed, with veq_equal). */
bool veq_info_equal(const vinfo *a, const vinfo *b);

/* veq_info_equal, or the same double bits (a NaN matches the same NaN). */
bool veq_info_match(const vinfo *a, const vinfo *b);

/* Python's == for two packed values (false when either is not a packed
 * value). Elements of lists and maps are compared with veq_match. */
bool veq_equal(sm_span a, sm_span b);

/* Identical bytes, or veq_equal: the test containers use. */
bool veq_match(sm_span a, sm_span b);

/* Orders two top levels for sorting: <0, 0, >0. Sets *comparable = false
 * (and returns 0) for pairs Python refuses to order: a str against a
 * number, bytes against str, lists, maps, refs. nil orders equal to nil. */
int veq_compare(const vinfo *a, const vinfo *b, bool *comparable);

typedef enum veq_result {
  VEQ_OK = 0,
  VEQ_DUP_KEY = -1, /* some map holds two equal keys */
  VEQ_NOMEM = -2,
} veq_result;

/* Checks that no map inside a scanned value holds two equal keys (1 and
 * 1.0, say). Returns a veq_result. */
int veq_check_keys(sm_span v);

#endif
