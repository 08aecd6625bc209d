/* Shared by the query engine tests: an in-memory table resolver, results
 * rendered as text ("a|b\n" per row) and generated span batches. */
#ifndef OA_QTEST_H
#define OA_QTEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/otlp.h"
#include "otlparrow/query.h"
#include "test_arrow_util.h"

typedef struct qt_table {
  const char *name;
  oa_schema *schema;
  oa_batch *batches;
  int64_t n_batches;
  int released;                 /* how many times the engine released it */
  oa_query_scan_hint last_hint; /* trace_ids is only valid in resolve */
  uint8_t last_hint_id[16];     /* so the first id is copied here */
} qt_table;

typedef struct qt_db {
  qt_table *tables;
  int n;
} qt_db;

static inline void qt_release(oa_query_table *t) {
  qt_table *qt = t->private_data;
  qt->released++;
}

static inline int qt_resolve(void *ctx, const char *name,
                             const oa_query_scan_hint *hint,
                             oa_query_table *out, oa_error *err) {
  qt_db *db = ctx;
  for (int i = 0; i < db->n; i++)
    if (!strcmp(db->tables[i].name, name)) {
      qt_table *t = &db->tables[i];
      t->last_hint = *hint;
      if (hint->n_trace_ids > 0) memcpy(t->last_hint_id, hint->trace_ids, 16);
      out->schema = t->schema;
      out->batches = t->batches;
      out->n_batches = t->n_batches;
      out->release = qt_release;
      out->private_data = t;
      return 0;
    }
  return oa_error_set(err, ENOENT, "no table '%s'", name);
}

/* Appends cell (c, r) of the result as text. */
static inline void qt_cell(const oa_field *f, const oa_array *a, int64_t r,
                           char *buf, size_t cap) {
  if (oa_array_is_null(f, a, r)) {
    snprintf(buf, cap, "NULL");
    return;
  }
  switch (f->type.id) {
  case OA_TYPE_BOOL:
    snprintf(buf, cap, "%s",
             oa_bit_get(a->buffers[1].data, a->offset + r) ? "true" : "false");
    return;
  case OA_TYPE_INT64:
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
    snprintf(buf, cap, "%" PRId64, oa_array_get_int(f, a, r));
    return;
  case OA_TYPE_DOUBLE:
    snprintf(buf, cap, "%.6g", oa_array_get_double(f, a, r));
    return;
  case OA_TYPE_STRING: {
    int64_t len;
    const uint8_t *p = oa_array_get_bytes(f, a, r, &len);
    snprintf(buf, cap, "%.*s", (int)len, (const char *)p);
    return;
  }
  case OA_TYPE_BINARY:
  case OA_TYPE_FIXED_SIZE_BINARY: {
    int64_t len;
    const uint8_t *p = oa_array_get_bytes(f, a, r, &len);
    size_t k = 0;
    for (int64_t i = 0; i < len && k + 3 < cap; i++)
      k += (size_t)snprintf(buf + k, cap - k, "%02x", p[i]);
    if (!len) buf[0] = 0;
    return;
  }
  case OA_TYPE_NA:
    snprintf(buf, cap, "NULL");
    return;
  default:
    snprintf(buf, cap, "?");
  }
}

/* The whole result as "v|v|v\n" rows (malloc'ed). */
static inline char *qt_text(const oa_query_result *res) {
  size_t cap = 1024, len = 0;
  char *s = malloc(cap);
  s[0] = 0;
  for (int64_t b = 0; b < res->n_batches; b++) {
    const oa_batch *bt = &res->batches[b];
    for (int64_t r = 0; r < bt->length; r++)
      for (int64_t c = 0; c < bt->n_columns; c++) {
        char cell[512];
        qt_cell(&bt->schema->fields[c], &bt->columns[c], r, cell, sizeof cell);
        size_t need = len + strlen(cell) + 2;
        if (need + 1 > cap) {
          while (need + 1 > cap)
            cap *= 2;
          s = realloc(s, cap);
        }
        len += (size_t)sprintf(s + len, "%s%c", cell,
                               c + 1 < bt->n_columns ? '|' : '\n');
      }
  }
  return s;
}

/* Runs sql and compares its text with want; prints both on mismatch. */
#define CHECK_QUERY(db, sql, want)                                             \
  do {                                                                         \
    oa_query_options o_;                                                       \
    oa_query_options_init(&o_);                                                \
    o_.resolve = qt_resolve;                                                   \
    o_.resolve_ctx = (db);                                                     \
    o_.now_ns = 1767225600000000000LL; /* 2026-01-01 */                        \
    oa_query_result r_;                                                        \
    oa_error e_;                                                               \
    e_.message[0] = 0;                                                         \
    int rc_ = oa_query_run((sql), &o_, &r_, &e_);                              \
    if (rc_) {                                                                 \
      fprintf(stderr, "%s:%d: query failed (%d): %s\n  %s\n", __FILE__,        \
              __LINE__, rc_, e_.message, (sql));                               \
      oa_test_current_failed_ = 1;                                             \
    } else {                                                                   \
      char *t_ = qt_text(&r_);                                                 \
      if (strcmp(t_, (want))) {                                                \
        fprintf(stderr, "%s:%d: %s\n got:\n%s want:\n%s", __FILE__, __LINE__,  \
                (sql), t_, (want));                                            \
        oa_test_current_failed_ = 1;                                           \
      }                                                                        \
      free(t_);                                                                \
      oa_query_result_reset(&r_);                                              \
    }                                                                          \
  } while (0)

static inline int qt_run(qt_db *db, const char *sql, oa_query_result *r,
                         oa_error *e) {
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = db;
  o.now_ns = 1767225600000000000LL;
  return oa_query_run(sql, &o, r, e);
}

/* n generated spans (deterministic) decoded into batches of up to
 * per_request spans. */
static inline int qt_gen_spans(int64_t n, int64_t per_request, qt_table *t,
                               oa_error *err) {
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = n;
  oa_trace_gen g;
  int rc = oa_trace_gen_init(&g, &go, err);
  if (rc) return rc;
  oa_bytes req;
  oa_bytes_init(&req);
  t->batches = NULL;
  t->n_batches = 0;
  for (;;) {
    int64_t got;
    rc = oa_trace_gen_next_request(&g, per_request, &req, &got, err);
    if (rc || got == 0) break;
    oa_otlp_options oo;
    oa_otlp_options_default(&oo);
    oa_batch b;
    oa_batch_init(&b);
    oa_otlp_result res;
    rc = oa_otlp_decode_traces(req.data, req.size, &oo, &b, &res, err);
    if (rc) break;
    t->batches =
        realloc(t->batches, sizeof(oa_batch) * (size_t)(t->n_batches + 1));
    oa_batch_init(&t->batches[t->n_batches]);
    oa_batch_move(&t->batches[t->n_batches++], &b);
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  if (!rc && t->n_batches) {
    t->schema = t->batches[0].schema;
    oa_schema_retain(t->schema);
  }
  return rc;
}

/* The 16-byte id of group g: distinct per g, spread over all bytes. */
static inline void qt_group_id(uint64_t g, uint8_t id[16]) {
  g = g * 0x9E3779B97F4A7C15ULL + 1;
  memcpy(id, &g, 8);
  g ^= 0xD6E8FEB86659FD93ULL;
  memcpy(id + 8, &g, 8);
}

/* Columns k int64, tid fixed_size_binary(16), v double, s string: a key,
 * an id to group by, a value to aggregate and a string to compare. */
static inline oa_schema *qt_ktvs_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f = tf("k", OA_TYPE_INT64);
  oa_schema_add_field(s, &f, NULL);
  f = tf("tid", OA_TYPE_FIXED_SIZE_BINARY);
  f.type.byte_width = 16;
  oa_schema_add_field(s, &f, NULL);
  f = tf("v", OA_TYPE_DOUBLE);
  oa_schema_add_field(s, &f, NULL);
  f = tf("s", OA_TYPE_STRING);
  oa_schema_add_field(s, &f, NULL);
  return s;
}

static inline void qt_table_free(qt_table *t) {
  for (int64_t i = 0; i < t->n_batches; i++)
    oa_batch_reset(&t->batches[i]);
  free(t->batches);
  if (t->schema) oa_schema_release(t->schema);
  t->batches = NULL;
  t->schema = NULL;
  t->n_batches = 0;
}

#endif
