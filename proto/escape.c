/* SPDX-License-Identifier: MIT */
/* escape.c - safe one-line rendering of untrusted bytes (see escape.h).
 *
 * The input is cut into pieces: one ASCII byte, or one whole
 * UTF-8 sequence when it is well-formed (shortest form, no surrogate, at
 * most U+10FFFF) and not a code point that acts as a control; whatever is
 * left becomes \xNN escapes, one per byte. */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n, uint32_t *cp) {
  size_t len;
  uint32_t min;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) {
    len = 2, min = 0x80, *cp = p[0] & 0x1fu;
  } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
    len = 3, min = 0x800, *cp = p[0] & 0x0fu;
  } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
    len = 4, min = 0x10000, *cp = p[0] & 0x07u;
  } else {
    return 0;
  }
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (p[i] & 0x3fu);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return len;
}

/* Code points that are well-formed but act on the display: C1 controls,
 * line and paragraph separators, bidirectional marks, embeddings,
 * overrides and isolates ("Trojan Source"). */
static bool is_format_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c;
}

/* The escape for an ASCII control or backslash, or NULL for a byte that
 * prints as itself. hex receives \xNN forms. */
static const char *ascii_escape(uint8_t b, char hex[5]) {
  switch (b) {
  case '\\': return "\\\\";
  case '\n': return "\\n";
  case '\r': return "\\r";
  case '\t': return "\\t";
  case 0x1b: return "\\e";
  default: break;
  }
  if (b >= 0x20 && b < 0x7f) return NULL;
  snprintf(hex, 5, "\\x%02x", b);
  return hex;
}

/* The rendering of the input piece at p[i]: a pointer to its text (into
 * the input, a constant, or buf) with its length in *plen, and the input
 * bytes it covers in *step. */
static const char *piece_at(const uint8_t *p, size_t len, size_t i, char buf[5], size_t *plen,
                            size_t *step) {
  uint32_t cp = 0;
  size_t ulen = p[i] >= 0x80 ? utf8_len(p + i, len - i, &cp) : 0;
  *step = 1;
  if (ulen > 0 && !is_format_control(cp)) {
    *plen = *step = ulen;
    return (const char *)p + i;
  }
  const char *piece;
  if (p[i] >= 0x80) { /* invalid UTF-8, or a control code point */
    snprintf(buf, 5, "\\x%02x", p[i]);
    piece = buf;
  } else if (!(piece = ascii_escape(p[i], buf))) { /* prints as itself */
    *plen = 1;
    return (const char *)p + i;
  }
  *plen = strlen(piece);
  return piece;
}

size_t esc_render(char *dst, size_t dstlen, const void *src, size_t len) {
  const uint8_t *p = src;
  char buf[5];
  size_t need = 0, plen, step;
  for (size_t i = 0; i < len; i += step) {
    piece_at(p, len, i, buf, &plen, &step);
    need += plen;
  }
  if (dstlen == 0) return need;
  /* When it does not all fit, stop at a piece boundary that leaves room
   * for "..." (if even that fits). */
  size_t room = dstlen - 1, limit = need <= room ? room : (room >= 3 ? room - 3 : room);
  size_t out = 0;
  for (size_t i = 0; i < len; i += step) {
    const char *piece = piece_at(p, len, i, buf, &plen, &step);
    if (out + plen > limit) break;
    memcpy(dst + out, piece, plen);
    out += plen;
  }
  if (need > room && room >= 3) {
    memcpy(dst + out, "...", 3);
    out += 3;
  }
  dst[out] = '\0';
  return need;
}

char *esc_dup(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  size_t need = esc_render(NULL, 0, s, n);
  char *r = malloc(need + 1);
  if (r) esc_render(r, need + 1, s, n);
  return r;
}
