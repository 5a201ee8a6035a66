/* SPDX-License-Identifier: MIT */
/* cli_out.h - how the `statemgr` CLI prints values: the unambiguous plain
 * text and the --json documents (cli_out.c). */
#ifndef SM_CLI_OUT_H
#define SM_CLI_OUT_H

#include "statemgr.h"

#include <stdbool.h>
#include <stdio.h>

/* True when s is an integer literal as the CLI reads arguments: optional
 * '-', then "0" or digits not starting with 0 ("007" stays a string). */
bool out_is_int_literal(const char *s);

/* True when s is a decimal literal: an optional '-', digits with a '.'
 * and/or an exponent ("1.5", "-.5", "2e3"). */
bool out_is_decimal_literal(const char *s);

/* The plain text of v: as sm_value_to_text(), except that a top-level
 * string that would read as another type (7, 1.5, True, None, '', a
 * quoted or bracketed text, a control character...) is quoted the way
 * strings are quoted inside lists ('7'). Returns a new string (caller frees
 * with free()), or NULL when out of memory. */
char *out_plain(const sm_value *v);

/* out_plain() for a key printed before ": " (items): a string key holding
 * ": " is quoted too, so the first ": " outside quotes ends the key. */
char *out_plain_key(const sm_value *key);

/* Writes v to f as one JSON value (no newline): nil null, bools, ints and
 * finite doubles as JSON literals (a double keeps its ".0"), a non-finite
 * double as {"$double": "nan"}, strings as JSON strings (invalid UTF-8
 * bytes become U+FFFD), bytes as {"$bytes": "<base64>"}, lists as arrays,
 * maps as objects when every key is a string not starting with '$', else
 * as {"$map": [[key, value], ...]}, refs as {"$ref": ID, "type": "T"}.
 * Returns 0, or SM_ENOMEM. */
int out_json(FILE *f, const sm_value *v);

/* Prints v and a newline to stdout, as JSON or as plain text. Returns 0,
 * or SM_ENOMEM. */
int out_value(const sm_value *v, bool json);

#endif
