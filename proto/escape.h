/* SPDX-License-Identifier: MIT */
/* escape.h - rendering untrusted bytes (object names, client names, peer
 * certificate subjects) so that they can be printed on one line of a log
 * or a terminal table without forging lines or driving the terminal.
 *
 * Printable ASCII and well-formed UTF-8 pass through; everything else gets
 * a backslash escape: \\ for a backslash, \n \r \t \e for those controls,
 * and \xNN for other C0 controls, DEL, bytes of invalid UTF-8, and the
 * code points a terminal or an editor treats as controls even when
 * well-formed (C1 controls U+0080..U+009F, line and paragraph separators,
 * bidirectional overrides and isolates). The result holds no byte below
 * 0x20 and no DEL, and escaping is reversible, so "a\nb" and the four
 * characters a \ n b stay distinguishable. */
#ifndef SM_PROTO_ESCAPE_H
#define SM_PROTO_ESCAPE_H

#include <stddef.h>

/* Renders the len bytes at src into dst (dstlen bytes, always
 * NUL-terminated when dstlen > 0). An escape is never cut in half: when the
 * room runs out the text ends early, with "..." when it fits. Returns the
 * length the whole rendering needs (excluding the NUL), so a result >=
 * dstlen means it was cut. */
size_t esc_render(char *dst, size_t dstlen, const void *src, size_t len);

/* The rendering of the NUL-terminated string s (NULL renders as ""), in a
 * new string: the caller frees it with free(). NULL when out of memory. */
char *esc_dup(const char *s);

#endif
