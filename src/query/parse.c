/* SQL lexer and recursive-descent parser for one SELECT statement. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_internal.h"

/* ---------------------------------------------------------------- arena */

struct oa_qarena_block {
  oa_qarena_block *next;
  int64_t used, cap;
  _Alignas(16) uint8_t data[];
};

void oa_qarena_init(oa_qarena *a) {
  a->head = NULL;
  a->spare = NULL;
  a->mem = NULL;
  a->what = NULL;
  a->total = 0;
  a->cache = NULL;
}

static void free_blocks(oa_qarena *a, oa_qarena_block *b) {
  while (b) {
    oa_qarena_block *n = b->next;
    oa_qmem_release(a->mem, b->cap);
    oa_qbig_put(a->cache, b, (int64_t)sizeof *b + b->cap);
    b = n;
  }
}

void oa_qarena_reset(oa_qarena *a) {
  free_blocks(a, a->head);
  free_blocks(a, a->spare);
  a->head = a->spare = NULL;
  a->total = 0;
}

void oa_qarena_clear(oa_qarena *a) {
  /* blocks go to the spare list: the next chunk reuses their pages instead
   * of faulting in fresh ones */
  oa_qarena_block *b = a->head;
  while (b) {
    oa_qarena_block *n = b->next;
    b->used = 0;
    b->next = a->spare;
    a->spare = b;
    b = n;
  }
  a->head = NULL;
}

void *oa_qarena_alloc(oa_qarena *a, int64_t size) {
  if (size < 0) return NULL;
  size = (size + 15) & ~(int64_t)15;
  oa_qarena_block *b = a->head;
  if (!b || b->used + size > b->cap) {
    oa_qarena_block *nb = NULL;
    /* a spare block that fits */
    for (oa_qarena_block **pp = &a->spare; *pp; pp = &(*pp)->next)
      if ((*pp)->cap >= size) {
        nb = *pp;
        *pp = nb->next;
        break;
      }
    if (!nb) {
      /* blocks double from 16 KB (small queries stay small, also against
       * a small memory budget); past 256 KB the arena is a big one and takes
       * whole 2 MB huge pages (see oa_qbig_alloc) */
      int64_t dflt = a->total < (1 << 14) ? (1 << 14) : a->total;
      if (dflt > (1 << 18)) dflt = 2 << 20;
      dflt -= (int64_t)sizeof *nb;
      int64_t cap = size > dflt ? size : dflt;
      if (oa_qmem_charge(a->mem, cap, a->what)) return NULL;
      nb = oa_qbig_get(a->cache, sizeof *nb + (size_t)cap);
      if (!nb) {
        oa_qmem_release(a->mem, cap);
        return NULL;
      }
      nb->used = 0;
      nb->cap = cap;
      a->total += cap;
    }
    /* Big requests get their own block behind the current one, so the
     * current block's free space is not wasted. */
    if (b && size > (1 << 18) && b->cap - b->used > (1 << 16)) {
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = b;
      a->head = nb;
    }
    b = nb;
  }
  void *p = b->data + b->used;
  b->used += size;
  return p;
}

void *oa_qarena_calloc(oa_qarena *a, int64_t size) {
  void *p = oa_qarena_alloc(a, size);
  if (p) memset(p, 0, (size_t)size);
  return p;
}

int oa_qerr(oa_error *err, int line, int col, const char *fmt, ...) {
  if (err) {
    int n = snprintf(err->message, sizeof err->message,
                     "SQL error at %d:%d: ", line, col);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof err->message) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return EINVAL;
}

/* ---------------------------------------------------------------- lexer */

typedef struct qparser {
  const char *p, *end;
  int line;
  const char *line_start;
  oa_qtok tok; /* current token */
  oa_qarena *arena;
  oa_error *err;
  int depth;
} qparser;

#define MAX_DEPTH 200

static int lex(qparser *ps) {
  oa_qtok *t = &ps->tok;
  for (;;) {
    while (ps->p < ps->end && isspace((unsigned char)*ps->p)) {
      if (*ps->p == '\n') {
        ps->line++;
        ps->line_start = ps->p + 1;
      }
      ps->p++;
    }
    if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] == '-') {
      while (ps->p < ps->end && *ps->p != '\n')
        ps->p++;
      continue;
    }
    if (ps->end - ps->p >= 2 && ps->p[0] == '/' && ps->p[1] == '*') {
      int line = ps->line, col = (int)(ps->p - ps->line_start) + 1;
      ps->p += 2;
      for (;;) {
        if (ps->p >= ps->end)
          return oa_qerr(ps->err, line, col, "unterminated comment");
        if (ps->end - ps->p >= 2 && ps->p[0] == '*' && ps->p[1] == '/') {
          ps->p += 2;
          break;
        }
        if (*ps->p == '\n') {
          ps->line++;
          ps->line_start = ps->p + 1;
        }
        ps->p++;
      }
      continue;
    }
    break;
  }
  memset(t, 0, sizeof *t);
  t->start = ps->p;
  t->line = ps->line;
  t->col = (int32_t)(ps->p - ps->line_start) + 1;
  if (ps->p >= ps->end) {
    t->kind = OA_TK_EOF;
    return 0;
  }
  const char *s = ps->p;
  unsigned char c = (unsigned char)*s;
  if ((c == 'x' || c == 'X') && ps->end - s >= 2 && s[1] == '\'') {
    const char *q = s + 2;
    while (q < ps->end && *q != '\'')
      q++;
    if (q >= ps->end)
      return oa_qerr(ps->err, t->line, t->col, "unterminated hex string");
    t->kind = OA_TK_HEXSTRING;
    t->start = s + 2;
    t->len = (int32_t)(q - s - 2);
    ps->p = q + 1;
    return 0;
  }
  if (isalpha(c) || c == '_') {
    const char *q = s;
    while (q < ps->end && (isalnum((unsigned char)*q) || *q == '_'))
      q++;
    t->kind = OA_TK_IDENT;
    t->len = (int32_t)(q - s);
    ps->p = q;
    return 0;
  }
  if (isdigit(c) ||
      (c == '.' && ps->end - s >= 2 && isdigit((unsigned char)s[1]))) {
    const char *q = s;
    bool flt = false;
    while (q < ps->end && isdigit((unsigned char)*q))
      q++;
    if (q < ps->end && *q == '.') {
      flt = true;
      q++;
      while (q < ps->end && isdigit((unsigned char)*q))
        q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
      const char *r = q + 1;
      if (r < ps->end && (*r == '+' || *r == '-')) r++;
      if (r < ps->end && isdigit((unsigned char)*r)) {
        flt = true;
        q = r;
        while (q < ps->end && isdigit((unsigned char)*q))
          q++;
      }
    }
    if (q < ps->end && (isalpha((unsigned char)*q) || *q == '_'))
      return oa_qerr(ps->err, t->line, t->col, "bad number '%.*s'",
                     (int)(q - s + 1), s);
    t->kind = flt ? OA_TK_FLOAT : OA_TK_INT;
    t->len = (int32_t)(q - s);
    ps->p = q;
    return 0;
  }
  if (c == '\'' || c == '"') {
    const char *q = s + 1;
    for (;;) {
      if (q >= ps->end)
        return oa_qerr(ps->err, t->line, t->col, "unterminated %s",
                       c == '\'' ? "string" : "quoted identifier");
      if (*q == (char)c) {
        if (q + 1 < ps->end && q[1] == (char)c) {
          q += 2;
          continue;
        }
        break;
      }
      if (*q == '\n') {
        ps->line++;
        ps->line_start = q + 1;
      }
      q++;
    }
    t->kind = c == '\'' ? OA_TK_STRING : OA_TK_QIDENT;
    t->start = s + 1;
    t->len = (int32_t)(q - s - 1);
    ps->p = q + 1;
    return 0;
  }
  static const char *const ops2[] = {"<=", ">=", "<>", "!=", "==", "||", "::"};
  for (size_t i = 0; i < sizeof ops2 / sizeof ops2[0]; i++) {
    if (ps->end - s >= 2 && s[0] == ops2[i][0] && s[1] == ops2[i][1]) {
      t->kind = OA_TK_OP;
      memcpy(t->op, ops2[i], 2);
      t->len = 2;
      ps->p += 2;
      return 0;
    }
  }
  if (strchr("+-*/%=<>(),.[];", c) && c) {
    t->kind = OA_TK_OP;
    t->op[0] = (char)c;
    t->len = 1;
    ps->p++;
    return 0;
  }
  if (c >= 0x20 && c < 0x7f)
    return oa_qerr(ps->err, t->line, t->col, "unexpected character '%c'", c);
  return oa_qerr(ps->err, t->line, t->col, "unexpected byte 0x%02x", c);
}

/* ---------------------------------------------------------------- parser */

static bool tok_is_kw(const oa_qtok *t, const char *kw) {
  size_t n = strlen(kw);
  return t->kind == OA_TK_IDENT && (size_t)t->len == n &&
         strncasecmp(t->start, kw, n) == 0;
}
static bool tok_is_op(const oa_qtok *t, const char *op) {
  return t->kind == OA_TK_OP && strcmp(t->op, op) == 0;
}

static const char *const reserved[] = {
    "select", "from",   "where", "group",   "by",   "having",   "order",
    "limit",  "offset", "and",   "or",      "not",  "as",       "asc",
    "desc",   "nulls",  "in",    "between", "like", "is",       "null",
    "case",   "when",   "then",  "else",    "end",  "distinct", "true",
    "false",  "on",     "join",  "union",   "ilike"};

static bool is_reserved(const oa_qtok *t) {
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (tok_is_kw(t, reserved[i])) return true;
  return false;
}

static int tok_desc(const oa_qtok *t, char *buf, size_t cap) {
  if (t->kind == OA_TK_EOF) return snprintf(buf, cap, "end of input");
  int len = t->len > 40 ? 40 : t->len;
  if (t->kind == OA_TK_STRING)
    return snprintf(buf, cap, "'%.*s'", len, t->start);
  return snprintf(buf, cap, "'%.*s'", len, t->start);
}

static int unexpected(qparser *ps, const char *what) {
  char d[64];
  tok_desc(&ps->tok, d, sizeof d);
  return oa_qerr(ps->err, ps->tok.line, ps->tok.col, "expected %s, found %s",
                 what, d);
}

static int expect_op(qparser *ps, const char *op) {
  if (!tok_is_op(&ps->tok, op)) {
    char w[16];
    snprintf(w, sizeof w, "'%s'", op);
    return unexpected(ps, w);
  }
  return lex(ps);
}

static int expect_kw(qparser *ps, const char *kw) {
  if (!tok_is_kw(&ps->tok, kw)) {
    char w[32];
    snprintf(w, sizeof w, "%s", kw);
    for (char *q = w; *q; q++)
      *q = (char)toupper((unsigned char)*q);
    return unexpected(ps, w);
  }
  return lex(ps);
}

static oa_qnode *new_node(qparser *ps, oa_qnode_kind kind, const oa_qtok *at) {
  oa_qnode *n = oa_qarena_calloc(ps->arena, sizeof *n);
  if (!n) return NULL;
  n->kind = kind;
  n->line = at->line;
  n->col = at->col;
  n->column = -1;
  return n;
}

#define NEW(var, kind, at)                                                     \
  do {                                                                         \
    (var) = new_node(ps, (kind), (at));                                        \
    if (!(var)) return oa_error_set(ps->err, ENOMEM, "out of memory");         \
  } while (0)

static int parse_expr(qparser *ps, oa_qnode **out);

/* Unescapes '' (or "") in a quoted token into the arena. */
static int tok_text(qparser *ps, const oa_qtok *t, oa_qstr *out) {
  char q = t->kind == OA_TK_QIDENT ? '"' : '\'';
  uint8_t *buf = oa_qarena_alloc(ps->arena, t->len + 1);
  if (!buf) return oa_error_set(ps->err, ENOMEM, "out of memory");
  int64_t n = 0;
  for (int32_t i = 0; i < t->len; i++) {
    buf[n++] = (uint8_t)t->start[i];
    if (t->start[i] == q && i + 1 < t->len && t->start[i + 1] == q) i++;
  }
  buf[n] = 0;
  out->p = buf;
  out->len = n;
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_args(qparser *ps, oa_qnode *fn) {
  /* current token is after '(' */
  oa_qnode *tmp[64];
  int32_t n = 0;
  if (!tok_is_op(&ps->tok, ")")) {
    for (;;) {
      if (n >= 64)
        return oa_qerr(ps->err, ps->tok.line, ps->tok.col,
                       "too many arguments");
      OA_RETURN_NOT_OK(parse_expr(ps, &tmp[n]));
      n++;
      if (tok_is_op(&ps->tok, ",")) {
        OA_RETURN_NOT_OK(lex(ps));
        continue;
      }
      break;
    }
  }
  OA_RETURN_NOT_OK(expect_op(ps, ")"));
  fn->args = oa_qarena_alloc(ps->arena, (int64_t)sizeof(oa_qnode *) * (n + 1));
  if (!fn->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
  memcpy(fn->args, tmp, sizeof(oa_qnode *) * (size_t)n);
  fn->n_args = n;
  return 0;
}

static int parse_primary(qparser *ps, oa_qnode **out) {
  oa_qtok t = ps->tok;
  oa_qnode *n;
  switch (t.kind) {
  case OA_TK_INT:
  case OA_TK_FLOAT: {
    NEW(n, OA_N_LIT, &t);
    char buf[64];
    if (t.len >= (int32_t)sizeof buf)
      return oa_qerr(ps->err, t.line, t.col, "number too long");
    memcpy(buf, t.start, (size_t)t.len);
    buf[t.len] = 0;
    if (t.kind == OA_TK_INT) {
      errno = 0;
      char *e;
      unsigned long long v = strtoull(buf, &e, 10);
      if (errno || v > (unsigned long long)INT64_MAX) {
        n->lit_type = OA_Q_DOUBLE;
        n->lit_d = strtod(buf, NULL);
      } else {
        n->lit_type = OA_Q_INT;
        n->lit_i = (int64_t)v;
      }
    } else {
      n->lit_type = OA_Q_DOUBLE;
      n->lit_d = strtod(buf, NULL);
    }
    *out = n;
    return lex(ps);
  }
  case OA_TK_STRING:
    NEW(n, OA_N_LIT, &t);
    n->lit_type = OA_Q_STR;
    OA_RETURN_NOT_OK(tok_text(ps, &t, &n->lit_s));
    *out = n;
    return lex(ps);
  case OA_TK_HEXSTRING: {
    NEW(n, OA_N_LIT, &t);
    if (t.len % 2)
      return oa_qerr(ps->err, t.line, t.col,
                     "hex literal has an odd number of digits (%d)", t.len);
    uint8_t *b = oa_qarena_alloc(ps->arena, t.len / 2 + 1);
    if (!b) return oa_error_set(ps->err, ENOMEM, "out of memory");
    for (int32_t i = 0; i < t.len; i += 2) {
      int hi = hexval(t.start[i]), lo = hexval(t.start[i + 1]);
      if (hi < 0 || lo < 0)
        return oa_qerr(ps->err, t.line, t.col + 2 + i,
                       "bad hex digit in X'' literal");
      b[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    n->lit_type = OA_Q_BIN;
    n->lit_s.p = b;
    n->lit_s.len = t.len / 2;
    *out = n;
    return lex(ps);
  }
  case OA_TK_QIDENT:
    NEW(n, OA_N_COL, &t);
    {
      oa_qstr s;
      OA_RETURN_NOT_OK(tok_text(ps, &t, &s));
      n->name = (const char *)s.p;
      n->name_len = (int32_t)s.len;
    }
    *out = n;
    return lex(ps);
  case OA_TK_OP:
    if (tok_is_op(&t, "(")) {
      OA_RETURN_NOT_OK(lex(ps));
      OA_RETURN_NOT_OK(parse_expr(ps, out));
      return expect_op(ps, ")");
    }
    if (tok_is_op(&t, "*")) {
      NEW(n, OA_N_STAR, &t);
      *out = n;
      return lex(ps);
    }
    return unexpected(ps, "an expression");
  case OA_TK_IDENT:
    break;
  default:
    return unexpected(ps, "an expression");
  }
  /* identifiers and keywords */
  if (tok_is_kw(&t, "null") || tok_is_kw(&t, "true") ||
      tok_is_kw(&t, "false")) {
    NEW(n, OA_N_LIT, &t);
    if (tok_is_kw(&t, "null")) {
      n->lit_type = OA_Q_NULL;
      n->lit_null = true;
    } else {
      n->lit_type = OA_Q_BOOL;
      n->lit_i = tok_is_kw(&t, "true");
    }
    *out = n;
    return lex(ps);
  }
  if (tok_is_kw(&t, "timestamp") || tok_is_kw(&t, "interval") ||
      tok_is_kw(&t, "date")) {
    OA_RETURN_NOT_OK(lex(ps));
    if (ps->tok.kind == OA_TK_STRING) {
      /* a typed literal: bound (parsed) later, keeping the position */
      NEW(n, OA_N_CAST, &t);
      n->name = t.start;
      n->name_len = t.len;
      oa_qnode *lit;
      NEW(lit, OA_N_LIT, &ps->tok);
      lit->lit_type = OA_Q_STR;
      OA_RETURN_NOT_OK(tok_text(ps, &ps->tok, &lit->lit_s));
      n->args = oa_qarena_alloc(ps->arena, sizeof(oa_qnode *));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = lit;
      n->n_args = 1;
      *out = n;
      return lex(ps);
    }
    /* otherwise a column named timestamp/interval/date */
    NEW(n, OA_N_COL, &t);
    n->name = t.start;
    n->name_len = t.len;
    *out = n;
    return 0;
  }
  if (tok_is_kw(&t, "case")) {
    NEW(n, OA_N_CASE, &t);
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *tmp[130];
    int32_t k = 0;
    oa_qnode *operand = NULL;
    if (!tok_is_kw(&ps->tok, "when"))
      OA_RETURN_NOT_OK(parse_expr(ps, &operand));
    while (tok_is_kw(&ps->tok, "when")) {
      if (k >= 128)
        return oa_qerr(ps->err, ps->tok.line, ps->tok.col,
                       "too many WHEN branches");
      OA_RETURN_NOT_OK(lex(ps));
      oa_qnode *cond;
      oa_qtok at = ps->tok;
      OA_RETURN_NOT_OK(parse_expr(ps, &cond));
      if (operand) {
        oa_qnode *eq;
        NEW(eq, OA_N_BINARY, &at);
        strcpy(eq->op, "=");
        eq->args = oa_qarena_alloc(ps->arena, 2 * sizeof(oa_qnode *));
        if (!eq->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
        eq->args[0] = operand;
        eq->args[1] = cond;
        eq->n_args = 2;
        cond = eq;
      }
      OA_RETURN_NOT_OK(expect_kw(ps, "then"));
      oa_qnode *val;
      OA_RETURN_NOT_OK(parse_expr(ps, &val));
      tmp[k++] = cond;
      tmp[k++] = val;
    }
    if (k == 0) return unexpected(ps, "WHEN");
    if (tok_is_kw(&ps->tok, "else")) {
      OA_RETURN_NOT_OK(lex(ps));
      OA_RETURN_NOT_OK(parse_expr(ps, &tmp[k]));
      k++;
    }
    OA_RETURN_NOT_OK(expect_kw(ps, "end"));
    n->args = oa_qarena_alloc(ps->arena, (int64_t)sizeof(oa_qnode *) * k);
    if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
    memcpy(n->args, tmp, sizeof(oa_qnode *) * (size_t)k);
    n->n_args = k;
    *out = n;
    return 0;
  }
  if (tok_is_kw(&t, "cast")) {
    OA_RETURN_NOT_OK(lex(ps));
    OA_RETURN_NOT_OK(expect_op(ps, "("));
    NEW(n, OA_N_CAST, &t);
    n->args = oa_qarena_alloc(ps->arena, sizeof(oa_qnode *));
    if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
    OA_RETURN_NOT_OK(parse_expr(ps, &n->args[0]));
    n->n_args = 1;
    OA_RETURN_NOT_OK(expect_kw(ps, "as"));
    if (ps->tok.kind != OA_TK_IDENT) return unexpected(ps, "a type name");
    n->name = ps->tok.start;
    n->name_len = ps->tok.len;
    n->line = ps->tok.line;
    n->col = ps->tok.col;
    OA_RETURN_NOT_OK(lex(ps));
    OA_RETURN_NOT_OK(expect_op(ps, ")"));
    *out = n;
    return 0;
  }
  if (is_reserved(&t)) return unexpected(ps, "an expression");
  OA_RETURN_NOT_OK(lex(ps));
  if (tok_is_op(&ps->tok, "(")) {
    NEW(n, OA_N_FUNC, &t);
    n->name = t.start;
    n->name_len = t.len;
    OA_RETURN_NOT_OK(lex(ps));
    if (tok_is_kw(&ps->tok, "distinct")) {
      n->negated = true; /* DISTINCT marker for aggregates */
      OA_RETURN_NOT_OK(lex(ps));
    }
    OA_RETURN_NOT_OK(parse_args(ps, n));
    *out = n;
    return 0;
  }
  NEW(n, OA_N_COL, &t);
  n->name = t.start;
  n->name_len = t.len;
  /* table.column: the table qualifier is dropped (one table per query) */
  if (tok_is_op(&ps->tok, ".")) {
    OA_RETURN_NOT_OK(lex(ps));
    if (ps->tok.kind != OA_TK_IDENT && ps->tok.kind != OA_TK_QIDENT)
      return unexpected(ps, "a column name");
    n->line = ps->tok.line;
    n->col = ps->tok.col;
    if (ps->tok.kind == OA_TK_QIDENT) {
      oa_qstr s;
      OA_RETURN_NOT_OK(tok_text(ps, &ps->tok, &s));
      n->name = (const char *)s.p;
      n->name_len = (int32_t)s.len;
    } else {
      n->name = ps->tok.start;
      n->name_len = ps->tok.len;
    }
    OA_RETURN_NOT_OK(lex(ps));
  }
  *out = n;
  return 0;
}

static int parse_postfix(qparser *ps, oa_qnode **out) {
  OA_RETURN_NOT_OK(parse_primary(ps, out));
  for (;;) {
    if (tok_is_op(&ps->tok, "[")) {
      oa_qnode *n;
      NEW(n, OA_N_INDEX, &ps->tok);
      OA_RETURN_NOT_OK(lex(ps));
      n->args = oa_qarena_alloc(ps->arena, 2 * sizeof(oa_qnode *));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = *out;
      OA_RETURN_NOT_OK(parse_expr(ps, &n->args[1]));
      n->n_args = 2;
      OA_RETURN_NOT_OK(expect_op(ps, "]"));
      *out = n;
    } else if (tok_is_op(&ps->tok, "::")) {
      oa_qnode *n;
      NEW(n, OA_N_CAST, &ps->tok);
      OA_RETURN_NOT_OK(lex(ps));
      if (ps->tok.kind != OA_TK_IDENT) return unexpected(ps, "a type name");
      n->args = oa_qarena_alloc(ps->arena, sizeof(oa_qnode *));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = *out;
      n->n_args = 1;
      n->name = ps->tok.start;
      n->name_len = ps->tok.len;
      n->line = ps->tok.line;
      n->col = ps->tok.col;
      OA_RETURN_NOT_OK(lex(ps));
      *out = n;
    } else {
      return 0;
    }
  }
}

static int make_binary(qparser *ps, const oa_qtok *at, const char *op,
                       oa_qnode *l, oa_qnode *r, oa_qnode **out) {
  oa_qnode *n;
  NEW(n, OA_N_BINARY, at);
  snprintf(n->op, sizeof n->op, "%s", op);
  n->args = oa_qarena_alloc(ps->arena, 2 * sizeof(oa_qnode *));
  if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
  n->args[0] = l;
  n->args[1] = r;
  n->n_args = 2;
  *out = n;
  return 0;
}

static int parse_unary(qparser *ps, oa_qnode **out) {
  if (tok_is_op(&ps->tok, "-") || tok_is_op(&ps->tok, "+")) {
    oa_qtok t = ps->tok;
    if (++ps->depth > MAX_DEPTH)
      return oa_qerr(ps->err, t.line, t.col, "expression nested too deeply");
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *a;
    OA_RETURN_NOT_OK(parse_unary(ps, &a));
    ps->depth--;
    if (t.op[0] == '+') {
      *out = a;
      return 0;
    }
    if (a->kind == OA_N_LIT && a->lit_type == OA_Q_INT) {
      a->lit_i = -a->lit_i;
      *out = a;
      return 0;
    }
    if (a->kind == OA_N_LIT && a->lit_type == OA_Q_DOUBLE) {
      a->lit_d = -a->lit_d;
      *out = a;
      return 0;
    }
    oa_qnode *n;
    NEW(n, OA_N_UNARY, &t);
    strcpy(n->op, "-");
    n->args = oa_qarena_alloc(ps->arena, sizeof(oa_qnode *));
    if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
    n->args[0] = a;
    n->n_args = 1;
    *out = n;
    return 0;
  }
  return parse_postfix(ps, out);
}

static int parse_mul(qparser *ps, oa_qnode **out) {
  OA_RETURN_NOT_OK(parse_unary(ps, out));
  while (tok_is_op(&ps->tok, "*") || tok_is_op(&ps->tok, "/") ||
         tok_is_op(&ps->tok, "%")) {
    oa_qtok t = ps->tok;
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *r;
    OA_RETURN_NOT_OK(parse_unary(ps, &r));
    OA_RETURN_NOT_OK(make_binary(ps, &t, t.op, *out, r, out));
  }
  return 0;
}

static int parse_add(qparser *ps, oa_qnode **out) {
  OA_RETURN_NOT_OK(parse_mul(ps, out));
  while (tok_is_op(&ps->tok, "+") || tok_is_op(&ps->tok, "-") ||
         tok_is_op(&ps->tok, "||")) {
    oa_qtok t = ps->tok;
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *r;
    OA_RETURN_NOT_OK(parse_mul(ps, &r));
    OA_RETURN_NOT_OK(make_binary(ps, &t, t.op, *out, r, out));
  }
  return 0;
}

static int parse_predicate(qparser *ps, oa_qnode **out) {
  OA_RETURN_NOT_OK(parse_add(ps, out));
  for (;;) {
    oa_qtok t = ps->tok;
    static const char *const cmps[] = {
        "=", "==", "<>", "!=", "<", "<=", ">", ">="};
    bool is_cmp = false;
    for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++)
      if (tok_is_op(&t, cmps[i])) is_cmp = true;
    if (is_cmp) {
      OA_RETURN_NOT_OK(lex(ps));
      oa_qnode *r;
      OA_RETURN_NOT_OK(parse_add(ps, &r));
      const char *op = t.op;
      if (!strcmp(op, "==")) op = "=";
      if (!strcmp(op, "!=")) op = "<>";
      OA_RETURN_NOT_OK(make_binary(ps, &t, op, *out, r, out));
      continue;
    }
    if (tok_is_kw(&t, "is")) {
      oa_qnode *n;
      NEW(n, OA_N_ISNULL, &t);
      OA_RETURN_NOT_OK(lex(ps));
      if (tok_is_kw(&ps->tok, "not")) {
        n->negated = true;
        OA_RETURN_NOT_OK(lex(ps));
      }
      OA_RETURN_NOT_OK(expect_kw(ps, "null"));
      n->args = oa_qarena_alloc(ps->arena, sizeof(oa_qnode *));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = *out;
      n->n_args = 1;
      *out = n;
      continue;
    }
    bool neg = false;
    if (tok_is_kw(&t, "not")) {
      /* NOT IN / NOT BETWEEN / NOT LIKE: peek by lexing */
      qparser save = *ps;
      OA_RETURN_NOT_OK(lex(ps));
      if (!tok_is_kw(&ps->tok, "in") && !tok_is_kw(&ps->tok, "between") &&
          !tok_is_kw(&ps->tok, "like") && !tok_is_kw(&ps->tok, "ilike")) {
        *ps = save;
        return 0;
      }
      neg = true;
      t = ps->tok;
    }
    if (tok_is_kw(&t, "in")) {
      oa_qnode *n;
      NEW(n, OA_N_IN, &t);
      n->negated = neg;
      OA_RETURN_NOT_OK(lex(ps));
      OA_RETURN_NOT_OK(expect_op(ps, "("));
      oa_qnode tmp;
      memset(&tmp, 0, sizeof tmp);
      OA_RETURN_NOT_OK(parse_args(ps, &tmp));
      if (tmp.n_args == 0)
        return oa_qerr(ps->err, t.line, t.col, "IN needs at least one value");
      n->args = oa_qarena_alloc(ps->arena,
                                (int64_t)sizeof(oa_qnode *) * (tmp.n_args + 1));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = *out;
      memcpy(n->args + 1, tmp.args, sizeof(oa_qnode *) * (size_t)tmp.n_args);
      n->n_args = tmp.n_args + 1;
      *out = n;
      continue;
    }
    if (tok_is_kw(&t, "between")) {
      oa_qnode *n;
      NEW(n, OA_N_BETWEEN, &t);
      n->negated = neg;
      OA_RETURN_NOT_OK(lex(ps));
      n->args = oa_qarena_alloc(ps->arena, 3 * sizeof(oa_qnode *));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = *out;
      OA_RETURN_NOT_OK(parse_add(ps, &n->args[1]));
      OA_RETURN_NOT_OK(expect_kw(ps, "and"));
      OA_RETURN_NOT_OK(parse_add(ps, &n->args[2]));
      n->n_args = 3;
      *out = n;
      continue;
    }
    if (tok_is_kw(&t, "like") || tok_is_kw(&t, "ilike")) {
      oa_qnode *n;
      NEW(n, OA_N_LIKE, &t);
      n->negated = neg;
      n->fn = tok_is_kw(&t, "ilike");
      OA_RETURN_NOT_OK(lex(ps));
      n->args = oa_qarena_alloc(ps->arena, 2 * sizeof(oa_qnode *));
      if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
      n->args[0] = *out;
      OA_RETURN_NOT_OK(parse_add(ps, &n->args[1]));
      n->n_args = 2;
      *out = n;
      continue;
    }
    return 0;
  }
}

static int parse_not(qparser *ps, oa_qnode **out) {
  if (tok_is_kw(&ps->tok, "not")) {
    oa_qtok t = ps->tok;
    if (++ps->depth > MAX_DEPTH)
      return oa_qerr(ps->err, t.line, t.col, "expression nested too deeply");
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *n;
    NEW(n, OA_N_UNARY, &t);
    strcpy(n->op, "NOT");
    n->args = oa_qarena_alloc(ps->arena, sizeof(oa_qnode *));
    if (!n->args) return oa_error_set(ps->err, ENOMEM, "out of memory");
    OA_RETURN_NOT_OK(parse_not(ps, &n->args[0]));
    n->n_args = 1;
    ps->depth--;
    *out = n;
    return 0;
  }
  return parse_predicate(ps, out);
}

static int parse_and(qparser *ps, oa_qnode **out) {
  OA_RETURN_NOT_OK(parse_not(ps, out));
  while (tok_is_kw(&ps->tok, "and")) {
    oa_qtok t = ps->tok;
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *r;
    OA_RETURN_NOT_OK(parse_not(ps, &r));
    OA_RETURN_NOT_OK(make_binary(ps, &t, "AND", *out, r, out));
  }
  return 0;
}

static int parse_expr(qparser *ps, oa_qnode **out) {
  if (++ps->depth > MAX_DEPTH)
    return oa_qerr(ps->err, ps->tok.line, ps->tok.col,
                   "expression nested too deeply");
  OA_RETURN_NOT_OK(parse_and(ps, out));
  while (tok_is_kw(&ps->tok, "or")) {
    oa_qtok t = ps->tok;
    OA_RETURN_NOT_OK(lex(ps));
    oa_qnode *r;
    OA_RETURN_NOT_OK(parse_and(ps, &r));
    OA_RETURN_NOT_OK(make_binary(ps, &t, "OR", *out, r, out));
  }
  ps->depth--;
  return 0;
}

static int parse_count(qparser *ps, int64_t *out, const char *what) {
  if (ps->tok.kind != OA_TK_INT) {
    char w[64];
    snprintf(w, sizeof w, "a non-negative integer after %s", what);
    return unexpected(ps, w);
  }
  errno = 0;
  char buf[32];
  if (ps->tok.len >= (int32_t)sizeof buf)
    return oa_qerr(ps->err, ps->tok.line, ps->tok.col, "%s too large", what);
  memcpy(buf, ps->tok.start, (size_t)ps->tok.len);
  buf[ps->tok.len] = 0;
  unsigned long long v = strtoull(buf, NULL, 10);
  if (errno || v > (unsigned long long)INT64_MAX)
    return oa_qerr(ps->err, ps->tok.line, ps->tok.col, "%s too large", what);
  *out = (int64_t)v;
  return lex(ps);
}

#define MAX_LIST 1024

/* Offset of the first invalid UTF-8 sequence, or -1: string literals end up
 * in utf8 result columns, which must be valid. */
static int64_t bad_utf8(const uint8_t *s, int64_t n) {
  int64_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int len = c >= 0xF0 && c <= 0xF4  ? 4
              : c >= 0xE0             ? 3
              : c >= 0xC2 && c < 0xE0 ? 2
                                      : 0;
    if (!len || (c >= 0xE0 && c > 0xF4) || i + len > n) return i;
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += len;
  }
  return -1;
}

int oa_qparse(const char *sql, size_t len, oa_qarena *arena, oa_qstmt *st,
              oa_error *err) {
  qparser ps_;
  qparser *ps = &ps_;
  memset(ps, 0, sizeof *ps);
  ps->p = sql;
  ps->end = sql + len;
  ps->line = 1;
  ps->line_start = sql;
  ps->arena = arena;
  ps->err = err;
  memset(st, 0, sizeof *st);
  st->limit = -1;
  int64_t bad = bad_utf8((const uint8_t *)sql, (int64_t)len);
  if (bad >= 0) {
    int line = 1, col = 1;
    for (int64_t i = 0; i < bad; i++) {
      if (sql[i] == '\n') {
        line++;
        col = 1;
      } else if (((uint8_t)sql[i] & 0xC0) != 0x80) {
        col++;
      }
    }
    return oa_qerr(err, line, col, "invalid UTF-8 in the SQL text");
  }
  OA_RETURN_NOT_OK(lex(ps));
  OA_RETURN_NOT_OK(expect_kw(ps, "select"));
  if (tok_is_kw(&ps->tok, "distinct")) {
    st->distinct = true;
    OA_RETURN_NOT_OK(lex(ps));
  } else if (tok_is_kw(&ps->tok, "all")) {
    OA_RETURN_NOT_OK(lex(ps));
  }
  oa_qselect_item items[MAX_LIST];
  int32_t n = 0;
  for (;;) {
    if (n >= MAX_LIST)
      return oa_qerr(err, ps->tok.line, ps->tok.col, "too many select items");
    memset(&items[n], 0, sizeof items[n]);
    OA_RETURN_NOT_OK(parse_expr(ps, &items[n].expr));
    if (tok_is_kw(&ps->tok, "as")) {
      OA_RETURN_NOT_OK(lex(ps));
      if (ps->tok.kind != OA_TK_IDENT && ps->tok.kind != OA_TK_QIDENT &&
          ps->tok.kind != OA_TK_STRING)
        return unexpected(ps, "an alias");
    }
    if ((ps->tok.kind == OA_TK_IDENT && !is_reserved(&ps->tok)) ||
        ps->tok.kind == OA_TK_QIDENT || ps->tok.kind == OA_TK_STRING) {
      if (items[n].expr->kind == OA_N_STAR)
        return oa_qerr(err, ps->tok.line, ps->tok.col,
                       "'*' cannot have an alias");
      if (ps->tok.kind == OA_TK_IDENT) {
        items[n].alias = ps->tok.start;
        items[n].alias_len = ps->tok.len;
      } else {
        oa_qstr s;
        OA_RETURN_NOT_OK(tok_text(ps, &ps->tok, &s));
        items[n].alias = (const char *)s.p;
        items[n].alias_len = (int32_t)s.len;
      }
      OA_RETURN_NOT_OK(lex(ps));
    }
    n++;
    if (!tok_is_op(&ps->tok, ",")) break;
    OA_RETURN_NOT_OK(lex(ps));
  }
  st->items = oa_qarena_alloc(arena, (int64_t)sizeof(oa_qselect_item) * n);
  if (!st->items) return oa_error_set(err, ENOMEM, "out of memory");
  memcpy(st->items, items, sizeof(oa_qselect_item) * (size_t)n);
  st->n_items = n;
  if (tok_is_kw(&ps->tok, "from")) {
    OA_RETURN_NOT_OK(lex(ps));
    if (ps->tok.kind == OA_TK_IDENT && !is_reserved(&ps->tok)) {
      st->table = ps->tok.start;
      st->table_len = ps->tok.len;
    } else if (ps->tok.kind == OA_TK_QIDENT || ps->tok.kind == OA_TK_STRING) {
      oa_qstr s;
      OA_RETURN_NOT_OK(tok_text(ps, &ps->tok, &s));
      st->table = (const char *)s.p;
      st->table_len = (int32_t)s.len;
    } else {
      return unexpected(ps, "a table name");
    }
    st->table_line = ps->tok.line;
    st->table_col = ps->tok.col;
    OA_RETURN_NOT_OK(lex(ps));
    /* optional alias */
    if (tok_is_kw(&ps->tok, "as")) {
      OA_RETURN_NOT_OK(lex(ps));
      if (ps->tok.kind != OA_TK_IDENT) return unexpected(ps, "a table alias");
      OA_RETURN_NOT_OK(lex(ps));
    } else if (ps->tok.kind == OA_TK_IDENT && !is_reserved(&ps->tok)) {
      OA_RETURN_NOT_OK(lex(ps));
    }
  }
  if (tok_is_kw(&ps->tok, "where")) {
    OA_RETURN_NOT_OK(lex(ps));
    OA_RETURN_NOT_OK(parse_expr(ps, &st->where));
  }
  if (tok_is_kw(&ps->tok, "group")) {
    OA_RETURN_NOT_OK(lex(ps));
    OA_RETURN_NOT_OK(expect_kw(ps, "by"));
    oa_qnode *g[MAX_LIST];
    int32_t k = 0;
    for (;;) {
      if (k >= MAX_LIST)
        return oa_qerr(err, ps->tok.line, ps->tok.col,
                       "too many GROUP BY keys");
      OA_RETURN_NOT_OK(parse_expr(ps, &g[k]));
      k++;
      if (!tok_is_op(&ps->tok, ",")) break;
      OA_RETURN_NOT_OK(lex(ps));
    }
    st->group = oa_qarena_alloc(arena, (int64_t)sizeof(oa_qnode *) * k);
    if (!st->group) return oa_error_set(err, ENOMEM, "out of memory");
    memcpy(st->group, g, sizeof(oa_qnode *) * (size_t)k);
    st->n_group = k;
  }
  if (tok_is_kw(&ps->tok, "having")) {
    OA_RETURN_NOT_OK(lex(ps));
    OA_RETURN_NOT_OK(parse_expr(ps, &st->having));
  }
  if (tok_is_kw(&ps->tok, "order")) {
    OA_RETURN_NOT_OK(lex(ps));
    OA_RETURN_NOT_OK(expect_kw(ps, "by"));
    oa_qorder o[MAX_LIST];
    int32_t k = 0;
    for (;;) {
      if (k >= MAX_LIST)
        return oa_qerr(err, ps->tok.line, ps->tok.col,
                       "too many ORDER BY keys");
      memset(&o[k], 0, sizeof o[k]);
      o[k].nulls_first = -1;
      OA_RETURN_NOT_OK(parse_expr(ps, &o[k].expr));
      if (tok_is_kw(&ps->tok, "asc")) {
        OA_RETURN_NOT_OK(lex(ps));
      } else if (tok_is_kw(&ps->tok, "desc")) {
        o[k].desc = true;
        OA_RETURN_NOT_OK(lex(ps));
      }
      if (tok_is_kw(&ps->tok, "nulls")) {
        OA_RETURN_NOT_OK(lex(ps));
        if (tok_is_kw(&ps->tok, "first"))
          o[k].nulls_first = 1;
        else if (tok_is_kw(&ps->tok, "last"))
          o[k].nulls_first = 0;
        else
          return unexpected(ps, "FIRST or LAST");
        OA_RETURN_NOT_OK(lex(ps));
      }
      k++;
      if (!tok_is_op(&ps->tok, ",")) break;
      OA_RETURN_NOT_OK(lex(ps));
    }
    st->order = oa_qarena_alloc(arena, (int64_t)sizeof(oa_qorder) * k);
    if (!st->order) return oa_error_set(err, ENOMEM, "out of memory");
    memcpy(st->order, o, sizeof(oa_qorder) * (size_t)k);
    st->n_order = k;
  }
  for (int pass = 0; pass < 2; pass++) {
    if (tok_is_kw(&ps->tok, "limit")) {
      OA_RETURN_NOT_OK(lex(ps));
      if (tok_is_kw(&ps->tok, "all")) {
        OA_RETURN_NOT_OK(lex(ps));
      } else {
        OA_RETURN_NOT_OK(parse_count(ps, &st->limit, "LIMIT"));
      }
    }
    if (tok_is_kw(&ps->tok, "offset")) {
      OA_RETURN_NOT_OK(lex(ps));
      OA_RETURN_NOT_OK(parse_count(ps, &st->offset, "OFFSET"));
    }
  }
  if (tok_is_op(&ps->tok, ";")) OA_RETURN_NOT_OK(lex(ps));
  if (ps->tok.kind != OA_TK_EOF) return unexpected(ps, "end of statement");
  return 0;
}
