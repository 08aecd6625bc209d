/* Binder: resolves names against the table schema, types every expression,
 * inserts the implicit casts, folds typed literals and rewrites aggregate
 * queries into their post-aggregation form (slots). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/qfunc.h"
#include "query/query_internal.h"

typedef struct binder {
  oa_qarena *arena;
  oa_error *err;
  const oa_schema *schema;
  oa_qstmt *st;
  int64_t now_ns;
  /* aggregates found while binding (pre-agg arguments) */
  oa_qnode *aggs[256];
  int32_t n_aggs;
  bool in_agg;
  bool allow_agg;
} binder;

const char *oa_qtype_name(oa_qtype t) {
  static const char *const names[] = {"NULL",      "BOOLEAN", "BIGINT",
                                      "DOUBLE",    "VARCHAR", "BLOB",
                                      "TIMESTAMP", "INTERVAL"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

oa_qtype oa_qtype_of_field(const oa_field *f, int32_t *fsb_width) {
  *fsb_width = 0;
  switch (f->type.id) {
  case OA_TYPE_NA:
    return OA_Q_NULL;
  case OA_TYPE_BOOL:
    return OA_Q_BOOL;
  case OA_TYPE_INT8:
  case OA_TYPE_INT16:
  case OA_TYPE_INT32:
  case OA_TYPE_INT64:
  case OA_TYPE_UINT8:
  case OA_TYPE_UINT16:
  case OA_TYPE_UINT32:
  case OA_TYPE_UINT64:
  case OA_TYPE_TIME32:
  case OA_TYPE_TIME64:
    return OA_Q_INT;
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DOUBLE:
  case OA_TYPE_DECIMAL128:
    return OA_Q_DOUBLE;
  case OA_TYPE_STRING:
  case OA_TYPE_LARGE_STRING:
    return OA_Q_STR;
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_BINARY:
    return OA_Q_BIN;
  case OA_TYPE_FIXED_SIZE_BINARY:
    *fsb_width = f->type.byte_width;
    return OA_Q_BIN;
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DATE32:
  case OA_TYPE_DATE64:
    return OA_Q_TS;
  case OA_TYPE_DURATION:
    return OA_Q_DUR;
  default:
    return OA_Q_STR; /* nested and rare types: their JSON text */
  }
}

/* ------------------------------------------------------------ helpers */

static int nomem(binder *b) {
  return oa_error_set(b->err, ENOMEM, "out of memory while binding");
}

static bool name_eq(const char *a, int32_t alen, const char *b) {
  return (size_t)alen == strlen(b) && strncasecmp(a, b, (size_t)alen) == 0;
}

static int levenshtein(const char *a, int la, const char *b, int lb) {
  if (la > 64 || lb > 64) return 99;
  int prev[65], cur[65];
  for (int j = 0; j <= lb; j++)
    prev[j] = j;
  for (int i = 1; i <= la; i++) {
    cur[0] = i;
    for (int j = 1; j <= lb; j++) {
      int c =
          tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      int v = prev[j - 1] + c;
      if (prev[j] + 1 < v) v = prev[j] + 1;
      if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
      cur[j] = v;
    }
    memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
  }
  return prev[lb];
}

static int64_t find_column(const oa_schema *s, const char *name, int32_t len) {
  if (!s) return -1;
  for (int64_t i = 0; i < s->n_fields; i++)
    if (strlen(s->fields[i].name) == (size_t)len &&
        memcmp(s->fields[i].name, name, (size_t)len) == 0)
      return i;
  for (int64_t i = 0; i < s->n_fields; i++)
    if (name_eq(name, len, s->fields[i].name)) return i;
  return -1;
}

static int unknown_column(binder *b, const oa_qnode *n) {
  if (!b->schema)
    return oa_qerr(b->err, n->line, n->col,
                   "unknown column '%.*s' (the query has no FROM table)",
                   n->name_len, n->name);
  char close[256];
  size_t used = 0;
  int found = 0;
  close[0] = 0;
  for (int64_t i = 0; i < b->schema->n_fields && found < 4; i++) {
    const char *fn = b->schema->fields[i].name;
    int d = levenshtein(n->name, n->name_len, fn, (int)strlen(fn));
    bool prefix =
        n->name_len >= 3 && strncasecmp(fn, n->name, (size_t)n->name_len) == 0;
    if (d <= 2 + (n->name_len > 8) || prefix) {
      int w = snprintf(close + used, sizeof close - used, "%s'%s'",
                       found ? ", " : "", fn);
      if (w < 0 || (size_t)w >= sizeof close - used) break;
      used += (size_t)w;
      found++;
    }
  }
  if (found)
    return oa_qerr(b->err, n->line, n->col,
                   "unknown column '%.*s' (did you mean %s?)", n->name_len,
                   n->name, close);
  return oa_qerr(b->err, n->line, n->col, "unknown column '%.*s'", n->name_len,
                 n->name);
}

static oa_qnode *alloc_node(binder *b, oa_qnode_kind kind, const oa_qnode *at) {
  oa_qnode *n = oa_qarena_calloc(b->arena, sizeof *n);
  if (!n) return NULL;
  n->kind = kind;
  n->line = at->line;
  n->col = at->col;
  n->column = -1;
  return n;
}

/* ------------------------------------------------------- time parsing */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t oa_qdays_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void oa_qcivil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yy + (*m <= 2);
}

static bool read_int(const char **p, const char *end, int digits, int64_t *v) {
  int64_t x = 0;
  for (int i = 0; i < digits; i++) {
    if (*p >= end || !isdigit((unsigned char)**p)) return false;
    x = x * 10 + (**p - '0');
    (*p)++;
  }
  *v = x;
  return true;
}

int oa_qparse_timestamp(const char *s, int64_t len, int64_t *ns) {
  const char *p = s, *end = s + len;
  while (p < end && isspace((unsigned char)*p))
    p++;
  while (end > p && isspace((unsigned char)end[-1]))
    end--;
  int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  bool neg = false;
  if (p < end && *p == '-') {
    neg = true;
    p++;
  }
  if (!read_int(&p, end, 4, &y)) return EINVAL;
  if (neg) y = -y;
  if (p >= end || *p++ != '-' || !read_int(&p, end, 2, &mo)) return EINVAL;
  if (p >= end || *p++ != '-' || !read_int(&p, end, 2, &d)) return EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return EINVAL;
  if (p < end && (*p == ' ' || *p == 'T' || *p == 't')) {
    p++;
    if (!read_int(&p, end, 2, &h)) return EINVAL;
    if (p >= end || *p++ != ':' || !read_int(&p, end, 2, &mi)) return EINVAL;
    if (p < end && *p == ':') {
      p++;
      if (!read_int(&p, end, 2, &sec)) return EINVAL;
      if (p < end && *p == '.') {
        p++;
        int nd = 0;
        while (p < end && isdigit((unsigned char)*p)) {
          if (nd < 9) {
            frac = frac * 10 + (*p - '0');
            nd++;
          }
          p++;
        }
        if (nd == 0) return EINVAL;
        for (; nd < 9; nd++)
          frac *= 10;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return EINVAL;
  }
  int64_t tz = 0;
  if (p < end && (*p == 'Z' || *p == 'z')) {
    p++;
  } else if (p < end && (*p == '+' || *p == '-')) {
    int sign = *p == '-' ? -1 : 1;
    p++;
    int64_t th, tm = 0;
    if (!read_int(&p, end, 2, &th)) return EINVAL;
    if (p < end && *p == ':') p++;
    if (p < end) {
      if (!read_int(&p, end, 2, &tm)) return EINVAL;
    }
    tz = sign * (th * 3600 + tm * 60);
  } else if (end - p >= 3 && strncasecmp(p, "UTC", 3) == 0) {
    p += 3;
  }
  while (p < end && isspace((unsigned char)*p))
    p++;
  if (p != end) return EINVAL;
  int64_t days = oa_qdays_from_civil(y, mo, d), secs, t;
  /* years 1677..2262 fit in int64 nanoseconds; others are out of range */
  if (__builtin_mul_overflow(days, 86400, &secs) ||
      __builtin_add_overflow(secs, h * 3600 + mi * 60 + sec - tz, &secs) ||
      __builtin_mul_overflow(secs, 1000000000LL, &t) ||
      __builtin_add_overflow(t, frac, &t))
    return ERANGE;
  *ns = t;
  return 0;
}

int oa_qparse_interval(const char *s, int64_t len, int64_t *ns) {
  const char *p = s, *end = s + len;
  int64_t total = 0;
  int parts = 0;
  for (;;) {
    while (p < end && isspace((unsigned char)*p))
      p++;
    if (p >= end) break;
    char buf[64];
    int k = 0;
    while (
        p < end &&
        (isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+') &&
        k < 63)
      buf[k++] = *p++;
    buf[k] = 0;
    if (!k) return EINVAL;
    char *e;
    double v = strtod(buf, &e);
    if (*e) return EINVAL;
    while (p < end && isspace((unsigned char)*p))
      p++;
    const char *u = p;
    while (p < end && isalpha((unsigned char)*p))
      p++;
    int ul = (int)(p - u);
    static const struct {
      const char *name;
      int64_t ns;
    } units[] = {{"nanosecond", 1},
                 {"nanoseconds", 1},
                 {"ns", 1},
                 {"microsecond", 1000},
                 {"microseconds", 1000},
                 {"us", 1000},
                 {"millisecond", 1000000},
                 {"milliseconds", 1000000},
                 {"ms", 1000000},
                 {"second", 1000000000LL},
                 {"seconds", 1000000000LL},
                 {"sec", 1000000000LL},
                 {"secs", 1000000000LL},
                 {"s", 1000000000LL},
                 {"minute", 60000000000LL},
                 {"minutes", 60000000000LL},
                 {"min", 60000000000LL},
                 {"mins", 60000000000LL},
                 {"m", 60000000000LL},
                 {"hour", 3600000000000LL},
                 {"hours", 3600000000000LL},
                 {"h", 3600000000000LL},
                 {"day", 86400000000000LL},
                 {"days", 86400000000000LL},
                 {"d", 86400000000000LL},
                 {"week", 604800000000000LL},
                 {"weeks", 604800000000000LL}};
    int64_t mult = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
      if (name_eq(u, ul, units[i].name)) mult = units[i].ns;
    if (mult < 0) return EINVAL;
    double x = v * (double)mult;
    if (!(fabs(x) < 9.2e18) ||
        __builtin_add_overflow(total, (int64_t)llround(x), &total))
      return ERANGE;
    parts++;
  }
  if (!parts) return EINVAL;
  *ns = total;
  return 0;
}

static int hexv(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Hex text (optionally 0x-prefixed, '-' separators ignored) into bytes. */
int oa_qunhex(const uint8_t *s, int64_t len, uint8_t *out, int64_t *out_len) {
  int64_t i = 0, n = 0;
  if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) i = 2;
  int hi = -1;
  for (; i < len; i++) {
    if (s[i] == '-') continue;
    int v = hexv(s[i]);
    if (v < 0) return EINVAL;
    if (hi < 0) {
      hi = v;
    } else {
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  if (hi >= 0) return EINVAL;
  *out_len = n;
  return 0;
}

/* ------------------------------------------------------------ casts */

static int cast_to(binder *b, oa_qnode **np, oa_qtype t);

static int fold_literal(binder *b, oa_qnode *n, oa_qtype t, bool *done) {
  *done = true;
  oa_qtype from = n->type;
  if (from == t) return 0;
  if (from == OA_Q_NULL) {
    n->type = n->lit_type = t;
    return 0;
  }
  if (from == OA_Q_STR) {
    int rc = 0;
    switch (t) {
    case OA_Q_TS:
      rc = oa_qparse_timestamp((const char *)n->lit_s.p, n->lit_s.len,
                               &n->lit_i);
      if (rc)
        return oa_qerr(
            b->err, n->line, n->col,
            "'%.*s' is not a timestamp (YYYY-MM-DD[ HH:MM:SS[.f]][Z])",
            (int)(n->lit_s.len > 60 ? 60 : n->lit_s.len), n->lit_s.p);
      break;
    case OA_Q_DUR:
      rc =
          oa_qparse_interval((const char *)n->lit_s.p, n->lit_s.len, &n->lit_i);
      if (rc)
        return oa_qerr(b->err, n->line, n->col,
                       "'%.*s' is not an interval (e.g. '5 minutes')",
                       (int)(n->lit_s.len > 60 ? 60 : n->lit_s.len),
                       n->lit_s.p);
      break;
    case OA_Q_BIN: {
      uint8_t *buf = oa_qarena_alloc(b->arena, n->lit_s.len / 2 + 1);
      if (!buf) return nomem(b);
      int64_t bl;
      if (oa_qunhex(n->lit_s.p, n->lit_s.len, buf, &bl))
        return oa_qerr(b->err, n->line, n->col,
                       "'%.*s' is not a hex string (binary values are "
                       "written in hex)",
                       (int)(n->lit_s.len > 60 ? 60 : n->lit_s.len),
                       n->lit_s.p);
      n->lit_s.p = buf;
      n->lit_s.len = bl;
      break;
    }
    default:
      *done = false;
      return 0;
    }
    n->type = n->lit_type = t;
    return 0;
  }
  if ((from == OA_Q_INT || from == OA_Q_BOOL) && t == OA_Q_DOUBLE) {
    n->lit_d = (double)n->lit_i;
    n->type = n->lit_type = t;
    return 0;
  }
  if ((from == OA_Q_INT || from == OA_Q_BOOL) &&
      (t == OA_Q_INT || t == OA_Q_TS || t == OA_Q_DUR)) {
    n->type = n->lit_type = t;
    return 0;
  }
  *done = false;
  return 0;
}

static bool cast_allowed(oa_qtype from, oa_qtype to) {
  if (from == to || from == OA_Q_NULL || to == OA_Q_STR) return true;
  switch (to) {
  case OA_Q_BOOL:
    return from == OA_Q_INT || from == OA_Q_STR;
  case OA_Q_INT:
    return from != OA_Q_BIN;
  case OA_Q_DOUBLE:
    return from == OA_Q_INT || from == OA_Q_STR || from == OA_Q_BOOL ||
           from == OA_Q_TS || from == OA_Q_DUR;
  case OA_Q_BIN:
    return from == OA_Q_STR;
  case OA_Q_TS:
  case OA_Q_DUR:
    return from == OA_Q_INT || from == OA_Q_STR || from == OA_Q_DOUBLE;
  default:
    return false;
  }
}

static int cast_to(binder *b, oa_qnode **np, oa_qtype t) {
  oa_qnode *n = *np;
  if (n->type == t) return 0;
  if (n->kind == OA_N_LIT) {
    bool done;
    OA_RETURN_NOT_OK(fold_literal(b, n, t, &done));
    if (done) return 0;
  }
  if (!cast_allowed(n->type, t))
    return oa_qerr(b->err, n->line, n->col, "cannot convert %s to %s",
                   oa_qtype_name(n->type), oa_qtype_name(t));
  oa_qnode *c = alloc_node(b, OA_N_CAST, n);
  if (!c) return nomem(b);
  c->args = oa_qarena_alloc(b->arena, sizeof(oa_qnode *));
  if (!c->args) return nomem(b);
  c->args[0] = n;
  c->n_args = 1;
  c->fn = (int32_t)t;
  c->type = t;
  *np = c;
  return 0;
}

static bool is_numeric(oa_qtype t) { return t == OA_Q_INT || t == OA_Q_DOUBLE; }

/* attributes['k'] adapts to what it is compared with. */
static void attr_adapt(oa_qnode *n, oa_qtype other) {
  if (n->kind != OA_N_INDEX || n->attr_mode != OA_QATTR_RENDER) return;
  if (other == OA_Q_STR) {
    n->attr_mode = OA_QATTR_STR;
    n->type = OA_Q_STR;
  } else if (is_numeric(other)) {
    n->attr_mode = OA_QATTR_NUM;
    n->type = OA_Q_DOUBLE;
  } else if (other == OA_Q_BOOL) {
    n->attr_mode = OA_QATTR_BOOL;
    n->type = OA_Q_BOOL;
  }
}

/* Brings two operands to one comparable type. */
static int unify(binder *b, oa_qnode **a, oa_qnode **c, const oa_qnode *at) {
  attr_adapt(*a, (*c)->type);
  attr_adapt(*c, (*a)->type);
  oa_qtype ta = (*a)->type, tc = (*c)->type;
  if (ta == tc) return 0;
  if (ta == OA_Q_NULL) return cast_to(b, a, tc);
  if (tc == OA_Q_NULL) return cast_to(b, c, ta);
  if (is_numeric(ta) && is_numeric(tc))
    return ta == OA_Q_INT ? cast_to(b, a, OA_Q_DOUBLE)
                          : cast_to(b, c, OA_Q_DOUBLE);
  /* string literals take the other side's type (trace-id hex, times) */
  if (tc == OA_Q_STR && (*c)->kind == OA_N_LIT && ta != OA_Q_BOOL &&
      !is_numeric(ta))
    return cast_to(b, c, ta);
  if (ta == OA_Q_STR && (*a)->kind == OA_N_LIT && tc != OA_Q_BOOL &&
      !is_numeric(tc))
    return cast_to(b, a, tc);
  if ((ta == OA_Q_TS || ta == OA_Q_DUR) && tc == OA_Q_INT)
    return cast_to(b, c, ta);
  if ((tc == OA_Q_TS || tc == OA_Q_DUR) && ta == OA_Q_INT)
    return cast_to(b, a, tc);
  if (ta == OA_Q_BOOL && tc == OA_Q_INT) return cast_to(b, a, OA_Q_INT);
  if (tc == OA_Q_BOOL && ta == OA_Q_INT) return cast_to(b, c, OA_Q_INT);
  return oa_qerr(b->err, at->line, at->col, "cannot compare %s with %s",
                 oa_qtype_name(ta), oa_qtype_name(tc));
}

/* ------------------------------------------------------------ binding */

static int bind(binder *b, oa_qnode **np);

static int bind_bool(binder *b, oa_qnode **np) {
  OA_RETURN_NOT_OK(bind(b, np));
  attr_adapt(*np, OA_Q_BOOL);
  if ((*np)->type == OA_Q_BOOL) return 0;
  if ((*np)->type == OA_Q_NULL) return cast_to(b, np, OA_Q_BOOL);
  return oa_qerr(b->err, (*np)->line, (*np)->col,
                 "expected a boolean expression, found %s",
                 oa_qtype_name((*np)->type));
}

static const struct {
  const char *name;
  int id;
  int min_args, max_args;
} funcs[] = {
    {"hex", OA_QF_HEX, 1, 1},
    {"to_hex", OA_QF_HEX, 1, 1},
    {"unhex", OA_QF_UNHEX, 1, 1},
    {"from_hex", OA_QF_UNHEX, 1, 1},
    {"length", OA_QF_LENGTH, 1, 1},
    {"octet_length", OA_QF_LENGTH, 1, 1},
    {"lower", OA_QF_LOWER, 1, 1},
    {"upper", OA_QF_UPPER, 1, 1},
    {"abs", OA_QF_ABS, 1, 1},
    {"coalesce", OA_QF_COALESCE, 1, 64},
    {"ifnull", OA_QF_COALESCE, 2, 2},
    {"nullif", OA_QF_NULLIF, 2, 2},
    {"now", OA_QF_NOW, 0, 0},
    {"current_timestamp", OA_QF_NOW, 0, 0},
    {"date_trunc", OA_QF_DATE_TRUNC, 2, 2},
    {"epoch_ns", OA_QF_EPOCH_NS, 1, 1},
    {"epoch_us", OA_QF_EPOCH_US, 1, 1},
    {"epoch_ms", OA_QF_EPOCH_MS, 1, 1},
    {"epoch", OA_QF_EPOCH, 1, 1},
    {"to_timestamp", OA_QF_TO_TIMESTAMP, 1, 1},
    {"make_timestamp_ns", OA_QF_TS_FROM_NS, 1, 1},
    {"round", OA_QF_ROUND, 1, 2},
    {"concat", OA_QF_CONCAT, 1, 64},
};

static const struct {
  const char *name;
  oa_qagg agg;
} aggs[] = {
    {"count", OA_AGG_COUNT},
    {"sum", OA_AGG_SUM},
    {"avg", OA_AGG_AVG},
    {"mean", OA_AGG_AVG},
    {"min", OA_AGG_MIN},
    {"max", OA_AGG_MAX},
    {"quantile", OA_AGG_QUANTILE_DISC},
    {"quantile_disc", OA_AGG_QUANTILE_DISC},
    {"quantile_cont", OA_AGG_QUANTILE_CONT},
    {"median", OA_AGG_QUANTILE_CONT},
};

static int bind_agg(binder *b, oa_qnode *n, oa_qagg agg) {
  if (!b->allow_agg)
    return oa_qerr(b->err, n->line, n->col,
                   "aggregate %.*s() is not allowed here", n->name_len,
                   n->name);
  if (b->in_agg)
    return oa_qerr(b->err, n->line, n->col, "aggregate calls cannot be nested");
  n->kind = OA_N_AGG;
  if (agg == OA_AGG_COUNT) {
    if (n->n_args == 1 && n->args[0]->kind == OA_N_STAR && !n->negated) {
      n->fn = OA_AGG_COUNT_STAR;
      n->n_args = 0;
      n->type = OA_Q_INT;
      goto reg;
    }
    if (n->negated) agg = OA_AGG_COUNT_DISTINCT;
  } else if (n->negated && agg != OA_AGG_MIN && agg != OA_AGG_MAX) {
    return oa_qerr(b->err, n->line, n->col,
                   "DISTINCT is only supported in COUNT, MIN and MAX");
  }
  int want = agg == OA_AGG_QUANTILE_DISC || agg == OA_AGG_QUANTILE_CONT ? 2 : 1;
  bool is_median = name_eq(n->name, n->name_len, "median");
  if (is_median) want = 1;
  if (n->n_args != want)
    return oa_qerr(b->err, n->line, n->col, "%.*s() takes %d argument%s",
                   n->name_len, n->name, want, want > 1 ? "s" : "");
  if (n->args[0]->kind == OA_N_STAR)
    return oa_qerr(b->err, n->args[0]->line, n->args[0]->col,
                   "'*' is only allowed in COUNT(*)");
  b->in_agg = true;
  int rc = bind(b, &n->args[0]);
  b->in_agg = false;
  OA_RETURN_NOT_OK(rc);
  oa_qtype t = n->args[0]->type;
  n->fn = agg;
  switch (agg) {
  case OA_AGG_COUNT:
  case OA_AGG_COUNT_DISTINCT:
    n->type = OA_Q_INT;
    break;
  case OA_AGG_SUM:
    attr_adapt(n->args[0], OA_Q_DOUBLE);
    t = n->args[0]->type;
    if (t == OA_Q_BOOL) OA_RETURN_NOT_OK(cast_to(b, &n->args[0], OA_Q_INT));
    t = n->args[0]->type;
    if (t == OA_Q_NULL) {
      OA_RETURN_NOT_OK(cast_to(b, &n->args[0], OA_Q_INT));
      t = OA_Q_INT;
    }
    if (t != OA_Q_INT && t != OA_Q_DOUBLE && t != OA_Q_DUR)
      return oa_qerr(b->err, n->line, n->col, "sum() of %s is not supported",
                     oa_qtype_name(t));
    n->type = t;
    break;
  case OA_AGG_AVG:
    attr_adapt(n->args[0], OA_Q_DOUBLE);
    t = n->args[0]->type;
    if (t == OA_Q_BOOL || t == OA_Q_NULL)
      OA_RETURN_NOT_OK(cast_to(b, &n->args[0], OA_Q_INT));
    t = n->args[0]->type;
    if (t != OA_Q_INT && t != OA_Q_DOUBLE && t != OA_Q_DUR && t != OA_Q_TS)
      return oa_qerr(b->err, n->line, n->col, "avg() of %s is not supported",
                     oa_qtype_name(t));
    n->type = OA_Q_DOUBLE;
    break;
  case OA_AGG_MIN:
  case OA_AGG_MAX:
    n->type = t;
    n->fsb_width = n->args[0]->fsb_width;
    break;
  case OA_AGG_QUANTILE_DISC:
  case OA_AGG_QUANTILE_CONT: {
    attr_adapt(n->args[0], OA_Q_DOUBLE);
    t = n->args[0]->type;
    if (t == OA_Q_NULL) {
      OA_RETURN_NOT_OK(cast_to(b, &n->args[0], OA_Q_DOUBLE));
      t = OA_Q_DOUBLE;
    }
    if (t != OA_Q_INT && t != OA_Q_DOUBLE && t != OA_Q_DUR && t != OA_Q_TS)
      return oa_qerr(b->err, n->line, n->col, "quantile of %s is not supported",
                     oa_qtype_name(t));
    double q = 0.5;
    if (!is_median) {
      oa_qnode *qa = n->args[1];
      if (qa->kind != OA_N_LIT ||
          (qa->lit_type != OA_Q_INT && qa->lit_type != OA_Q_DOUBLE))
        return oa_qerr(b->err, qa->line, qa->col,
                       "the quantile must be a number literal in [0, 1]");
      q = qa->lit_type == OA_Q_INT ? (double)qa->lit_i : qa->lit_d;
      if (!(q >= 0 && q <= 1))
        return oa_qerr(b->err, qa->line, qa->col,
                       "the quantile must be in [0, 1], not %g", q);
      n->n_args = 1;
    }
    n->quantile = q;
    n->type = agg == OA_AGG_QUANTILE_CONT && (t == OA_Q_INT) ? OA_Q_DOUBLE : t;
    break;
  }
  default:
    break;
  }
reg:
  if (b->n_aggs >= (int32_t)(sizeof b->aggs / sizeof b->aggs[0]))
    return oa_qerr(b->err, n->line, n->col, "too many aggregates");
  b->aggs[b->n_aggs++] = n;
  return 0;
}

static int bind_func(binder *b, oa_qnode **np) {
  oa_qnode *n = *np;
  for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
    if (name_eq(n->name, n->name_len, aggs[i].name))
      return bind_agg(b, n, aggs[i].agg);
  int id = -1, mn = 0, mx = 0;
  for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
    if (name_eq(n->name, n->name_len, funcs[i].name)) {
      id = funcs[i].id;
      mn = funcs[i].min_args;
      mx = funcs[i].max_args;
    }
  if (id < 0)
    return oa_qerr(b->err, n->line, n->col, "unknown function '%.*s'",
                   n->name_len, n->name);
  if (n->negated)
    return oa_qerr(b->err, n->line, n->col,
                   "DISTINCT is only allowed in aggregates");
  if (n->n_args < mn || n->n_args > mx)
    return oa_qerr(b->err, n->line, n->col,
                   "%.*s() takes %d%s argument%s, not %d", n->name_len, n->name,
                   mn, mx > mn ? " or more" : "", mx == 1 ? "" : "s",
                   n->n_args);
  for (int32_t i = 0; i < n->n_args; i++) {
    if (n->args[i]->kind == OA_N_STAR)
      return oa_qerr(b->err, n->args[i]->line, n->args[i]->col,
                     "'*' is only allowed in COUNT(*)");
    OA_RETURN_NOT_OK(bind(b, &n->args[i]));
  }
  n->fn = id;
  oa_qnode **a = n->args;
  switch (id) {
  case OA_QF_HEX:
    if (a[0]->type == OA_Q_STR) OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_BIN));
    if (a[0]->type != OA_Q_BIN && a[0]->type != OA_Q_NULL &&
        a[0]->type != OA_Q_INT)
      return oa_qerr(b->err, n->line, n->col, "hex() of %s is not supported",
                     oa_qtype_name(a[0]->type));
    n->type = OA_Q_STR;
    break;
  case OA_QF_UNHEX:
    OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_STR));
    n->type = OA_Q_BIN;
    break;
  case OA_QF_LENGTH:
    if (a[0]->type != OA_Q_BIN) OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_STR));
    n->type = OA_Q_INT;
    break;
  case OA_QF_LOWER:
  case OA_QF_UPPER:
    OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_STR));
    n->type = OA_Q_STR;
    break;
  case OA_QF_ABS:
    attr_adapt(a[0], OA_Q_DOUBLE);
    if (a[0]->type == OA_Q_NULL) OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_INT));
    if (!is_numeric(a[0]->type) && a[0]->type != OA_Q_DUR)
      return oa_qerr(b->err, n->line, n->col, "abs() of %s is not supported",
                     oa_qtype_name(a[0]->type));
    n->type = a[0]->type;
    break;
  case OA_QF_ROUND:
    attr_adapt(a[0], OA_Q_DOUBLE);
    OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_DOUBLE));
    if (n->n_args == 2) OA_RETURN_NOT_OK(cast_to(b, &a[1], OA_Q_INT));
    n->type = OA_Q_DOUBLE;
    break;
  case OA_QF_COALESCE:
  case OA_QF_NULLIF: {
    oa_qtype t = OA_Q_NULL;
    for (int32_t i = 0; i < n->n_args; i++)
      if (a[i]->type != OA_Q_NULL) {
        if (t == OA_Q_NULL || (t == OA_Q_INT && a[i]->type == OA_Q_DOUBLE))
          t = a[i]->type;
      }
    for (int32_t i = 0; i < n->n_args; i++) {
      attr_adapt(a[i], t);
      OA_RETURN_NOT_OK(cast_to(b, &a[i], t));
    }
    n->type = t;
    n->fsb_width = a[0]->fsb_width;
    break;
  }
  case OA_QF_NOW:
    n->kind = OA_N_LIT;
    n->lit_type = n->type = OA_Q_TS;
    n->lit_i = b->now_ns;
    break;
  case OA_QF_DATE_TRUNC: {
    if (a[0]->kind != OA_N_LIT || a[0]->type != OA_Q_STR)
      return oa_qerr(b->err, a[0]->line, a[0]->col,
                     "date_trunc() needs a unit literal such as 'minute'");
    static const char *const units[] = {
        "microsecond", "millisecond", "second", "minute",  "hour",
        "day",         "week",        "month",  "quarter", "year"};
    int u = -1;
    for (int i = 0; i < 10; i++)
      if (name_eq((const char *)a[0]->lit_s.p, (int32_t)a[0]->lit_s.len,
                  units[i]))
        u = i;
    if (u < 0)
      return oa_qerr(b->err, a[0]->line, a[0]->col,
                     "unknown date_trunc unit '%.*s' (microsecond, "
                     "millisecond, second, minute, hour, day, week, month, "
                     "quarter, year)",
                     (int)a[0]->lit_s.len, a[0]->lit_s.p);
    a[0]->lit_i = u;
    OA_RETURN_NOT_OK(cast_to(b, &a[1], OA_Q_TS));
    n->type = OA_Q_TS;
    break;
  }
  case OA_QF_EPOCH_NS:
  case OA_QF_EPOCH_US:
  case OA_QF_EPOCH_MS:
    if (a[0]->type != OA_Q_TS && a[0]->type != OA_Q_DUR)
      OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_TS));
    n->type = OA_Q_INT;
    break;
  case OA_QF_EPOCH:
    if (a[0]->type != OA_Q_TS && a[0]->type != OA_Q_DUR)
      OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_TS));
    n->type = OA_Q_DOUBLE;
    break;
  case OA_QF_TO_TIMESTAMP:
    OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_DOUBLE));
    n->type = OA_Q_TS;
    break;
  case OA_QF_TS_FROM_NS:
    OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_INT));
    n->type = OA_Q_TS;
    break;
  case OA_QF_CONCAT:
    for (int32_t i = 0; i < n->n_args; i++)
      OA_RETURN_NOT_OK(cast_to(b, &a[i], OA_Q_STR));
    n->type = OA_Q_STR;
    break;
  default:
    break;
  }
  return 0;
}

static int parse_type_name(const char *s, int32_t len, oa_qtype *t) {
  static const struct {
    const char *n;
    oa_qtype t;
  } names[] = {{"int", OA_Q_INT},         {"integer", OA_Q_INT},
               {"bigint", OA_Q_INT},      {"smallint", OA_Q_INT},
               {"tinyint", OA_Q_INT},     {"int64", OA_Q_INT},
               {"int8", OA_Q_INT},        {"int4", OA_Q_INT},
               {"ubigint", OA_Q_INT},     {"uinteger", OA_Q_INT},
               {"hugeint", OA_Q_INT},     {"double", OA_Q_DOUBLE},
               {"float", OA_Q_DOUBLE},    {"real", OA_Q_DOUBLE},
               {"float8", OA_Q_DOUBLE},   {"decimal", OA_Q_DOUBLE},
               {"numeric", OA_Q_DOUBLE},  {"varchar", OA_Q_STR},
               {"text", OA_Q_STR},        {"string", OA_Q_STR},
               {"blob", OA_Q_BIN},        {"bytea", OA_Q_BIN},
               {"binary", OA_Q_BIN},      {"varbinary", OA_Q_BIN},
               {"timestamp", OA_Q_TS},    {"timestamptz", OA_Q_TS},
               {"timestamp_ns", OA_Q_TS}, {"date", OA_Q_TS},
               {"interval", OA_Q_DUR},    {"boolean", OA_Q_BOOL},
               {"bool", OA_Q_BOOL}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (name_eq(s, len, names[i].n)) {
      *t = names[i].t;
      return 0;
    }
  return EINVAL;
}

static int bind_index(binder *b, oa_qnode *n) {
  oa_qnode *m = n->args[0], *k = n->args[1];
  if (m->kind != OA_N_COL)
    return oa_qerr(b->err, n->line, n->col,
                   "[] applies to a map column such as attributes");
  int64_t c = find_column(b->schema, m->name, m->name_len);
  if (c < 0) return unknown_column(b, m);
  const oa_field *f = &b->schema->fields[c];
  bool ok = f->type.id == OA_TYPE_MAP && f->n_children == 1 &&
            f->children[0].n_children == 2;
  if (ok) {
    const oa_field *kf = &f->children[0].children[0];
    const oa_field *vf = &f->children[0].children[1];
    ok = (kf->type.id == OA_TYPE_STRING) &&
         (vf->type.id == OA_TYPE_DENSE_UNION || vf->type.id == OA_TYPE_STRING ||
          vf->type.id == OA_TYPE_INT64 || vf->type.id == OA_TYPE_DOUBLE ||
          vf->type.id == OA_TYPE_BOOL);
  }
  if (!ok)
    return oa_qerr(b->err, m->line, m->col,
                   "column '%s' is not a map of string keys", f->name);
  if (k->kind != OA_N_LIT || k->lit_type != OA_Q_STR)
    return oa_qerr(b->err, k->line, k->col,
                   "the map key must be a string literal");
  n->column = c;
  n->attr_mode = OA_QATTR_RENDER;
  n->type = OA_Q_STR;
  return 0;
}

static int bind(binder *b, oa_qnode **np) {
  oa_qnode *n = *np;
  switch (n->kind) {
  case OA_N_LIT:
    n->type = n->lit_type;
    return 0;
  case OA_N_COL: {
    int64_t c = find_column(b->schema, n->name, n->name_len);
    if (c < 0) return unknown_column(b, n);
    n->column = c;
    n->type = oa_qtype_of_field(&b->schema->fields[c], &n->fsb_width);
    return 0;
  }
  case OA_N_STAR:
    return oa_qerr(b->err, n->line, n->col,
                   "'*' is only allowed in the select list and COUNT(*)");
  case OA_N_SLOT:
    return 0;
  case OA_N_UNARY:
    if (!strcmp(n->op, "NOT")) {
      OA_RETURN_NOT_OK(bind_bool(b, &n->args[0]));
      n->type = OA_Q_BOOL;
      return 0;
    }
    OA_RETURN_NOT_OK(bind(b, &n->args[0]));
    attr_adapt(n->args[0], OA_Q_DOUBLE);
    if (n->args[0]->type == OA_Q_NULL)
      OA_RETURN_NOT_OK(cast_to(b, &n->args[0], OA_Q_INT));
    if (!is_numeric(n->args[0]->type) && n->args[0]->type != OA_Q_DUR)
      return oa_qerr(b->err, n->line, n->col, "cannot negate %s",
                     oa_qtype_name(n->args[0]->type));
    n->type = n->args[0]->type;
    return 0;
  case OA_N_BINARY: {
    const char *op = n->op;
    if (!strcmp(op, "AND") || !strcmp(op, "OR")) {
      OA_RETURN_NOT_OK(bind_bool(b, &n->args[0]));
      OA_RETURN_NOT_OK(bind_bool(b, &n->args[1]));
      n->type = OA_Q_BOOL;
      return 0;
    }
    OA_RETURN_NOT_OK(bind(b, &n->args[0]));
    OA_RETURN_NOT_OK(bind(b, &n->args[1]));
    oa_qnode **a = n->args;
    if (!strcmp(op, "=") || !strcmp(op, "<>") || op[0] == '<' || op[0] == '>') {
      OA_RETURN_NOT_OK(unify(b, &a[0], &a[1], n));
      n->type = OA_Q_BOOL;
      return 0;
    }
    if (!strcmp(op, "||")) {
      OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_STR));
      OA_RETURN_NOT_OK(cast_to(b, &a[1], OA_Q_STR));
      n->type = OA_Q_STR;
      return 0;
    }
    /* arithmetic */
    attr_adapt(a[0], OA_Q_DOUBLE);
    attr_adapt(a[1], OA_Q_DOUBLE);
    if (a[0]->type == OA_Q_NULL && a[1]->type != OA_Q_NULL)
      OA_RETURN_NOT_OK(
          cast_to(b, &a[0], a[1]->type == OA_Q_TS ? OA_Q_DUR : a[1]->type));
    if (a[1]->type == OA_Q_NULL)
      OA_RETURN_NOT_OK(cast_to(b, &a[1],
                               a[0]->type == OA_Q_NULL ? OA_Q_INT
                               : a[0]->type == OA_Q_TS ? OA_Q_DUR
                                                       : a[0]->type));
    if (a[0]->type == OA_Q_NULL) OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_INT));
    oa_qtype l = a[0]->type, r = a[1]->type;
    char o = op[0];
    if (l == OA_Q_BOOL) OA_RETURN_NOT_OK(cast_to(b, &a[0], l = OA_Q_INT));
    if (r == OA_Q_BOOL) OA_RETURN_NOT_OK(cast_to(b, &a[1], r = OA_Q_INT));
    /* a string literal next to a time takes the time's meaning */
    if ((l == OA_Q_TS || l == OA_Q_DUR) && r == OA_Q_STR &&
        a[1]->kind == OA_N_LIT)
      OA_RETURN_NOT_OK(
          cast_to(b, &a[1],
                  r = (l == OA_Q_TS && o == '-' && a[1]->lit_s.len >= 10 &&
                       a[1]->lit_s.p[4] == '-')
                          ? OA_Q_TS
                          : OA_Q_DUR));
    if (is_numeric(l) && is_numeric(r)) {
      if (l == OA_Q_INT && r == OA_Q_INT && o != '/') {
        n->type = OA_Q_INT;
      } else {
        OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_DOUBLE));
        OA_RETURN_NOT_OK(cast_to(b, &a[1], OA_Q_DOUBLE));
        n->type = OA_Q_DOUBLE;
      }
      return 0;
    }
    if (l == OA_Q_TS && r == OA_Q_TS && o == '-') {
      n->type = OA_Q_DUR;
      return 0;
    }
    if (l == OA_Q_TS && r == OA_Q_DUR && (o == '+' || o == '-')) {
      n->type = OA_Q_TS;
      return 0;
    }
    if (l == OA_Q_DUR && r == OA_Q_TS && o == '+') {
      n->type = OA_Q_TS;
      return 0;
    }
    if (l == OA_Q_DUR && r == OA_Q_DUR && (o == '+' || o == '-' || o == '%')) {
      n->type = OA_Q_DUR;
      return 0;
    }
    if (l == OA_Q_DUR && r == OA_Q_DUR && o == '/') {
      OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_DOUBLE));
      OA_RETURN_NOT_OK(cast_to(b, &a[1], OA_Q_DOUBLE));
      n->type = OA_Q_DOUBLE;
      return 0;
    }
    if (l == OA_Q_DUR && r == OA_Q_INT && (o == '*' || o == '/')) {
      n->type = OA_Q_DUR;
      n->fn = 1; /* integer division */
      return 0;
    }
    if (l == OA_Q_INT && r == OA_Q_DUR && o == '*') {
      n->type = OA_Q_DUR;
      return 0;
    }
    if ((l == OA_Q_DUR && r == OA_Q_DOUBLE) && (o == '*' || o == '/')) {
      OA_RETURN_NOT_OK(cast_to(b, &a[0], OA_Q_DOUBLE));
      n->type = OA_Q_DOUBLE;
      return 0;
    }
    return oa_qerr(b->err, n->line, n->col, "cannot apply '%s' to %s and %s",
                   op, oa_qtype_name(l), oa_qtype_name(r));
  }
  case OA_N_IN:
    OA_RETURN_NOT_OK(bind(b, &n->args[0]));
    for (int32_t i = 1; i < n->n_args; i++) {
      OA_RETURN_NOT_OK(bind(b, &n->args[i]));
      attr_adapt(n->args[0], n->args[i]->type);
    }
    /* common type: first non-null; int+double -> double */
    {
      oa_qtype t = n->args[0]->type;
      for (int32_t i = 1; i < n->n_args; i++) {
        oa_qtype u = n->args[i]->type;
        if (t == OA_Q_NULL) t = u;
        if (t == OA_Q_INT && u == OA_Q_DOUBLE) t = OA_Q_DOUBLE;
      }
      if (n->args[0]->type != t) {
        if (n->args[0]->type == OA_Q_INT && t == OA_Q_DOUBLE)
          OA_RETURN_NOT_OK(cast_to(b, &n->args[0], t));
        else if (n->args[0]->type == OA_Q_NULL)
          OA_RETURN_NOT_OK(cast_to(b, &n->args[0], t));
      }
      for (int32_t i = 1; i < n->n_args; i++)
        OA_RETURN_NOT_OK(unify(b, &n->args[0], &n->args[i], n->args[i]));
    }
    n->type = OA_Q_BOOL;
    return 0;
  case OA_N_BETWEEN:
    for (int32_t i = 0; i < 3; i++)
      OA_RETURN_NOT_OK(bind(b, &n->args[i]));
    OA_RETURN_NOT_OK(unify(b, &n->args[0], &n->args[1], n));
    OA_RETURN_NOT_OK(unify(b, &n->args[0], &n->args[2], n));
    OA_RETURN_NOT_OK(unify(b, &n->args[0], &n->args[1], n));
    n->type = OA_Q_BOOL;
    return 0;
  case OA_N_LIKE:
    OA_RETURN_NOT_OK(bind(b, &n->args[0]));
    OA_RETURN_NOT_OK(bind(b, &n->args[1]));
    attr_adapt(n->args[0], OA_Q_STR);
    OA_RETURN_NOT_OK(cast_to(b, &n->args[0], OA_Q_STR));
    OA_RETURN_NOT_OK(cast_to(b, &n->args[1], OA_Q_STR));
    n->type = OA_Q_BOOL;
    return 0;
  case OA_N_ISNULL:
    OA_RETURN_NOT_OK(bind(b, &n->args[0]));
    n->type = OA_Q_BOOL;
    return 0;
  case OA_N_CASE: {
    int32_t nv = n->n_args / 2 + (n->n_args % 2);
    (void)nv;
    oa_qtype t = OA_Q_NULL;
    for (int32_t i = 0; i < n->n_args; i++) {
      bool is_cond = (i % 2 == 0) && i + 1 < n->n_args;
      if (is_cond) {
        OA_RETURN_NOT_OK(bind_bool(b, &n->args[i]));
      } else {
        OA_RETURN_NOT_OK(bind(b, &n->args[i]));
        oa_qtype u = n->args[i]->type;
        if (t == OA_Q_NULL || (t == OA_Q_INT && u == OA_Q_DOUBLE)) t = u;
      }
    }
    for (int32_t i = 0; i < n->n_args; i++) {
      bool is_cond = (i % 2 == 0) && i + 1 < n->n_args;
      if (!is_cond) {
        attr_adapt(n->args[i], t);
        OA_RETURN_NOT_OK(cast_to(b, &n->args[i], t));
      }
    }
    n->type = t;
    return 0;
  }
  case OA_N_FUNC:
    return bind_func(b, np);
  case OA_N_AGG:
    return 0; /* already bound (shared subtree) */
  case OA_N_INDEX:
    return bind_index(b, n);
  case OA_N_CAST: {
    oa_qtype t;
    if (n->fn == 0 && n->type == OA_Q_NULL && n->name) {
      if (parse_type_name(n->name, n->name_len, &t))
        return oa_qerr(b->err, n->line, n->col, "unknown type '%.*s'",
                       n->name_len, n->name);
    } else {
      t = (oa_qtype)n->fn;
    }
    OA_RETURN_NOT_OK(bind(b, &n->args[0]));
    attr_adapt(n->args[0], t == OA_Q_INT ? OA_Q_DOUBLE : t);
    oa_qnode *a = n->args[0];
    OA_RETURN_NOT_OK(cast_to(b, &n->args[0], t));
    if (n->args[0] == a && a->type != t)
      return oa_qerr(b->err, n->line, n->col, "cannot convert %s to %s",
                     oa_qtype_name(a->type), oa_qtype_name(t));
    *np = n->args[0];
    return 0;
  }
  default:
    return oa_qerr(b->err, n->line, n->col, "unsupported expression");
  }
}

/* ------------------------------------------- post-aggregation rewrite */

static bool node_equal(const oa_qnode *a, const oa_qnode *c) {
  if (a == c) return true;
  if (a->kind != c->kind || a->n_args != c->n_args || a->type != c->type)
    return false;
  switch (a->kind) {
  case OA_N_LIT:
    if (a->lit_type != c->lit_type || a->lit_i != c->lit_i ||
        a->lit_null != c->lit_null)
      return false;
    if (a->lit_type == OA_Q_DOUBLE && a->lit_d != c->lit_d) return false;
    if (a->lit_type == OA_Q_STR || a->lit_type == OA_Q_BIN)
      return a->lit_s.len == c->lit_s.len &&
             (a->lit_s.len == 0 || /* a NULL literal has no bytes */
              memcmp(a->lit_s.p, c->lit_s.p, (size_t)a->lit_s.len) == 0);
    return true;
  case OA_N_COL:
    return a->column == c->column;
  case OA_N_INDEX:
    return a->column == c->column && a->attr_mode == c->attr_mode &&
           node_equal(a->args[1], c->args[1]);
  case OA_N_SLOT:
    return a->column == c->column;
  case OA_N_AGG:
    return false;
  default:
    break;
  }
  if (strcmp(a->op, c->op) || a->negated != c->negated || a->fn != c->fn)
    return false;
  for (int32_t i = 0; i < a->n_args; i++)
    if (!node_equal(a->args[i], c->args[i])) return false;
  return true;
}

static int to_slots(binder *b, oa_qplan *p, oa_qnode **np) {
  oa_qnode *n = *np;
  for (int32_t g = 0; g < p->n_group; g++)
    if (node_equal(n, p->group[g])) {
      oa_qnode *s = alloc_node(b, OA_N_SLOT, n);
      if (!s) return nomem(b);
      s->column = g;
      s->type = n->type;
      s->fsb_width = n->fsb_width;
      *np = s;
      return 0;
    }
  if (n->kind == OA_N_AGG) {
    for (int32_t k = 0; k < p->n_aggs; k++)
      if (p->aggs[k] == n) {
        oa_qnode *s = alloc_node(b, OA_N_SLOT, n);
        if (!s) return nomem(b);
        s->column = p->n_group + k;
        s->type = n->type;
        s->fsb_width = n->fsb_width;
        *np = s;
        return 0;
      }
    return oa_qerr(b->err, n->line, n->col, "internal: unregistered aggregate");
  }
  if (n->kind == OA_N_COL || n->kind == OA_N_INDEX)
    return oa_qerr(b->err, n->line, n->col,
                   "column '%.*s' must appear in the GROUP BY clause or be "
                   "used in an aggregate function",
                   n->kind == OA_N_COL ? n->name_len : n->args[0]->name_len,
                   n->kind == OA_N_COL ? n->name : n->args[0]->name);
  for (int32_t i = 0; i < n->n_args; i++)
    OA_RETURN_NOT_OK(to_slots(b, p, &n->args[i]));
  return 0;
}

/* An ORDER BY / GROUP BY item that names an output alias or ordinal. */
static oa_qnode *output_ref(const oa_qplan *p, const oa_qnode *n, bool *bad,
                            oa_qnode **src_items, int32_t n_items) {
  *bad = false;
  if (n->kind == OA_N_LIT && n->lit_type == OA_Q_INT) {
    if (n->lit_i < 1 || n->lit_i > n_items) {
      *bad = true;
      return NULL;
    }
    return src_items[n->lit_i - 1];
  }
  if (n->kind == OA_N_COL) {
    for (int32_t i = 0; i < n_items; i++)
      if (p->out_names[i] && name_eq(n->name, n->name_len, p->out_names[i]) &&
          !(src_items[i]->kind == OA_N_COL &&
            name_eq(src_items[i]->name, src_items[i]->name_len,
                    p->out_names[i])))
        return src_items[i];
  }
  return NULL;
}

static const char *dup_name(binder *b, const char *s, int64_t len) {
  char *d = oa_qarena_alloc(b->arena, len + 1);
  if (!d) return NULL;
  memcpy(d, s, (size_t)len);
  d[len] = 0;
  return d;
}

static bool has_agg(const oa_qnode *n) {
  if (n->kind == OA_N_FUNC) {
    for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
      if (name_eq(n->name, n->name_len, aggs[i].name)) return true;
  }
  if (n->kind == OA_N_AGG) return true;
  for (int32_t i = 0; i < n->n_args; i++)
    if (has_agg(n->args[i])) return true;
  return false;
}

static oa_qnode *copy_tree(binder *b, const oa_qnode *n) {
  oa_qnode *c = oa_qarena_alloc(b->arena, sizeof *c);
  if (!c) return NULL;
  *c = *n;
  if (n->n_args) {
    c->args =
        oa_qarena_alloc(b->arena, (int64_t)sizeof(oa_qnode *) * n->n_args);
    if (!c->args) return NULL;
    for (int32_t i = 0; i < n->n_args; i++)
      if (!(c->args[i] = copy_tree(b, n->args[i]))) return NULL;
  }
  return c;
}

int oa_qbind(oa_qstmt *st, const oa_schema *schema, oa_qarena *arena,
             int64_t now_ns, oa_qplan *p, oa_error *err) {
  binder bb;
  binder *b = &bb;
  memset(b, 0, sizeof *b);
  b->arena = arena;
  b->err = err;
  b->schema = schema;
  b->st = st;
  b->now_ns = now_ns;
  memset(p, 0, sizeof *p);
  p->st = st;
  p->schema = schema;
  p->tid_col = -1;
  p->hint.min_start_time = INT64_MIN;
  p->hint.max_start_time = INT64_MAX;

  /* expand '*' */
  int32_t n_out = 0;
  for (int32_t i = 0; i < st->n_items; i++)
    n_out += st->items[i].expr->kind == OA_N_STAR
                 ? (int32_t)(schema ? schema->n_fields : 0)
                 : 1;
  for (int32_t i = 0; i < st->n_items; i++)
    if (st->items[i].expr->kind == OA_N_STAR && !schema)
      return oa_qerr(err, st->items[i].expr->line, st->items[i].expr->col,
                     "SELECT * needs a FROM table");
  p->out = oa_qarena_alloc(arena, (int64_t)sizeof(oa_qnode *) * (n_out + 1));
  p->out_names = oa_qarena_alloc(arena, (int64_t)sizeof(char *) * (n_out + 1));
  if (!p->out || !p->out_names) return nomem(b);
  int32_t k = 0;
  for (int32_t i = 0; i < st->n_items; i++) {
    oa_qselect_item *it = &st->items[i];
    if (it->expr->kind == OA_N_STAR) {
      for (int64_t c = 0; c < schema->n_fields; c++) {
        oa_qnode *n = alloc_node(b, OA_N_COL, it->expr);
        if (!n) return nomem(b);
        n->name = schema->fields[c].name;
        n->name_len = (int32_t)strlen(n->name);
        p->out_names[k] = schema->fields[c].name;
        p->out[k++] = n;
      }
      continue;
    }
    p->out[k] = it->expr;
    if (it->alias) {
      p->out_names[k] = dup_name(b, it->alias, it->alias_len);
    } else if (it->expr->kind == OA_N_COL) {
      p->out_names[k] = dup_name(b, it->expr->name, it->expr->name_len);
    } else if (it->expr->name && it->expr->kind != OA_N_CAST) {
      /* func(...) */
      p->out_names[k] = dup_name(b, it->expr->name, it->expr->name_len);
    } else {
      char buf[32];
      snprintf(buf, sizeof buf, "col%d", k + 1);
      p->out_names[k] = dup_name(b, buf, (int64_t)strlen(buf));
    }
    if (!p->out_names[k]) return nomem(b);
    k++;
  }
  p->n_out = n_out;

  if (st->where) {
    if (has_agg(st->where)) {
      b->allow_agg = false;
    }
    p->where = st->where;
    OA_RETURN_NOT_OK(bind_bool(b, &p->where));
  }
  /* GROUP BY: expressions, output aliases or ordinals (pre-agg) */
  bool aggregate = st->n_group > 0 || st->having != NULL;
  oa_qnode **unbound =
      oa_qarena_alloc(arena, (int64_t)sizeof(oa_qnode *) * (n_out + 1));
  if (!unbound) return nomem(b);
  for (int32_t i = 0; i < n_out; i++) {
    unbound[i] = copy_tree(b, p->out[i]);
    if (!unbound[i]) return nomem(b);
    if (has_agg(p->out[i])) aggregate = true;
  }
  if (st->distinct && !aggregate) {
    /* SELECT DISTINCT a, b == GROUP BY a, b */
    aggregate = true;
    p->group =
        oa_qarena_alloc(arena, (int64_t)sizeof(oa_qnode *) * (n_out + 1));
    if (!p->group) return nomem(b);
    for (int32_t i = 0; i < n_out; i++) {
      p->group[i] = unbound[i];
      OA_RETURN_NOT_OK(bind(b, &p->group[i]));
    }
    p->n_group = n_out;
  } else if (st->n_group) {
    p->group =
        oa_qarena_alloc(arena, (int64_t)sizeof(oa_qnode *) * st->n_group);
    if (!p->group) return nomem(b);
    for (int32_t i = 0; i < st->n_group; i++) {
      oa_qnode *g = st->group[i];
      bool bad;
      oa_qnode *ref = NULL;
      if (g->kind == OA_N_COL && find_column(schema, g->name, g->name_len) >= 0)
        ref = NULL;
      else
        ref = output_ref(p, g, &bad, unbound, n_out);
      if (g->kind == OA_N_LIT && g->lit_type == OA_Q_INT && !ref)
        return oa_qerr(err, g->line, g->col,
                       "GROUP BY position %lld is not in the select list",
                       (long long)g->lit_i);
      p->group[i] = ref ? copy_tree(b, ref) : g;
      if (!p->group[i]) return nomem(b);
      if (has_agg(p->group[i]))
        return oa_qerr(err, g->line, g->col,
                       "aggregates are not allowed in GROUP BY");
      OA_RETURN_NOT_OK(bind(b, &p->group[i]));
    }
    p->n_group = st->n_group;
  }
  p->aggregate = aggregate;
  b->allow_agg = aggregate;
  for (int32_t i = 0; i < n_out; i++) {
    OA_RETURN_NOT_OK(bind(b, &p->out[i]));
  }
  if (st->having) {
    p->having = st->having;
    OA_RETURN_NOT_OK(bind_bool(b, &p->having));
  }
  /* ORDER BY */
  if (st->n_order) {
    p->order = oa_qarena_alloc(arena, (int64_t)sizeof(oa_qorder) * st->n_order);
    if (!p->order) return nomem(b);
    for (int32_t i = 0; i < st->n_order; i++) {
      p->order[i] = st->order[i];
      oa_qnode *e = st->order[i].expr;
      bool bad;
      oa_qnode *ref = output_ref(p, e, &bad, p->out, n_out);
      if (bad)
        return oa_qerr(err, e->line, e->col,
                       "ORDER BY position %lld is not in the select list",
                       (long long)e->lit_i);
      if (ref) {
        p->order[i].expr = ref; /* shares the bound output expression */
        p->order[i].nulls_first = st->order[i].nulls_first;
        p->order[i].desc = st->order[i].desc;
        /* mark as already bound: index of output */
        continue;
      }
      if (!aggregate) b->allow_agg = false;
      OA_RETURN_NOT_OK(bind(b, &p->order[i].expr));
    }
  }
  p->n_order = st->n_order;
  p->aggs =
      oa_qarena_alloc(arena, (int64_t)sizeof(oa_qnode *) * (b->n_aggs + 1));
  if (!p->aggs) return nomem(b);
  memcpy(p->aggs, b->aggs, sizeof(oa_qnode *) * (size_t)b->n_aggs);
  p->n_aggs = b->n_aggs;
  if (aggregate) {
    /* the output may already hold slots when ORDER BY shares an output */
    for (int32_t i = 0; i < n_out; i++)
      OA_RETURN_NOT_OK(to_slots(b, p, &p->out[i]));
    if (p->having) OA_RETURN_NOT_OK(to_slots(b, p, &p->having));
    for (int32_t i = 0; i < p->n_order; i++) {
      OA_RETURN_NOT_OK(to_slots(b, p, &p->order[i].expr));
    }
  }
  return 0;
}
