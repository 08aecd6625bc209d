/* Staged span records -> span batch, without the OTLP protobuf round trip.
 *
 * The result must equal what the OTLP decoder (src/otlp/pb_decode.c, default
 * options) makes of oa_exp_stage_request's output: same columns, same
 * dictionaries in the same order, same rejections. So each span is checked
 * whole first (UTF-8 of every string, the decoder's attribute, event and
 * link limits) and only then appended; a group of spans whose resource or
 * scope the decoder would refuse is refused whole; groups with equal
 * resources share one resource_id and each group gets its own scope_id,
 * numbered in the order of the first accepted span. tests/exporter/
 * test_span_rows.c compares the two paths. */
#include <stdio.h>
#include <stdlib.h>

#include "exporter_internal.h"
#include "otlp/otlp_build.h"
#include "otlp/otlp_internal.h"

/* the decoder's default limits (oa_otlp_options_default) */
#define MAX_ATTRS 4096
#define MAX_EVENTS 4096
#define MAX_LINKS 4096

/* A direct-mapped cache in front of a dictionary builder's hash table, keyed
 * by the string's bytes: attribute keys and span names repeat from span to
 * span. Entries hold the dictionary value's own bytes (stable until finish),
 * so the cache is emptied with every batch. */
#define KCACHE 512
#define KPOS 64
typedef struct kent {
  int64_t off, len; /* the value's bytes in the dictionary (data moves) */
  /* the staged string last found here: staged memory does not change
   * during a build and the exporter stages a repeated attribute key once,
   * so an equal pointer (this gen) is the same value without a compare */
  const char *ptr;
  int32_t idx;
  uint32_t gen;
} kent;

enum { KC_NAME, KC_ATTR, KC_EVENT_NAME, KC_EVENT_KEY, KC_LINK_KEY, KC_N };

struct oa_exp_rows {
  oa_schema *schema;
  bool direct[OA_SPAN_N_COLUMNS];
  oa_builder b[OA_SPAN_N_COLUMNS];
  /* dictionary values of the per-resource / per-scope columns */
  oa_field res_attrs_f, res_url_f, res_refs_f;
  oa_field sc_name_f, sc_version_f, sc_attrs_f, sc_url_f;
  oa_builder res_attrs, res_url, res_refs;
  oa_builder sc_name, sc_version, sc_attrs, sc_url;
  oa_bytes scratch; /* AnyValue bytes of a nested value */
  oa_builder *kc_b[KC_N];
  kent kc[KC_N][KCACHE];
  kent kpos[KC_N][KPOS]; /* by position in an attribute list */
  /* buffer sizes of the previous batch, to reserve the next one up front */
  int64_t *hints;
  int64_t n_hints, hint_spans;
  /* buffers taken back by oa_exp_rows_recycle, one per hint slot; the next
   * build's reservations take those that fit */
  oa_otlp_spares spares;
  int64_t slot[OA_SPAN_N_COLUMNS]; /* first hint slot of each column */
  uint32_t gen;
};

/* the per-resource / per-scope columns: (column, id column, values) */
static oa_builder *value_b(oa_exp_rows *r, int i) {
  oa_builder *v[OA_OTLP_N_VALUE_COLS] = {
      &r->res_attrs,  &r->res_url,  &r->res_refs, &r->sc_name,
      &r->sc_version, &r->sc_attrs, &r->sc_url};
  return v[i];
}

static oa_field *value_f(oa_exp_rows *r, int i) {
  oa_field *v[OA_OTLP_N_VALUE_COLS] = {
      &r->res_attrs_f,  &r->res_url_f,  &r->res_refs_f, &r->sc_name_f,
      &r->sc_version_f, &r->sc_attrs_f, &r->sc_url_f};
  return v[i];
}

static void hint_all(oa_exp_rows *r, int mode, double scale);

void oa_exp_rows_free(oa_exp_rows *r) {
  if (!r) return;
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++)
    if (r->direct[c]) oa_builder_reset(&r->b[c]);
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++) {
    oa_builder_reset(value_b(r, i));
    oa_field_reset(value_f(r, i));
  }
  if (r->schema) oa_schema_release(r->schema);
  oa_bytes_reset(&r->scratch);
  oa_otlp_spares_free(&r->spares);
  free(r->hints);
  free(r);
}

int oa_exp_rows_new(oa_exp_rows **out, oa_error *err) {
  *out = NULL;
  oa_exp_rows *r = calloc(1, sizeof *r);
  if (!r) return oa_error_set(err, ENOMEM, "span rows: out of memory");
  oa_bytes_init(&r->scratch);
  int rc;
  OA_GOTO_NOT_OK(rc, oa_span_schema(&r->schema, err), fail);
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++) {
    if (!oa_otlp_is_direct(c)) continue;
    OA_GOTO_NOT_OK(rc, oa_builder_init(&r->b[c], &r->schema->fields[c], 0, err),
                   fail);
    r->direct[c] = true;
  }
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++) {
    oa_field *vf = value_f(r, i);
    OA_GOTO_NOT_OK(
        rc, oa_field_copy(vf, &r->schema->fields[oa_otlp_value_cols[i]], err),
        fail);
    vf->dict.encoded = false; /* the dictionary's values */
    OA_GOTO_NOT_OK(rc, oa_builder_init(value_b(r, i), vf, 0, err), fail);
  }
  oa_builder *evi = &r->b[OA_SPAN_EVENTS].children[0];
  oa_builder *lki = &r->b[OA_SPAN_LINKS].children[0];
  r->kc_b[KC_NAME] = &r->b[OA_SPAN_NAME];
  r->kc_b[KC_ATTR] = &r->b[OA_SPAN_ATTRIBUTES].children[0].children[0];
  r->kc_b[KC_EVENT_NAME] = &evi->children[1];
  r->kc_b[KC_EVENT_KEY] = &evi->children[2].children[0].children[0];
  r->kc_b[KC_LINK_KEY] = &lki->children[4].children[0].children[0];
  r->gen = 1;
  hint_all(r, 0, 1);
  r->hints = calloc((size_t)r->n_hints, sizeof *r->hints);
  if (!r->hints || oa_otlp_spares_init(&r->spares, r->n_hints)) {
    rc = oa_error_set(err, ENOMEM, "span rows: out of memory");
    goto fail;
  }
  *out = r;
  return 0;
fail:
  oa_exp_rows_free(r);
  return rc;
}

/* ------------------------------------------------------------ checks */

static inline bool utf8_ok(const void *s, int64_t n) {
  const uint8_t *p = (const uint8_t *)s;
  return oa_otlp_ascii_only(p, n) || oa_otlp_utf8_valid(p, n);
}

/* a staged string (NULL: empty) */
static inline bool sstr_ok(const char *s) {
  return !s || utf8_ok(s, oa_exp_staged_len(s));
}

/* scope and resource schema URLs are not staged strings */
static inline bool cstr_ok(const char *s) {
  return !s || utf8_ok(s, (int64_t)strlen(s));
}

static bool value_ok(const oa_anyvalue *v) {
  switch (v->type) {
  case OA_ANY_STRING:
    return utf8_ok(v->v.str.ptr, v->v.str.len);
  case OA_ANY_ARRAY:
    for (size_t i = 0; i < v->v.array.n; i++)
      if (!value_ok(&v->v.array.values[i])) return false;
    return true;
  case OA_ANY_KVLIST:
    for (size_t i = 0; i < v->v.kvlist.n; i++) {
      const oa_keyvalue *kv = &v->v.kvlist.kvs[i];
      if (!sstr_ok(kv->key) || !value_ok(&kv->value)) return false;
    }
    return true;
  default:
    return true;
  }
}

/* A staged attribute list (oa_exp_kv records). */
static bool kvs_ok(const oa_keyvalue *list, size_t n, const char *where,
                   char *msg) {
  if (n > MAX_ATTRS) {
    snprintf(msg, OA_ERROR_SIZE, "%s: more than %d attributes", where,
             MAX_ATTRS);
    return false;
  }
  const oa_exp_kv *kvs = oa_exp_kvs(list);
  for (size_t i = 0; i < n; i++) {
    const oa_exp_kv *kv = &kvs[i];
    int t = oa_exp_kv_type(kv);
    bool ok = utf8_ok(kv->key, oa_exp_staged_len(kv->key));
    /* scalars but strings need no look at their bytes */
    if (t == OA_ANY_STRING)
      ok = ok && utf8_ok(kv->v.s, oa_exp_staged_len(kv->v.s));
    else if (t == OA_ANY_ARRAY || t == OA_ANY_KVLIST)
      ok = ok && value_ok(kv->v.nested);
    if (OA_UNLIKELY(!ok)) {
      snprintf(msg, OA_ERROR_SIZE, "%s: invalid UTF-8", where);
      return false;
    }
  }
  return true;
}

static bool span_ok(const oa_span *sp, char *msg) {
  const char *bad = NULL;
  if (!sstr_ok(sp->name))
    bad = "span name";
  else if (!sstr_ok(sp->trace_state))
    bad = "span trace_state";
  else if (!sstr_ok(sp->status_message))
    bad = "status message";
  if (bad) {
    snprintf(msg, OA_ERROR_SIZE, "%s: invalid UTF-8", bad);
    return false;
  }
  if (!kvs_ok(sp->attrs, sp->n_attrs, "span attributes", msg)) return false;
  if (sp->n_events > MAX_EVENTS) {
    snprintf(msg, OA_ERROR_SIZE, "span has more than %d events", MAX_EVENTS);
    return false;
  }
  if (sp->n_links > MAX_LINKS) {
    snprintf(msg, OA_ERROR_SIZE, "span has more than %d links", MAX_LINKS);
    return false;
  }
  for (size_t k = 0; k < sp->n_events; k++) {
    const oa_span_event *ev = &sp->events[k];
    if (!sstr_ok(ev->name)) {
      snprintf(msg, OA_ERROR_SIZE, "event name: invalid UTF-8");
      return false;
    }
    if (!kvs_ok(ev->attrs, ev->n_attrs, "event attributes", msg)) return false;
  }
  for (size_t k = 0; k < sp->n_links; k++) {
    const oa_span_link *l = &sp->links[k];
    if (!sstr_ok(l->trace_state)) {
      snprintf(msg, OA_ERROR_SIZE, "link trace_state: invalid UTF-8");
      return false;
    }
    if (!kvs_ok(l->attrs, l->n_attrs, "link attributes", msg)) return false;
  }
  return true;
}

static bool resource_ok(const oa_resource *r, char *msg) {
  if (!r) return true;
  if (!kvs_ok((const oa_keyvalue *)(const void *)r->attrs, r->n_attrs,
              "resource attributes", msg))
    return false;
  if (!cstr_ok(r->schema_url)) {
    snprintf(msg, OA_ERROR_SIZE, "resource schema_url: invalid UTF-8");
    return false;
  }
  return true;
}

static bool scope_ok(const oa_scope *s, char *msg) {
  if (!s) return true;
  if (!sstr_ok(s->name) || !sstr_ok(s->version)) {
    snprintf(msg, OA_ERROR_SIZE, "scope %s: invalid UTF-8",
             sstr_ok(s->name) ? "version" : "name");
    return false;
  }
  if (!kvs_ok((const oa_keyvalue *)(const void *)s->attrs, s->n_attrs,
              "scope attributes", msg))
    return false;
  if (!cstr_ok(s->schema_url)) {
    snprintf(msg, OA_ERROR_SIZE, "scope schema_url: invalid UTF-8");
    return false;
  }
  return true;
}

/* ----------------------------------------------------------- appends */

static inline uint64_t khash(const uint8_t *p, int64_t n) {
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = oa_pb_load64(p);
    b = oa_pb_load64(p + n - 8);
  } else if (n >= 4) {
    a = oa_pb_load32(p);
    b = oa_pb_load32(p + n - 4);
  } else if (n > 0) {
    a = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
  }
  uint64_t h = (a ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ull;
  h ^= (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  return h ^ (h >> 31);
}

static inline bool kent_hit(const oa_exp_rows *r, const kent *e,
                            const oa_builder *dv, const uint8_t *p, int64_t n) {
  return e->gen == r->gen && e->len == n &&
         oa_otlp_eq_bytes(dv->data.data + e->off, p, n);
}

/* The dictionary index of p[0..n), appended to the builder of `which`
 * through the caches: first the entry of this position in the attribute
 * list (spans of a kind repeat their keys in order), then the hashed one,
 * then the builder's own table. A hit compares against the dictionary's
 * copy of the value. pos < 0: no position. */
static int dict_append(oa_exp_rows *r, int which, int64_t pos, const char *s,
                       int64_t n) {
  oa_builder *b = r->kc_b[which];
  const oa_builder *dv = b->dict_values;
  const uint8_t *p = (const uint8_t *)(n ? s : "");
  kent *pe = pos >= 0 && pos < KPOS ? &r->kpos[which][pos] : NULL;
  if (pe && kent_hit(r, pe, dv, p, n)) {
    pe->ptr = s;
    return oa_otlp_dict_index(b, pe->idx);
  }
  kent *e = &r->kc[which][(khash(p, n) >> 40) & (KCACHE - 1)];
  if (kent_hit(r, e, dv, p, n)) {
    if (pe) {
      *pe = *e;
      pe->ptr = s;
    }
    return oa_otlp_dict_index(b, e->idx);
  }
  OA_RETURN_NOT_OK(oa_builder_append_bytes(b, p, n));
  int32_t idx, off;
  memcpy(&idx, b->values.data + b->values.size - 4, 4);
  /* where the value's bytes are in the dictionary (32-bit offsets) */
  memcpy(&off, dv->values.data + (int64_t)idx * 4, 4);
  *e = (kent){.off = off, .len = n, .ptr = s, .idx = idx, .gen = r->gen};
  if (pe) *pe = *e;
  return 0;
}

/* oa_anyvalue_type -> oa_attr_type (the union's child) */
static const uint8_t kAttrType[8] = {
    OA_ATTR_EMPTY,  OA_ATTR_STR,   OA_ATTR_BOOL,  OA_ATTR_INT,
    OA_ATTR_DOUBLE, OA_ATTR_BYTES, OA_ATTR_ARRAY, OA_ATTR_KVLIST};

/* Short copies inline: most strings of a span are under 16 bytes, where a
 * call to memcpy costs more than the copy. */
static inline void copy_small(uint8_t *d, const void *src, size_t n) {
  const uint8_t *s = (const uint8_t *)src;
  if (n >= 16) {
    memcpy(d, s, n);
  } else if (n >= 8) {
    uint64_t x = oa_pb_load64(s), y = oa_pb_load64(s + n - 8);
    memcpy(d, &x, 8);
    memcpy(d + n - 8, &y, 8);
  } else if (n >= 4) {
    uint32_t x = oa_pb_load32(s), y = oa_pb_load32(s + n - 4);
    memcpy(d, &x, 4);
    memcpy(d + n - 4, &y, 4);
  } else {
    for (size_t i = 0; i < n; i++)
      d[i] = s[i];
  }
}

/* utf8/binary append (32-bit offsets, not dictionary-encoded) */
static inline int put_str(oa_builder *b, const void *v, int64_t n) {
  OA_RETURN_NOT_OK(oa_builder_mark_valid_(b));
  OA_RETURN_NOT_OK(oa_bytes_reserve(&b->data, n));
  OA_RETURN_NOT_OK(oa_bytes_reserve(&b->values, 4));
  copy_small(b->data.data + b->data.size, v, (size_t)n);
  b->data.size += n;
  if (OA_UNLIKELY(b->data.size > INT32_MAX)) return E2BIG;
  int32_t end = (int32_t)b->data.size;
  memcpy(b->values.data + b->values.size, &end, 4);
  b->values.size += 4;
  b->length++;
  return 0;
}

/* Appends v to its child of the union vb; *row gets its row there. */
static inline int value_child(oa_exp_rows *r, oa_builder *vb,
                              const oa_exp_kv *kv, int type, int t,
                              int32_t *row) {
  oa_builder *c = &vb->children[t];
  if (OA_UNLIKELY(c->length > INT32_MAX)) return E2BIG;
  *row = (int32_t)c->length;
  switch (type) {
  case OA_ANY_STRING:
  case OA_ANY_BYTES:
    return put_str(c, kv->v.s, oa_exp_staged_len(kv->v.s));
  case OA_ANY_INT:
    return oa_builder_append_i64_fast(c, kv->v.i);
  case OA_ANY_DOUBLE:
    return oa_builder_append_f64_fast(c, kv->v.d);
  case OA_ANY_BOOL:
    return oa_otlp_bool_append(c, kv->v.i != 0);
  case OA_ANY_ARRAY:
  case OA_ANY_KVLIST:
    r->scratch.size = 0;
    OA_RETURN_NOT_OK(oa_exp_anyvalue_pb(&r->scratch, kv->v.nested));
    return oa_builder_append_str_fast(
        c, r->scratch.data ? r->scratch.data : (const uint8_t *)"",
        r->scratch.size);
  default: /* the null-type child */
    c->length++;
    c->null_count++;
    return 0;
  }
}

/* One attribute map element; which < 0: plain keys (resource, scope). The
 * entries struct and the union are never null: their slots are written for
 * the whole list after one reservation. */
static int append_attrs(oa_exp_rows *r, oa_builder *mb, int which,
                        const oa_keyvalue *list, size_t n) {
  const oa_exp_kv *kvs = oa_exp_kvs(list);
  oa_builder *entries = &mb->children[0];
  oa_builder *kb = &entries->children[0], *vb = &entries->children[1];
  if (n == 0) return oa_otlp_list_valid(mb);
  if (which >= 0 && !kb->validity.data) {
    /* keys found by their position (nearly all) are written here */
    OA_RETURN_NOT_OK(oa_bytes_reserve(&kb->values, (int64_t)n * 4));
    kent *pos = r->kpos[which];
    for (size_t i = 0; i < n; i++) {
      const char *k = kvs[i].key;
      kent *pe = i < KPOS ? &pos[i] : NULL;
      if (OA_LIKELY(pe && pe->gen == r->gen && pe->ptr == k)) {
        memcpy(kb->values.data + kb->values.size, &pe->idx, 4);
        kb->values.size += 4;
        kb->length++;
        continue;
      }
      int64_t kl = oa_exp_staged_len(k);
      if (pe && pe->gen == r->gen && pe->len == kl &&
          oa_otlp_eq_bytes(kb->dict_values->data.data + pe->off,
                           (const uint8_t *)k, kl)) {
        pe->ptr = k;
        memcpy(kb->values.data + kb->values.size, &pe->idx, 4);
        kb->values.size += 4;
        kb->length++;
      } else {
        OA_RETURN_NOT_OK(dict_append(r, which, (int64_t)i, k, kl));
      }
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const char *k = kvs[i].key;
      int64_t kl = oa_exp_staged_len(k);
      if (which >= 0)
        OA_RETURN_NOT_OK(dict_append(r, which, (int64_t)i, k, kl));
      else
        OA_RETURN_NOT_OK(put_str(kb, k, kl));
    }
  }
  OA_RETURN_NOT_OK(oa_bytes_reserve(&vb->values, (int64_t)n));
  OA_RETURN_NOT_OK(oa_bytes_reserve(&vb->data, (int64_t)n * 4));
  for (size_t i = 0; i < n; i++) {
    int type = oa_exp_kv_type(&kvs[i]);
    int t = kAttrType[(unsigned)type & 7];
    int32_t row;
    OA_RETURN_NOT_OK(value_child(r, vb, &kvs[i], type, t, &row));
    vb->values.data[vb->values.size + (int64_t)i] = (uint8_t)t;
    memcpy(vb->data.data + vb->data.size + (int64_t)i * 4, &row, 4);
  }
  vb->values.size += (int64_t)n;
  vb->data.size += (int64_t)n * 4;
  vb->length += (int64_t)n;
  if (OA_UNLIKELY(entries->validity.data)) {
    for (size_t i = 0; i < n; i++) { /* (never: entries are not null) */
      OA_RETURN_NOT_OK(oa_builder_mark_valid_(entries));
      entries->length++;
    }
  } else {
    entries->length += (int64_t)n;
  }
  return oa_otlp_list_valid(mb);
}

/* a staged string, NULL: empty */
static inline int append_sstr(oa_builder *b, const char *s) {
  return put_str(b, s ? s : "", s ? oa_exp_staged_len(s) : 0);
}

/* a plain C string (schema URLs) */
static inline int append_str(oa_builder *b, const char *s) {
  return oa_builder_append_str_fast(b, s ? s : "", s ? (int64_t)strlen(s) : 0);
}

typedef struct res_state {
  const oa_resource *res;
  int32_t id; /* -1 until its first span is appended */
  bool bad;
  const char *svc; /* service.name string value, NULL: none */
  int64_t svc_len;
  char msg[OA_ERROR_SIZE];
} res_state;

static int append_resource(oa_exp_rows *r, res_state *rs, int32_t id) {
  const oa_resource *res = rs->res;
  OA_RETURN_NOT_OK(
      append_attrs(r, &r->res_attrs, -1,
                   res ? (const oa_keyvalue *)(const void *)res->attrs : NULL,
                   res ? res->n_attrs : 0));
  OA_RETURN_NOT_OK(append_str(&r->res_url, res ? res->schema_url : NULL));
  OA_RETURN_NOT_OK(oa_otlp_list_valid(&r->res_refs)); /* no entity refs */
  rs->id = id;
  return 0;
}

static int append_scope(oa_exp_rows *r, const oa_scope *s) {
  OA_RETURN_NOT_OK(append_sstr(&r->sc_name, s ? s->name : NULL));
  OA_RETURN_NOT_OK(append_sstr(&r->sc_version, s ? s->version : NULL));
  OA_RETURN_NOT_OK(
      append_attrs(r, &r->sc_attrs, -1,
                   s ? (const oa_keyvalue *)(const void *)s->attrs : NULL,
                   s ? s->n_attrs : 0));
  return append_str(&r->sc_url, s ? s->schema_url : NULL);
}

static int append_span(oa_exp_rows *r, const oa_span *sp, const res_state *rs,
                       int32_t scope_id) {
  oa_builder *b = r->b;
  OA_RETURN_NOT_OK(
      oa_builder_append_fsb_fast(&b[OA_SPAN_TRACE_ID], sp->trace_id));
  OA_RETURN_NOT_OK(
      oa_builder_append_fsb_fast(&b[OA_SPAN_SPAN_ID], sp->span_id));
  OA_RETURN_NOT_OK(sp->has_parent
                       ? oa_builder_append_fsb_fast(&b[OA_SPAN_PARENT_SPAN_ID],
                                                    sp->parent_span_id)
                       : oa_builder_append_null(&b[OA_SPAN_PARENT_SPAN_ID]));
  OA_RETURN_NOT_OK(append_sstr(&b[OA_SPAN_TRACE_STATE], sp->trace_state));
  OA_RETURN_NOT_OK(oa_builder_append_u32_fast(&b[OA_SPAN_FLAGS], sp->flags));
  OA_RETURN_NOT_OK(dict_append(r, KC_NAME, 0, sp->name,
                               sp->name ? oa_exp_staged_len(sp->name) : 0));
  OA_RETURN_NOT_OK(
      oa_builder_append_i32_fast(&b[OA_SPAN_KIND], (int32_t)sp->kind));
  int64_t st = sp->start_time_unix_nano, en = sp->end_time_unix_nano;
  OA_RETURN_NOT_OK(oa_builder_append_i64_fast(&b[OA_SPAN_START_TIME], st));
  OA_RETURN_NOT_OK(oa_builder_append_i64_fast(&b[OA_SPAN_END_TIME], en));
  OA_RETURN_NOT_OK(oa_builder_append_i64_fast(
      &b[OA_SPAN_DURATION], (int64_t)((uint64_t)en - (uint64_t)st)));
  OA_RETURN_NOT_OK(oa_builder_append_i32_fast(&b[OA_SPAN_STATUS_CODE],
                                              (int32_t)sp->status_code));
  OA_RETURN_NOT_OK(append_sstr(&b[OA_SPAN_STATUS_MESSAGE], sp->status_message));
  OA_RETURN_NOT_OK(
      append_attrs(r, &b[OA_SPAN_ATTRIBUTES], KC_ATTR, sp->attrs, sp->n_attrs));
  OA_RETURN_NOT_OK(oa_builder_append_u32_fast(
      &b[OA_SPAN_DROPPED_ATTRIBUTES_COUNT], sp->dropped_attributes_count));
  oa_builder *ev = &b[OA_SPAN_EVENTS], *lk = &b[OA_SPAN_LINKS];
  oa_builder *evi = &ev->children[0], *lki = &lk->children[0];
  for (size_t k = 0; k < sp->n_events; k++) {
    const oa_span_event *e = &sp->events[k];
    oa_builder *ch = evi->children;
    OA_RETURN_NOT_OK(oa_builder_append_i64_fast(&ch[0], e->time_unix_nano));
    OA_RETURN_NOT_OK(dict_append(r, KC_EVENT_NAME, 0, e->name,
                                 e->name ? oa_exp_staged_len(e->name) : 0));
    OA_RETURN_NOT_OK(
        append_attrs(r, &ch[2], KC_EVENT_KEY, e->attrs, e->n_attrs));
    OA_RETURN_NOT_OK(
        oa_builder_append_u32_fast(&ch[3], e->dropped_attributes_count));
    OA_RETURN_NOT_OK(oa_builder_mark_valid_(evi));
    evi->length++;
  }
  OA_RETURN_NOT_OK(oa_otlp_list_valid(ev));
  for (size_t k = 0; k < sp->n_links; k++) {
    const oa_span_link *l = &sp->links[k];
    oa_builder *ch = lki->children;
    OA_RETURN_NOT_OK(oa_builder_append_fsb_fast(&ch[0], l->trace_id));
    OA_RETURN_NOT_OK(oa_builder_append_fsb_fast(&ch[1], l->span_id));
    OA_RETURN_NOT_OK(append_sstr(&ch[2], l->trace_state));
    OA_RETURN_NOT_OK(oa_builder_append_u32_fast(&ch[3], l->flags));
    OA_RETURN_NOT_OK(
        append_attrs(r, &ch[4], KC_LINK_KEY, l->attrs, l->n_attrs));
    OA_RETURN_NOT_OK(
        oa_builder_append_u32_fast(&ch[5], l->dropped_attributes_count));
    OA_RETURN_NOT_OK(oa_builder_mark_valid_(lki));
    lki->length++;
  }
  OA_RETURN_NOT_OK(oa_otlp_list_valid(lk));
  OA_RETURN_NOT_OK(oa_builder_append_u32_fast(&b[OA_SPAN_DROPPED_EVENTS_COUNT],
                                              sp->dropped_events_count));
  OA_RETURN_NOT_OK(oa_builder_append_u32_fast(&b[OA_SPAN_DROPPED_LINKS_COUNT],
                                              sp->dropped_links_count));
  OA_RETURN_NOT_OK(rs->svc ? oa_builder_append_bytes(&b[OA_SPAN_SERVICE_NAME],
                                                     rs->svc, rs->svc_len)
                           : oa_builder_append_null(&b[OA_SPAN_SERVICE_NAME]));
  OA_RETURN_NOT_OK(oa_builder_append_i32_fast(&b[OA_SPAN_RESOURCE_ID], rs->id));
  OA_RETURN_NOT_OK(oa_builder_append_u32_fast(
      &b[OA_SPAN_RESOURCE_DROPPED_ATTRIBUTES_COUNT], 0));
  OA_RETURN_NOT_OK(oa_builder_append_i32_fast(&b[OA_SPAN_SCOPE_ID], scope_id));
  OA_RETURN_NOT_OK(oa_builder_append_u32_fast(
      &b[OA_SPAN_SCOPE_DROPPED_ATTRIBUTES_COUNT], 0));
  return 0;
}

static void start_resource(res_state *rs, const oa_resource *res) {
  rs->res = res;
  rs->id = -1;
  rs->svc = NULL;
  rs->svc_len = 0;
  rs->msg[0] = 0;
  rs->bad = !resource_ok(res, rs->msg);
  if (rs->bad || !res) return;
  /* the last service.name wins, and only a string value counts */
  for (size_t i = 0; i < res->n_attrs; i++) {
    const oa_exp_kv *kv = &res->attrs[i];
    if (strcmp(kv->key, "service.name") != 0) continue;
    if (oa_exp_kv_type(kv) == OA_ANY_STRING) {
      rs->svc = kv->v.s;
      rs->svc_len = oa_exp_staged_len(kv->v.s);
    } else {
      rs->svc = NULL;
    }
  }
}

/* ---------------------------------------------------------------- hints */

/* Visits every builder in a fixed order: mode 0 counts, 1 stores the buffer
 * sizes, 2 reserves them scaled to this batch's spans (finish hands the
 * buffers out, so each batch starts empty: without this every buffer
 * regrows, copies and zero-fills its way up again), 3 zeroes padding. */
static int64_t hint_walk(oa_exp_rows *r, oa_builder *b, int64_t k, int mode,
                         double scale) {
  if (mode == 1) {
    r->hints[k] = b->values.size;
    r->hints[k + 1] = b->data.size;
  } else if (mode == 2) {
    int64_t hv = (int64_t)((double)r->hints[k] * scale) + 64;
    int64_t hd = (int64_t)((double)r->hints[k + 1] * scale) + 64;
    oa_otlp_spare_reserve_builder(&r->spares, k, b, hv, hd);
  } else if (mode == 3) {
    oa_otlp_zero_tail(&b->values);
    oa_otlp_zero_tail(&b->data);
  }
  k += 2;
  for (int64_t i = 0; i < b->n_children; i++)
    k = hint_walk(r, &b->children[i], k, mode, scale);
  /* dictionaries do not grow with the spans: never scaled up */
  if (b->dict_values)
    k = hint_walk(r, b->dict_values, k, mode, scale > 1 ? 1 : scale);
  return k;
}

static void hint_all(oa_exp_rows *r, int mode, double scale) {
  int64_t k = 0;
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++) {
    if (!r->direct[c]) continue;
    r->slot[c] = k;
    k = hint_walk(r, &r->b[c], k, mode, scale);
  }
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++) {
    r->slot[oa_otlp_value_cols[i]] = k;
    k = hint_walk(r, value_b(r, i), k, mode, scale > 1 ? 1 : scale);
  }
  r->n_hints = k;
}

void oa_exp_rows_recycle(oa_exp_rows *r, oa_batch *batch) {
  if (r) {
    oa_builder *values[OA_OTLP_N_VALUE_COLS];
    for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++)
      values[i] = value_b(r, i);
    oa_otlp_recycle_batch(&r->spares, r->b, r->direct, values, r->slot, batch);
  }
  oa_batch_reset(batch);
}

/* --------------------------------------------------------------- finish */

/* Finishes every builder into cols; with cols NULL the content is thrown
 * away (a failed build). */
static int finish_all(oa_exp_rows *r, oa_array *cols, oa_error *err) {
  if (++r->gen == 0) { /* the dictionaries start over */
    memset(r->kc, 0, sizeof r->kc);
    memset(r->kpos, 0, sizeof r->kpos);
    r->gen = 1;
  }
  oa_builder *vb[OA_OTLP_N_VALUE_COLS];
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++)
    vb[i] = value_b(r, i);
  return oa_otlp_finish_columns(r->b, r->direct, vb, cols, "span rows", err);
}

int oa_exp_rows_build(oa_exp_rows *r, const oa_exp_stage *s, oa_batch *out,
                      int64_t *rejected, char msg[OA_ERROR_SIZE],
                      oa_error *err) {
  oa_exp_rows_recycle(r, out);
  *rejected = 0;
  msg[0] = 0;
  res_state rs;
  int32_t n_res = 0, n_scopes = 0;
  int rc = 0;
  char why[OA_ERROR_SIZE];
  if (r->hint_spans > 0 && s->n_spans > 0)
    hint_all(r, 2, (double)s->n_spans / (double)r->hint_spans);
  /* spares are handed out here or not at all: no memory is held past the
   * batch that could have used it */
  if (r->spares.n_held) oa_otlp_spares_drop(&r->spares);
  for (int64_t gi = 0; !rc && gi < s->n_groups; gi++) {
    const oa_exp_group *g = &s->groups[gi];
    if (gi == 0 || !oa_exp_same_resource(g->res, rs.res))
      start_resource(&rs, g->res);
    why[0] = 0;
    bool scope_bad = !scope_ok(g->scope, why);
    int32_t scope_id = -1;
    for (int64_t k = g->first; !rc && k < g->end; k++) {
      const char *reason = rs.bad ? rs.msg : scope_bad ? why : NULL;
      if (!reason && !span_ok(&s->spans[k], why)) reason = why;
      if (reason) {
        if ((*rejected)++ == 0) snprintf(msg, OA_ERROR_SIZE, "%s", reason);
        continue;
      }
      if (rs.id < 0) rc = append_resource(r, &rs, n_res++);
      if (scope_id < 0) scope_id = n_scopes++;
      if (!rc) rc = append_span(r, &s->spans[k], &rs, scope_id);
    }
    if (!rc && scope_id >= 0) rc = append_scope(r, g->scope);
  }
  if (rc) {
    finish_all(r, NULL, NULL);
    return oa_error_set(err, rc, "span rows: %s",
                        rc == ENOMEM ? "out of memory"
                                     : "a column outgrew its offsets or "
                                       "dictionary");
  }
  oa_array cols[OA_SPAN_N_COLUMNS];
  int64_t rows = r->b[OA_SPAN_TRACE_ID].length;
  if (s->n_spans > 0) {
    hint_all(r, 1, 1);
    r->hint_spans = s->n_spans;
  }
  hint_all(r, 3, 1);
  rc = finish_all(r, cols, err);
  if (rc == 0) rc = oa_batch_set(out, r->schema, rows, cols, err);
  if (rc) {
    for (int i = 0; i < OA_SPAN_N_COLUMNS; i++)
      oa_array_reset(&cols[i]);
  }
  return rc;
}
