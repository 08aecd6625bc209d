/* Vectorized expression evaluation: every node turns into one oa_qvec over
 * the selected rows of a batch (or of the post-aggregation slots). */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "otlparrow/format.h"
#include "otlparrow/otlp.h"
#include "query/qfunc.h"
#include "query/query_internal.h"

#define ENOMEM_EV(ev) oa_error_set((ev)->err, ENOMEM, "out of memory in query")

int oa_qvec_alloc(oa_qarena *a, oa_qtype t, int64_t n, oa_qvec *out) {
  memset(out, 0, sizeof *out);
  out->type = t;
  out->n = n;
  int64_t m = n ? n : 1;
  switch (t) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    out->i = oa_qarena_alloc(a, m * 8);
    return out->i ? 0 : ENOMEM;
  case OA_Q_DOUBLE:
    out->d = oa_qarena_alloc(a, m * 8);
    return out->d ? 0 : ENOMEM;
  case OA_Q_BOOL:
    out->b = oa_qarena_alloc(a, m);
    return out->b ? 0 : ENOMEM;
  case OA_Q_STR:
  case OA_Q_BIN:
    out->s = oa_qarena_alloc(a, m * (int64_t)sizeof(oa_qstr));
    return out->s ? 0 : ENOMEM;
  case OA_Q_NULL:
    out->null = oa_qarena_alloc(a, m);
    if (!out->null) return ENOMEM;
    memset(out->null, 1, (size_t)m);
    return 0;
  }
  return 0;
}

static int ensure_nulls(oa_qeval *ev, oa_qvec *v) {
  if (v->null) return 0;
  v->null = oa_qarena_calloc(ev->tmp, v->n ? v->n : 1);
  return v->null ? 0 : ENOMEM_EV(ev);
}

static inline int64_t row_of(const oa_qeval *ev, int64_t k) {
  return ev->sel ? ev->sel[k] : k;
}

/* ------------------------------------------------------------ loading */

/* Wrapping multiply: out-of-range times wrap like the span schema's 64-bit
 * nanoseconds do, and never hit signed-overflow UB. */
static inline int64_t wmul(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* Saturating multiply for time buckets. */
static inline int64_t smul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
  return r;
}

static int64_t unit_mult(oa_time_unit u) {
  switch (u) {
  case OA_TIME_UNIT_SECOND:
    return 1000000000LL;
  case OA_TIME_UNIT_MILLI:
    return 1000000LL;
  case OA_TIME_UNIT_MICRO:
    return 1000LL;
  default:
    return 1;
  }
}

static int load_value(oa_qeval *ev, const oa_field *f, const oa_array *a,
                      int64_t r, oa_qvec *out, int64_t k) {
  if (oa_array_is_null(f, a, r)) {
    out->null[k] = 1;
    return 0;
  }
  if (f->dict.encoded) {
    if (!a->dictionary) {
      out->null[k] = 1;
      return 0;
    }
    oa_field vf = *f;
    vf.dict.encoded = false;
    int64_t di = oa_array_get_dict_index(f, a, r);
    if (di < 0 || di >= a->dictionary->length) {
      out->null[k] = 1;
      return 0;
    }
    return load_value(ev, &vf, a->dictionary, di, out, k);
  }
  switch (out->type) {
  case OA_Q_BOOL:
    out->b[k] = oa_bit_get(a->buffers[1].data, a->offset + r);
    return 0;
  case OA_Q_INT:
    if (f->type.id == OA_TYPE_UINT64)
      out->i[k] = (int64_t)oa_array_get_uint(f, a, r);
    else
      out->i[k] = oa_array_get_int(f, a, r);
    return 0;
  case OA_Q_DOUBLE:
    if (f->type.id == OA_TYPE_DECIMAL128) {
      /* low 64 bits are enough for the values telemetry carries */
      int64_t lo;
      memcpy(&lo, a->buffers[1].data + (a->offset + r) * 16, 8);
      out->d[k] = (double)lo / pow(10, f->type.scale);
    } else {
      out->d[k] = oa_array_get_double(f, a, r);
    }
    return 0;
  case OA_Q_TS:
    if (f->type.id == OA_TYPE_DATE32)
      out->i[k] = wmul(oa_array_get_int(f, a, r), 86400000000000LL);
    else if (f->type.id == OA_TYPE_DATE64)
      out->i[k] = wmul(oa_array_get_int(f, a, r), 1000000LL);
    else
      out->i[k] = wmul(oa_array_get_int(f, a, r), unit_mult(f->type.unit));
    return 0;
  case OA_Q_DUR:
    out->i[k] = wmul(oa_array_get_int(f, a, r), unit_mult(f->type.unit));
    return 0;
  case OA_Q_STR:
  case OA_Q_BIN: {
    oa_type_id id = f->type.id;
    if (id == OA_TYPE_STRING || id == OA_TYPE_LARGE_STRING ||
        id == OA_TYPE_BINARY || id == OA_TYPE_LARGE_BINARY ||
        id == OA_TYPE_FIXED_SIZE_BINARY) {
      int64_t len;
      out->s[k].p = oa_array_get_bytes(f, a, r, &len);
      out->s[k].len = len;
      return 0;
    }
    /* nested: JSON text */
    oa_bytes tmp;
    oa_bytes_init(&tmp);
    int rc = oa_format_value(f, a, r, OA_FORMAT_JSON, &tmp, ev->err);
    if (rc) {
      oa_bytes_reset(&tmp);
      return rc;
    }
    uint8_t *p = oa_qarena_alloc(ev->tmp, tmp.size + 1);
    if (!p) {
      oa_bytes_reset(&tmp);
      return ENOMEM_EV(ev);
    }
    if (tmp.size) memcpy(p, tmp.data, (size_t)tmp.size);
    out->s[k].p = p;
    out->s[k].len = tmp.size;
    oa_bytes_reset(&tmp);
    return 0;
  }
  default:
    out->null[k] = 1;
    return 0;
  }
}

static int load_column(oa_qeval *ev, int64_t c, oa_qvec *out) {
  const oa_field *f = &ev->schema->fields[c];
  const oa_array *a = &ev->batch->columns[c];
  int32_t w;
  oa_qtype t = oa_qtype_of_field(f, &w);
  int64_t n = ev->n;
  if (oa_qvec_alloc(ev->tmp, t, n, out)) return ENOMEM_EV(ev);
  if (t == OA_Q_NULL) return 0;
  bool has_nulls =
      f->dict.encoded || f->type.id == OA_TYPE_DENSE_UNION ||
      f->type.id == OA_TYPE_SPARSE_UNION ||
      (a->null_count != 0 && a->n_buffers > 0 && a->buffers[0].data);
  const uint8_t *valid =
      (!f->dict.encoded && has_nulls) ? a->buffers[0].data : NULL;
  if (has_nulls && ensure_nulls(ev, out)) return ENOMEM;
  int64_t off = a->offset;
  /* fast paths for the common plain layouts */
  if (!f->dict.encoded) {
    const uint8_t *d1 = a->n_buffers > 1 ? a->buffers[1].data : NULL;
    switch (f->type.id) {
    case OA_TYPE_INT64:
    case OA_TYPE_TIMESTAMP:
    case OA_TYPE_DURATION: {
      int64_t m = f->type.id == OA_TYPE_INT64 ? 1 : unit_mult(f->type.unit);
      const int64_t *v = (const int64_t *)d1 + off;
      if (m == 1)
        for (int64_t k = 0; k < n; k++)
          out->i[k] = v[row_of(ev, k)];
      else
        for (int64_t k = 0; k < n; k++)
          out->i[k] = wmul(v[row_of(ev, k)], m);
      goto nulls;
    }
    case OA_TYPE_INT32: {
      const int32_t *v = (const int32_t *)d1 + off;
      for (int64_t k = 0; k < n; k++)
        out->i[k] = v[row_of(ev, k)];
      goto nulls;
    }
    case OA_TYPE_UINT32: {
      const uint32_t *v = (const uint32_t *)d1 + off;
      for (int64_t k = 0; k < n; k++)
        out->i[k] = v[row_of(ev, k)];
      goto nulls;
    }
    case OA_TYPE_DOUBLE: {
      /* Arrow buffers are 64-byte aligned: the cast is sound */
      const double *v =
          (const double *)d1 + off; // cppcheck-suppress invalidPointerCast
      for (int64_t k = 0; k < n; k++)
        out->d[k] = v[row_of(ev, k)];
      goto nulls;
    }
    case OA_TYPE_FIXED_SIZE_BINARY: {
      int64_t bw = f->type.byte_width;
      for (int64_t k = 0; k < n; k++) {
        out->s[k].p = d1 + (off + row_of(ev, k)) * bw;
        out->s[k].len = bw;
      }
      goto nulls;
    }
    case OA_TYPE_STRING:
    case OA_TYPE_BINARY: {
      const int32_t *o = (const int32_t *)d1 + off;
      static const uint8_t empty = 0;
      const uint8_t *data = a->buffers[2].data ? a->buffers[2].data : &empty;
      for (int64_t k = 0; k < n; k++) {
        int64_t r = row_of(ev, k);
        out->s[k].p = data + o[r];
        out->s[k].len = o[r + 1] - o[r];
      }
      goto nulls;
    }
    default:
      break;
    }
  } else if (f->type.id == OA_TYPE_STRING && a->dictionary &&
             (f->dict.index_type == OA_TYPE_INT32 ||
              f->dict.index_type == OA_TYPE_UINT32)) {
    const int32_t *idx = (const int32_t *)a->buffers[1].data + off;
    const oa_array *d = a->dictionary;
    const int32_t *o = (const int32_t *)d->buffers[1].data + d->offset;
    static const uint8_t empty_d = 0;
    const uint8_t *data = d->buffers[2].data ? d->buffers[2].data : &empty_d;
    const uint8_t *dvalid = d->null_count != 0 ? d->buffers[0].data : NULL;
    const uint8_t *ivalid = a->null_count != 0 ? a->buffers[0].data : NULL;
    for (int64_t k = 0; k < n; k++) {
      int64_t r = row_of(ev, k);
      if (ivalid && !oa_bit_get(ivalid, off + r)) {
        out->null[k] = 1;
        continue;
      }
      int64_t di = idx[r];
      if (di < 0 || di >= d->length ||
          (dvalid && !oa_bit_get(dvalid, d->offset + di))) {
        out->null[k] = 1;
        continue;
      }
      out->s[k].p = data + o[di];
      out->s[k].len = o[di + 1] - o[di];
    }
    return 0;
  }
  for (int64_t k = 0; k < n; k++)
    OA_RETURN_NOT_OK(load_value(ev, f, a, row_of(ev, k), out, k));
  return 0;
nulls:
  if (valid)
    for (int64_t k = 0; k < n; k++)
      out->null[k] = !oa_bit_get(valid, off + row_of(ev, k));
  return 0;
}

/* out[k] = x[j]: one value of the engine type they share. */
static inline void copy_value(oa_qvec *out, int64_t k, const oa_qvec *x,
                              int64_t j) {
  switch (x->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    out->i[k] = x->i[j];
    break;
  case OA_Q_DOUBLE:
    out->d[k] = x->d[j];
    break;
  case OA_Q_BOOL:
    out->b[k] = x->b[j];
    break;
  default:
    out->s[k] = x->s[j];
  }
}

/* Gathers slot column c at the selected rows. */
static int load_slot(oa_qeval *ev, int64_t c, oa_qvec *out) {
  const oa_qvec *src = &ev->slots[c];
  if (!ev->sel) {
    *out = *src;
    out->n = ev->n;
    return 0;
  }
  if (oa_qvec_alloc(ev->tmp, src->type, ev->n, out)) return ENOMEM_EV(ev);
  if (src->type == OA_Q_NULL) return 0;
  if (src->null) {
    if (ensure_nulls(ev, out)) return ENOMEM;
    for (int64_t k = 0; k < ev->n; k++)
      out->null[k] = src->null[ev->sel[k]];
  }
  for (int64_t k = 0; k < ev->n; k++)
    copy_value(out, k, src, ev->sel[k]);
  return 0;
}

/* ------------------------------------------------------------ literals */

static int eval_lit(oa_qeval *ev, const oa_qnode *n, oa_qvec *out) {
  if (oa_qvec_alloc(ev->tmp, n->type, ev->n, out)) return ENOMEM_EV(ev);
  int64_t m = ev->n;
  if (n->lit_null) {
    if (ensure_nulls(ev, out)) return ENOMEM;
    memset(out->null, 1, (size_t)(m ? m : 1));
    return 0;
  }
  switch (n->type) {
  case OA_Q_NULL:
    return 0;
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    for (int64_t k = 0; k < m; k++)
      out->i[k] = n->lit_i;
    return 0;
  case OA_Q_DOUBLE:
    for (int64_t k = 0; k < m; k++)
      out->d[k] = n->lit_d;
    return 0;
  case OA_Q_BOOL:
    memset(out->b, n->lit_i ? 1 : 0, (size_t)m);
    return 0;
  case OA_Q_STR:
  case OA_Q_BIN:
    for (int64_t k = 0; k < m; k++)
      out->s[k] = n->lit_s;
    return 0;
  }
  return 0;
}

/* --------------------------------------------------------- formatting */

static const char hexdig[] = "0123456789abcdef";

int oa_qformat_value(const oa_qvec *v, int64_t i, char *buf, size_t cap) {
  if (v->null && v->null[i]) return snprintf(buf, cap, "NULL");
  switch (v->type) {
  case OA_Q_INT:
  case OA_Q_DUR:
    return snprintf(buf, cap, "%" PRId64, v->i[i]);
  case OA_Q_TS: {
    int64_t ns = v->i[i];
    /* floor division without negating (INT64_MIN has no positive twin) */
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
      frac += 1000000000;
      secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
      sod += 86400;
      days--;
    }
    int64_t y, m, d;
    oa_qcivil_from_days(days, &y, &m, &d);
    if (frac)
      return snprintf(buf, cap,
                      "%04" PRId64 "-%02" PRId64 "-%02" PRId64 " %02" PRId64
                      ":%02" PRId64 ":%02" PRId64 ".%09" PRId64,
                      y, m, d, sod / 3600, sod / 60 % 60, sod % 60, frac);
    return snprintf(buf, cap,
                    "%04" PRId64 "-%02" PRId64 "-%02" PRId64 " %02" PRId64
                    ":%02" PRId64 ":%02" PRId64,
                    y, m, d, sod / 3600, sod / 60 % 60, sod % 60);
  }
  case OA_Q_DOUBLE: {
    double x = v->d[i];
    if (x == floor(x) && fabs(x) < 1e15) return snprintf(buf, cap, "%.1f", x);
    return snprintf(buf, cap, "%.17g", x);
  }
  case OA_Q_BOOL:
    return snprintf(buf, cap, "%s", v->b[i] ? "true" : "false");
  case OA_Q_STR:
    return snprintf(buf, cap, "%.*s", (int)v->s[i].len, v->s[i].p);
  case OA_Q_BIN: {
    size_t k = 0;
    for (int64_t j = 0; j < v->s[i].len && k + 3 < cap; j++) {
      buf[k++] = hexdig[v->s[i].p[j] >> 4];
      buf[k++] = hexdig[v->s[i].p[j] & 15];
    }
    if (cap) buf[k < cap ? k : cap - 1] = 0;
    return (int)(v->s[i].len * 2);
  }
  default:
    return snprintf(buf, cap, "NULL");
  }
}

/* ------------------------------------------------------------ casts */

static int eval_cast(oa_qeval *ev, const oa_qvec *a, oa_qtype t, oa_qvec *out) {
  int64_t n = ev->n;
  if (oa_qvec_alloc(ev->tmp, t, n, out)) return ENOMEM_EV(ev);
  if (a->type == OA_Q_NULL) {
    if (ensure_nulls(ev, out)) return ENOMEM;
    memset(out->null, 1, (size_t)(n ? n : 1));
    return 0;
  }
  if (ensure_nulls(ev, out)) return ENOMEM;
  if (a->null) memcpy(out->null, a->null, (size_t)n);
  for (int64_t k = 0; k < n; k++) {
    if (out->null[k]) continue;
    switch (t) {
    case OA_Q_DOUBLE:
      if (a->type == OA_Q_STR) {
        char buf[64];
        int64_t l = a->s[k].len < 63 ? a->s[k].len : 63;
        memcpy(buf, a->s[k].p, (size_t)l);
        buf[l] = 0;
        char *e;
        out->d[k] = strtod(buf, &e);
        if (e == buf || *e) out->null[k] = 1;
      } else if (a->type == OA_Q_DOUBLE) {
        out->d[k] = a->d[k];
      } else if (a->type == OA_Q_BOOL) {
        out->d[k] = a->b[k];
      } else {
        out->d[k] = (double)a->i[k];
      }
      break;
    case OA_Q_INT:
    case OA_Q_TS:
    case OA_Q_DUR:
      if (a->type == OA_Q_STR) {
        if (t == OA_Q_TS) {
          if (oa_qparse_timestamp((const char *)a->s[k].p, a->s[k].len,
                                  &out->i[k]))
            out->null[k] = 1;
        } else if (t == OA_Q_DUR) {
          if (oa_qparse_interval((const char *)a->s[k].p, a->s[k].len,
                                 &out->i[k]))
            out->null[k] = 1;
        } else {
          char buf[64];
          int64_t l = a->s[k].len < 63 ? a->s[k].len : 63;
          memcpy(buf, a->s[k].p, (size_t)l);
          buf[l] = 0;
          char *e;
          errno = 0;
          long long x = strtoll(buf, &e, 10);
          if (e == buf || *e || errno) {
            double dx = strtod(buf, &e);
            if (e == buf || *e || !(fabs(dx) < 9.2e18))
              out->null[k] = 1;
            else
              out->i[k] = (int64_t)llround(dx);
          } else {
            out->i[k] = x;
          }
        }
      } else if (a->type == OA_Q_DOUBLE) {
        double x = a->d[k];
        if (t == OA_Q_TS) x *= 1e9; /* seconds since the epoch */
        if (!(fabs(x) < 9.2e18))
          out->null[k] = 1;
        else
          out->i[k] = (int64_t)llround(x);
      } else if (a->type == OA_Q_BOOL) {
        out->i[k] = a->b[k];
      } else {
        out->i[k] = a->i[k];
      }
      break;
    case OA_Q_BOOL:
      if (a->type == OA_Q_STR) {
        const oa_qstr *s = &a->s[k];
        if ((s->len == 4 && !strncasecmp((const char *)s->p, "true", 4)) ||
            (s->len == 1 && (s->p[0] == 't' || s->p[0] == '1')))
          out->b[k] = 1;
        else if ((s->len == 5 &&
                  !strncasecmp((const char *)s->p, "false", 5)) ||
                 (s->len == 1 && (s->p[0] == 'f' || s->p[0] == '0')))
          out->b[k] = 0;
        else
          out->null[k] = 1;
      } else if (a->type == OA_Q_BOOL) {
        out->b[k] = a->b[k];
      } else {
        out->b[k] = a->i[k] != 0;
      }
      break;
    case OA_Q_BIN:
      out->s[k] = a->s[k];
      break;
    case OA_Q_STR: {
      if (a->type == OA_Q_STR) {
        out->s[k] = a->s[k];
        break;
      }
      char buf[96];
      int len;
      if (a->type == OA_Q_BIN) {
        len = (int)(a->s[k].len * 2);
        char *p = oa_qarena_alloc(ev->tmp, len + 1);
        if (!p) return ENOMEM_EV(ev);
        for (int64_t j = 0; j < a->s[k].len; j++) {
          p[2 * j] = hexdig[a->s[k].p[j] >> 4];
          p[2 * j + 1] = hexdig[a->s[k].p[j] & 15];
        }
        out->s[k].p = (const uint8_t *)p;
        out->s[k].len = len;
        break;
      }
      len = oa_qformat_value(a, k, buf, sizeof buf);
      if (len < 0) len = 0;
      if (len >= (int)sizeof buf) len = (int)sizeof buf - 1;
      char *p = oa_qarena_alloc(ev->tmp, len + 1);
      if (!p) return ENOMEM_EV(ev);
      memcpy(p, buf, (size_t)len);
      out->s[k].p = (const uint8_t *)p;
      out->s[k].len = len;
      break;
    }
    default:
      out->null[k] = 1;
    }
  }
  return 0;
}

/* ------------------------------------------------------ comparisons */

static inline int cmp_bytes(const oa_qstr *a, const oa_qstr *b) {
  int64_t m = a->len < b->len ? a->len : b->len;
  int c = m ? memcmp(a->p, b->p, (size_t)m) : 0;
  if (c) return c;
  return (a->len > b->len) - (a->len < b->len);
}

/* Three-way compare of row k of a and row j of b (same type, non-null). */
static inline int cmp_val(const oa_qvec *a, int64_t k, const oa_qvec *b,
                          int64_t j) {
  switch (a->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    return (a->i[k] > b->i[j]) - (a->i[k] < b->i[j]);
  case OA_Q_DOUBLE: {
    double x = a->d[k], y = b->d[j];
    /* NaN sorts above everything and equals itself (as in DuckDB) */
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x > y) - (x < y);
  }
  case OA_Q_BOOL:
    return (a->b[k] > b->b[j]) - (a->b[k] < b->b[j]);
  case OA_Q_STR:
  case OA_Q_BIN:
    return cmp_bytes(&a->s[k], &b->s[j]);
  default:
    return 0;
  }
}

int oa_qcmp_rows(const oa_qvec *a, int64_t k, const oa_qvec *b, int64_t j);
int oa_qcmp_rows(const oa_qvec *a, int64_t k, const oa_qvec *b, int64_t j) {
  return cmp_val(a, k, b, j);
}

static int merge_nulls(oa_qeval *ev, const oa_qvec *a, const oa_qvec *b,
                       oa_qvec *out) {
  if (!a->null && !b->null) return 0;
  if (ensure_nulls(ev, out)) return ENOMEM;
  for (int64_t k = 0; k < ev->n; k++)
    out->null[k] = (a->null && a->null[k]) || (b->null && b->null[k]);
  return 0;
}

static int eval_cmp(oa_qeval *ev, const char *op, const oa_qvec *a,
                    const oa_qvec *b, oa_qvec *out) {
  int64_t n = ev->n;
  if (oa_qvec_alloc(ev->tmp, OA_Q_BOOL, n, out)) return ENOMEM_EV(ev);
  OA_RETURN_NOT_OK(merge_nulls(ev, a, b, out));
  int kind; /* 0 = 1 <> 2 < 3 <= 4 > 5 >= */
  if (!strcmp(op, "="))
    kind = 0;
  else if (!strcmp(op, "<>"))
    kind = 1;
  else if (!strcmp(op, "<"))
    kind = 2;
  else if (!strcmp(op, "<="))
    kind = 3;
  else if (!strcmp(op, ">"))
    kind = 4;
  else
    kind = 5;
  if (a->type == OA_Q_NULL || b->type == OA_Q_NULL) {
    if (ensure_nulls(ev, out)) return ENOMEM;
    memset(out->null, 1, (size_t)(n ? n : 1));
    return 0;
  }
  uint8_t *r = out->b;
  if (a->type == OA_Q_INT || a->type == OA_Q_TS || a->type == OA_Q_DUR) {
    const int64_t *x = a->i, *y = b->i;
#define LOOP(expr)                                                             \
  for (int64_t k = 0; k < n; k++)                                              \
    r[k] = (expr);
    switch (kind) {
    case 0:
      LOOP(x[k] == y[k]) break;
    case 1:
      LOOP(x[k] != y[k]) break;
    case 2:
      LOOP(x[k] < y[k]) break;
    case 3:
      LOOP(x[k] <= y[k]) break;
    case 4:
      LOOP(x[k] > y[k]) break;
    default:
      LOOP(x[k] >= y[k]) break;
    }
    return 0;
  }
  /* a null row's value is whatever its producer left there (a dangling
   * pointer in reused memory): bytes are compared on non-null rows only */
  const uint8_t *nul = out->null;
  if (a->type == OA_Q_STR || a->type == OA_Q_BIN) {
    if (kind <= 1) {
      for (int64_t k = 0; k < n; k++) {
        if (nul && nul[k]) {
          r[k] = 0;
          continue;
        }
        bool eq = a->s[k].len == b->s[k].len &&
                  (a->s[k].len == 0 ||
                   memcmp(a->s[k].p, b->s[k].p, (size_t)a->s[k].len) == 0);
        r[k] = kind == 0 ? eq : !eq;
      }
      return 0;
    }
  }
  for (int64_t k = 0; k < n; k++) {
    if (nul && nul[k]) {
      r[k] = 0;
      continue;
    }
    int c = cmp_val(a, k, b, k);
    switch (kind) {
    case 0:
      r[k] = c == 0;
      break;
    case 1:
      r[k] = c != 0;
      break;
    case 2:
      r[k] = c < 0;
      break;
    case 3:
      r[k] = c <= 0;
      break;
    case 4:
      r[k] = c > 0;
      break;
    default:
      r[k] = c >= 0;
      break;
    }
  }
#undef LOOP
  return 0;
}

/* ------------------------------------------------------ arithmetic */

static int eval_arith(oa_qeval *ev, const oa_qnode *node, const oa_qvec *a,
                      const oa_qvec *b, oa_qvec *out) {
  int64_t n = ev->n;
  if (oa_qvec_alloc(ev->tmp, node->type, n, out)) return ENOMEM_EV(ev);
  OA_RETURN_NOT_OK(merge_nulls(ev, a, b, out));
  char o = node->op[0];
  if (node->type == OA_Q_DOUBLE) {
    const double *x = a->d, *y = b->d;
    double *r = out->d;
    for (int64_t k = 0; k < n; k++) {
      switch (o) {
      case '+':
        r[k] = x[k] + y[k];
        break;
      case '-':
        r[k] = x[k] - y[k];
        break;
      case '*':
        r[k] = x[k] * y[k];
        break;
      case '/':
        if (y[k] == 0) {
          if (ensure_nulls(ev, out)) return ENOMEM;
          out->null[k] = 1;
          r[k] = 0;
        } else {
          r[k] = x[k] / y[k];
        }
        break;
      default:
        if (y[k] == 0) {
          if (ensure_nulls(ev, out)) return ENOMEM;
          out->null[k] = 1;
          r[k] = 0;
        } else {
          r[k] = fmod(x[k], y[k]);
        }
      }
    }
    return 0;
  }
  const int64_t *x = a->i, *y = b->i;
  int64_t *r = out->i;
  for (int64_t k = 0; k < n; k++) {
    uint64_t ux = (uint64_t)x[k], uy = (uint64_t)y[k];
    switch (o) {
    case '+':
      r[k] = (int64_t)(ux + uy);
      break; /* wraps, never UB */
    case '-':
      r[k] = (int64_t)(ux - uy);
      break;
    case '*':
      r[k] = (int64_t)(ux * uy);
      break;
    default:
      if (y[k] == 0 || (y[k] == -1 && x[k] == INT64_MIN)) {
        if (ensure_nulls(ev, out)) return ENOMEM;
        out->null[k] = 1;
        r[k] = 0;
      } else {
        r[k] = o == '/' ? x[k] / y[k] : x[k] % y[k];
      }
    }
  }
  return 0;
}

/* ------------------------------------------------------------ LIKE */

static bool like_match(const uint8_t *s, int64_t sl, const uint8_t *p,
                       int64_t pl, bool ci) {
  int64_t si = 0, pi = 0, star_p = -1, star_s = 0;
  while (si < sl) {
    if (pi < pl && p[pi] == '\\' && pi + 1 < pl) {
      if ((ci ? tolower(p[pi + 1]) == tolower(s[si]) : p[pi + 1] == s[si])) {
        si++;
        pi += 2;
        continue;
      }
    } else if (pi < pl &&
               (p[pi] == '_' ||
                (ci ? tolower(p[pi]) == tolower(s[si]) : p[pi] == s[si])) &&
               p[pi] != '%') {
      si++;
      pi++;
      continue;
    }
    if (pi < pl && p[pi] == '%') {
      star_p = pi++;
      star_s = si;
      continue;
    }
    if (star_p >= 0) {
      pi = star_p + 1;
      si = ++star_s;
      continue;
    }
    return false;
  }
  while (pi < pl && p[pi] == '%')
    pi++;
  return pi == pl;
}

/* ------------------------------------------------------------ attrs */

static int eval_index(oa_qeval *ev, const oa_qnode *node, oa_qvec *out) {
  int64_t n = ev->n;
  if (oa_qvec_alloc(ev->tmp, node->type, n, out)) return ENOMEM_EV(ev);
  if (ensure_nulls(ev, out)) return ENOMEM;
  memset(out->null, 1, (size_t)(n ? n : 1));
  const oa_field *f = &ev->schema->fields[node->column];
  const oa_array *col = &ev->batch->columns[node->column];
  const oa_qstr key = node->args[1]->lit_s;
  const oa_field *ef = &f->children[0];
  const oa_field *kf = &ef->children[0];
  const oa_field *vf = &ef->children[1];
  /* dictionary-encoded keys: find the matching dictionary entries once */
  const uint8_t *key_hit = NULL;
  const oa_array *key_dict = NULL;
  for (int64_t k = 0; k < n; k++) {
    int64_t r = row_of(ev, k);
    const oa_array *m = col;
    if (oa_array_is_null(f, col, r)) continue;
    if (f->dict.encoded) {
      if (!col->dictionary) continue;
      r = oa_array_get_dict_index(f, col, r);
      m = col->dictionary;
      if (r < 0 || r >= m->length) continue;
    }
    const int32_t *offs = (const int32_t *)m->buffers[1].data + m->offset;
    int64_t lo = offs[r], hi = offs[r + 1];
    const oa_array *entries = &m->children[0];
    const oa_array *keys = &entries->children[0];
    const oa_array *vals = &entries->children[1];
    for (int64_t e = lo; e < hi; e++) {
      int64_t ke = entries->offset + e;
      if (kf->dict.encoded) {
        if (!keys->dictionary) break;
        if (key_dict != keys->dictionary) {
          key_dict = keys->dictionary;
          uint8_t *hit = oa_qarena_calloc(ev->tmp, key_dict->length + 1);
          if (!hit) return ENOMEM_EV(ev);
          oa_field vkf = *kf;
          vkf.dict.encoded = false;
          for (int64_t d = 0; d < key_dict->length; d++) {
            if (oa_array_is_null(&vkf, key_dict, d)) continue;
            int64_t kl;
            const uint8_t *kp = oa_array_get_bytes(&vkf, key_dict, d, &kl);
            hit[d] = kl == key.len &&
                     (kl == 0 || memcmp(kp, key.p, (size_t)kl) == 0);
          }
          key_hit = hit;
        }
        int64_t di = oa_array_get_dict_index(kf, keys, ke);
        if (di < 0 || di >= key_dict->length || !key_hit[di]) continue;
      } else {
        int64_t kl;
        const uint8_t *kp = oa_array_get_bytes(kf, keys, ke, &kl);
        if (kl != key.len || (kl && memcmp(kp, key.p, (size_t)kl) != 0))
          continue;
      }
      /* the value: dense union child or plain */
      const oa_field *cf = vf;
      const oa_array *ca = vals;
      int64_t cr = ke;
      if (vf->type.id == OA_TYPE_DENSE_UNION) {
        int c;
        cr = oa_union_child_row_(vf, vals, ke, &c);
        if (c < 0 || c >= vals->n_children) break;
        cf = &vf->children[c];
        ca = &vals->children[c];
      }
      if (oa_array_is_null(cf, ca, cr)) break;
      oa_type_id id = cf->type.id;
      switch (node->attr_mode) {
      case OA_QATTR_STR:
        if (id == OA_TYPE_STRING || id == OA_TYPE_LARGE_STRING) {
          int64_t l;
          out->s[k].p = oa_array_get_bytes(cf, ca, cr, &l);
          out->s[k].len = l;
          out->null[k] = 0;
        }
        break;
      case OA_QATTR_NUM:
        if (oa_type_is_integer(id)) {
          out->d[k] = (double)oa_array_get_int(cf, ca, cr);
          out->null[k] = 0;
        } else if (id == OA_TYPE_DOUBLE || id == OA_TYPE_FLOAT) {
          out->d[k] = oa_array_get_double(cf, ca, cr);
          out->null[k] = 0;
        }
        break;
      case OA_QATTR_BOOL:
        if (id == OA_TYPE_BOOL) {
          out->b[k] = oa_bit_get(ca->buffers[1].data, ca->offset + cr);
          out->null[k] = 0;
        }
        break;
      default: {
        oa_bytes tmp;
        oa_bytes_init(&tmp);
        int rc = 0;
        if (id == OA_TYPE_STRING || id == OA_TYPE_LARGE_STRING) {
          int64_t l;
          out->s[k].p = oa_array_get_bytes(cf, ca, cr, &l);
          out->s[k].len = l;
          out->null[k] = 0;
          break;
        }
        rc = oa_format_value(cf, ca, cr, OA_FORMAT_TEXT, &tmp, ev->err);
        if (rc) {
          oa_bytes_reset(&tmp);
          return rc;
        }
        uint8_t *p = oa_qarena_alloc(ev->tmp, tmp.size + 1);
        if (!p) {
          oa_bytes_reset(&tmp);
          return ENOMEM_EV(ev);
        }
        if (tmp.size) memcpy(p, tmp.data, (size_t)tmp.size);
        out->s[k].p = p;
        out->s[k].len = tmp.size;
        out->null[k] = 0;
        oa_bytes_reset(&tmp);
        break;
      }
      }
      break; /* first matching key wins */
    }
  }
  return 0;
}

/* ------------------------------------------------------------ functions */

static int64_t trunc_ts(int64_t ns, int u) {
  static const int64_t fixed[] = {1000LL,          1000000LL,
                                  1000000000LL,    60000000000LL,
                                  3600000000000LL, 86400000000000LL};
  if (u <= 5) {
    int64_t m = fixed[u];
    int64_t q = ns / m;
    if (ns % m < 0) q--;
    return smul(q, m);
  }
  int64_t day = ns / 86400000000000LL;
  if (ns % 86400000000000LL < 0) day--;
  if (u == 6) { /* week starts on Monday; 1970-01-01 was a Thursday */
    int64_t wd = ((day % 7) + 7 + 3) % 7;
    return smul(day - wd, 86400000000000LL);
  }
  int64_t y, m, d;
  oa_qcivil_from_days(day, &y, &m, &d);
  if (u == 7) return smul(oa_qdays_from_civil(y, m, 1), 86400000000000LL);
  if (u == 8)
    return smul(oa_qdays_from_civil(y, (m - 1) / 3 * 3 + 1, 1),
                86400000000000LL);
  return smul(oa_qdays_from_civil(y, 1, 1), 86400000000000LL);
}

static int eval_func(oa_qeval *ev, const oa_qnode *node, oa_qvec *out) {
  int64_t n = ev->n;
  oa_qvec av[64];
  for (int32_t i = 0; i < node->n_args && i < 64; i++) {
    if (node->fn == OA_QF_DATE_TRUNC && i == 0) continue;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[i], &av[i]));
  }
  if (oa_qvec_alloc(ev->tmp, node->type, n, out)) return ENOMEM_EV(ev);
  if (ensure_nulls(ev, out)) return ENOMEM;
  const oa_qvec *a = &av[node->fn == OA_QF_DATE_TRUNC ? 1 : 0];
  if (node->fn != OA_QF_COALESCE && a->type == OA_Q_NULL) {
    memset(out->null, 1, (size_t)(n ? n : 1));
    return 0;
  }
  if (node->fn != OA_QF_COALESCE && a->null)
    memcpy(out->null, a->null, (size_t)n);
  switch (node->fn) {
  case OA_QF_HEX:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      if (a->type == OA_Q_INT) {
        char buf[24];
        int l = snprintf(buf, sizeof buf, "%" PRIx64, (uint64_t)a->i[k]);
        char *p = oa_qarena_alloc(ev->tmp, l + 1);
        if (!p) return ENOMEM_EV(ev);
        memcpy(p, buf, (size_t)l + 1);
        out->s[k].p = (const uint8_t *)p;
        out->s[k].len = l;
        continue;
      }
      int64_t l = a->s[k].len;
      uint8_t *p = oa_qarena_alloc(ev->tmp, 2 * l + 1);
      if (!p) return ENOMEM_EV(ev);
      for (int64_t j = 0; j < l; j++) {
        p[2 * j] = (uint8_t)hexdig[a->s[k].p[j] >> 4];
        p[2 * j + 1] = (uint8_t)hexdig[a->s[k].p[j] & 15];
      }
      out->s[k].p = p;
      out->s[k].len = 2 * l;
    }
    return 0;
  case OA_QF_UNHEX:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      uint8_t *p = oa_qarena_alloc(ev->tmp, a->s[k].len / 2 + 1);
      if (!p) return ENOMEM_EV(ev);
      int64_t l;
      if (oa_qunhex(a->s[k].p, a->s[k].len, p, &l)) {
        out->null[k] = 1;
        continue;
      }
      out->s[k].p = p;
      out->s[k].len = l;
    }
    return 0;
  case OA_QF_LENGTH:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      if (a->type == OA_Q_BIN) {
        out->i[k] = a->s[k].len;
      } else { /* characters, not bytes */
        int64_t c = 0;
        for (int64_t j = 0; j < a->s[k].len; j++)
          c += (a->s[k].p[j] & 0xC0) != 0x80;
        out->i[k] = c;
      }
    }
    return 0;
  case OA_QF_LOWER:
  case OA_QF_UPPER:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      int64_t l = a->s[k].len;
      uint8_t *p = oa_qarena_alloc(ev->tmp, l + 1);
      if (!p) return ENOMEM_EV(ev);
      for (int64_t j = 0; j < l; j++) {
        uint8_t c = a->s[k].p[j];
        p[j] = c < 0x80 ? (uint8_t)(node->fn == OA_QF_LOWER ? tolower(c)
                                                            : toupper(c))
                        : c;
      }
      out->s[k].p = p;
      out->s[k].len = l;
    }
    return 0;
  case OA_QF_ABS:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      if (a->type == OA_Q_DOUBLE)
        out->d[k] = fabs(a->d[k]);
      else
        out->i[k] = a->i[k] < 0 ? (int64_t)(0 - (uint64_t)a->i[k]) : a->i[k];
    }
    return 0;
  case OA_QF_ROUND:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      int64_t dg =
          node->n_args == 2 && !(av[1].null && av[1].null[k]) ? av[1].i[k] : 0;
      if (dg > 15) dg = 15;
      if (dg < -15) dg = -15;
      double m = pow(10, (double)dg);
      out->d[k] = round(a->d[k] * m) / m;
    }
    return 0;
  case OA_QF_COALESCE:
    memset(out->null, 1, (size_t)(n ? n : 1));
    for (int32_t i = node->n_args - 1; i >= 0; i--) {
      const oa_qvec *x = &av[i];
      if (x->type == OA_Q_NULL) continue;
      for (int64_t k = 0; k < n; k++) {
        if (x->null && x->null[k]) continue;
        out->null[k] = 0;
        copy_value(out, k, x, k);
      }
    }
    return 0;
  case OA_QF_NULLIF:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      if (!(av[1].null && av[1].null[k]) && av[1].type != OA_Q_NULL &&
          cmp_val(a, k, &av[1], k) == 0) {
        out->null[k] = 1;
        continue;
      }
      copy_value(out, k, a, k);
    }
    return 0;
  case OA_QF_DATE_TRUNC: {
    int u = (int)node->args[0]->lit_i;
    for (int64_t k = 0; k < n; k++)
      if (!out->null[k]) out->i[k] = trunc_ts(a->i[k], u);
    return 0;
  }
  case OA_QF_EPOCH_NS:
  case OA_QF_TS_FROM_NS:
    for (int64_t k = 0; k < n; k++)
      out->i[k] = a->i[k];
    return 0;
  case OA_QF_EPOCH_US:
  case OA_QF_EPOCH_MS: {
    int64_t m = node->fn == OA_QF_EPOCH_US ? 1000 : 1000000;
    for (int64_t k = 0; k < n; k++) {
      int64_t q = a->i[k] / m;
      if (a->i[k] % m < 0) q--;
      out->i[k] = q;
    }
    return 0;
  }
  case OA_QF_EPOCH:
    for (int64_t k = 0; k < n; k++)
      out->d[k] = (double)a->i[k] / 1e9;
    return 0;
  case OA_QF_TO_TIMESTAMP:
    for (int64_t k = 0; k < n; k++) {
      if (out->null[k]) continue;
      double x = a->d[k] * 1e9;
      if (!(fabs(x) < 9.2e18))
        out->null[k] = 1;
      else
        out->i[k] = (int64_t)llround(x);
    }
    return 0;
  case OA_QF_CONCAT:
    /* concat() skips NULLs (unlike ||) */
    for (int64_t k = 0; k < n; k++) {
      int64_t l = 0;
      for (int32_t i = 0; i < node->n_args; i++)
        if (av[i].type != OA_Q_NULL && !(av[i].null && av[i].null[k]))
          l += av[i].s[k].len;
      uint8_t *p = oa_qarena_alloc(ev->tmp, l + 1);
      if (!p) return ENOMEM_EV(ev);
      int64_t o = 0;
      for (int32_t i = 0; i < node->n_args; i++)
        if (av[i].type != OA_Q_NULL && !(av[i].null && av[i].null[k])) {
          if (av[i].s[k].len)
            memcpy(p + o, av[i].s[k].p, (size_t)av[i].s[k].len);
          o += av[i].s[k].len;
        }
      out->s[k].p = p;
      out->s[k].len = l;
      out->null[k] = 0;
    }
    return 0;
  default:
    return oa_error_set(ev->err, ENOTSUP, "function %d not implemented",
                        node->fn);
  }
}

/* ------------------------------------------------------------ dispatch */

int oa_qeval_expr(oa_qeval *ev, const oa_qnode *node, oa_qvec *out) {
  int64_t n = ev->n;
  switch (node->kind) {
  case OA_N_LIT:
    return eval_lit(ev, node, out);
  case OA_N_COL:
    if (ev->cache && ev->cached[node->column]) {
      *out = ev->cache[node->column];
      return 0;
    }
    OA_RETURN_NOT_OK(load_column(ev, node->column, out));
    if (ev->cache) {
      ev->cache[node->column] = *out;
      ev->cached[node->column] = 1;
    }
    return 0;
  case OA_N_SLOT:
    return load_slot(ev, node->column, out);
  case OA_N_INDEX:
    return eval_index(ev, node, out);
  case OA_N_CAST: {
    oa_qvec a;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    return eval_cast(ev, &a, node->type, out);
  }
  case OA_N_UNARY: {
    oa_qvec a;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    if (oa_qvec_alloc(ev->tmp, node->type, n, out)) return ENOMEM_EV(ev);
    out->null = a.null;
    if (a.type == OA_Q_NULL) return eval_cast(ev, &a, node->type, out);
    if (!strcmp(node->op, "NOT")) {
      for (int64_t k = 0; k < n; k++)
        out->b[k] = !a.b[k];
    } else if (node->type == OA_Q_DOUBLE) {
      for (int64_t k = 0; k < n; k++)
        out->d[k] = -a.d[k];
    } else {
      for (int64_t k = 0; k < n; k++)
        out->i[k] = (int64_t)(0 - (uint64_t)a.i[k]);
    }
    return 0;
  }
  case OA_N_BINARY: {
    const char *op = node->op;
    oa_qvec a, b;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    if (!strcmp(op, "AND") || !strcmp(op, "OR")) {
      bool is_and = op[0] == 'A';
      OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[1], &b));
      if (oa_qvec_alloc(ev->tmp, OA_Q_BOOL, n, out)) return ENOMEM_EV(ev);
      bool an = a.type == OA_Q_NULL, bn = b.type == OA_Q_NULL;
      if (a.null || b.null || an || bn)
        if (ensure_nulls(ev, out)) return ENOMEM;
      for (int64_t k = 0; k < n; k++) {
        bool anul = an || (a.null && a.null[k]);
        bool bnul = bn || (b.null && b.null[k]);
        int av = anul ? 2 : a.b[k], bv = bnul ? 2 : b.b[k];
        int r;
        if (is_and)
          r = (av == 0 || bv == 0) ? 0 : (av == 2 || bv == 2) ? 2 : 1;
        else
          r = (av == 1 || bv == 1) ? 1 : (av == 2 || bv == 2) ? 2 : 0;
        out->b[k] = r == 1;
        if (out->null) out->null[k] = r == 2;
      }
      return 0;
    }
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[1], &b));
    if (!strcmp(op, "||")) {
      if (oa_qvec_alloc(ev->tmp, OA_Q_STR, n, out)) return ENOMEM_EV(ev);
      if (a.type == OA_Q_NULL || b.type == OA_Q_NULL)
        return eval_cast(ev, &a, OA_Q_STR, out);
      OA_RETURN_NOT_OK(merge_nulls(ev, &a, &b, out));
      for (int64_t k = 0; k < n; k++) {
        if (out->null && out->null[k]) continue;
        int64_t l = a.s[k].len + b.s[k].len;
        uint8_t *p = oa_qarena_alloc(ev->tmp, l + 1);
        if (!p) return ENOMEM_EV(ev);
        if (a.s[k].len) memcpy(p, a.s[k].p, (size_t)a.s[k].len);
        if (b.s[k].len) memcpy(p + a.s[k].len, b.s[k].p, (size_t)b.s[k].len);
        out->s[k].p = p;
        out->s[k].len = l;
      }
      return 0;
    }
    if (node->type == OA_Q_BOOL) return eval_cmp(ev, op, &a, &b, out);
    if (a.type == OA_Q_NULL || b.type == OA_Q_NULL) {
      oa_qvec z;
      oa_qvec_alloc(ev->tmp, OA_Q_NULL, n, &z);
      return eval_cast(ev, &z, node->type, out);
    }
    /* dur * int where int is on the left: swap */
    if (node->type == OA_Q_DUR && a.type == OA_Q_INT && b.type == OA_Q_DUR) {
      oa_qvec t = a;
      a = b;
      b = t;
    }
    return eval_arith(ev, node, &a, &b, out);
  }
  case OA_N_IN: {
    oa_qvec a;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    if (oa_qvec_alloc(ev->tmp, OA_Q_BOOL, n, out)) return ENOMEM_EV(ev);
    if (ensure_nulls(ev, out)) return ENOMEM;
    memset(out->b, 0, (size_t)(n ? n : 1));
    /* SQL: x IN (..) is true on a match, NULL if x or any item is NULL
     * without a match, false otherwise */
    uint8_t *saw_null = oa_qarena_calloc(ev->tmp, n ? n : 1);
    if (!saw_null) return ENOMEM_EV(ev);
    for (int32_t i = 1; i < node->n_args; i++) {
      oa_qvec b;
      OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[i], &b));
      for (int64_t k = 0; k < n; k++) {
        if (out->b[k]) continue;
        if (a.type == OA_Q_NULL || (a.null && a.null[k]) ||
            b.type == OA_Q_NULL || (b.null && b.null[k])) {
          saw_null[k] = 1;
          continue;
        }
        if (cmp_val(&a, k, &b, k) == 0) out->b[k] = 1;
      }
    }
    for (int64_t k = 0; k < n; k++) {
      out->null[k] = !out->b[k] && saw_null[k];
      if (node->negated && !out->null[k]) out->b[k] = !out->b[k];
    }
    return 0;
  }
  case OA_N_BETWEEN: {
    oa_qvec a, lo, hi, c1, c2;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[1], &lo));
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[2], &hi));
    OA_RETURN_NOT_OK(eval_cmp(ev, ">=", &a, &lo, &c1));
    OA_RETURN_NOT_OK(eval_cmp(ev, "<=", &a, &hi, &c2));
    if (oa_qvec_alloc(ev->tmp, OA_Q_BOOL, n, out)) return ENOMEM_EV(ev);
    if (c1.null || c2.null)
      if (ensure_nulls(ev, out)) return ENOMEM;
    for (int64_t k = 0; k < n; k++) {
      int x = (c1.null && c1.null[k]) ? 2 : c1.b[k];
      int y = (c2.null && c2.null[k]) ? 2 : c2.b[k];
      int r = (x == 0 || y == 0) ? 0 : (x == 2 || y == 2) ? 2 : 1;
      if (node->negated && r != 2) r = !r;
      out->b[k] = r == 1;
      if (out->null) out->null[k] = r == 2;
    }
    return 0;
  }
  case OA_N_LIKE: {
    oa_qvec a, p;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[1], &p));
    if (oa_qvec_alloc(ev->tmp, OA_Q_BOOL, n, out)) return ENOMEM_EV(ev);
    if (a.type == OA_Q_NULL || p.type == OA_Q_NULL)
      return eval_cast(ev, &a, OA_Q_BOOL, out);
    OA_RETURN_NOT_OK(merge_nulls(ev, &a, &p, out));
    for (int64_t k = 0; k < n; k++) {
      if (out->null && out->null[k]) continue;
      bool m =
          like_match(a.s[k].p, a.s[k].len, p.s[k].p, p.s[k].len, node->fn == 1);
      out->b[k] = node->negated ? !m : m;
    }
    return 0;
  }
  case OA_N_ISNULL: {
    oa_qvec a;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &a));
    if (oa_qvec_alloc(ev->tmp, OA_Q_BOOL, n, out)) return ENOMEM_EV(ev);
    for (int64_t k = 0; k < n; k++) {
      bool isn = a.type == OA_Q_NULL || (a.null && a.null[k]);
      out->b[k] = node->negated ? !isn : isn;
    }
    return 0;
  }
  case OA_N_CASE: {
    if (oa_qvec_alloc(ev->tmp, node->type, n, out)) return ENOMEM_EV(ev);
    if (ensure_nulls(ev, out)) return ENOMEM;
    memset(out->null, 1, (size_t)(n ? n : 1));
    uint8_t *done = oa_qarena_calloc(ev->tmp, n ? n : 1);
    if (!done) return ENOMEM_EV(ev);
    for (int32_t i = 0; i < node->n_args; i += 2) {
      bool has_cond = i + 1 < node->n_args;
      oa_qvec c, v;
      if (has_cond) OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[i], &c));
      OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[has_cond ? i + 1 : i], &v));
      for (int64_t k = 0; k < n; k++) {
        if (done[k]) continue;
        if (has_cond &&
            (c.type == OA_Q_NULL || (c.null && c.null[k]) || !c.b[k]))
          continue;
        done[k] = 1;
        if (v.type == OA_Q_NULL || (v.null && v.null[k])) continue;
        out->null[k] = 0;
        copy_value(out, k, &v, k);
      }
    }
    return 0;
  }
  case OA_N_FUNC:
    return eval_func(ev, node, out);
  default:
    return oa_error_set(ev->err, ENOTSUP,
                        "cannot evaluate this expression here");
  }
}
