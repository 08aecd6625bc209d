/* The exporter's direct batch builder (oa_exp_rows_build, staged records ->
 * columns) against the OTLP protobuf decoder on the request of the same
 * staged spans (oa_exp_stage_request): the batches must be equal value by
 * value, dictionary by dictionary (indices and values), and as Arrow IPC
 * bytes; rejections must match in number. */
#include "exp_test_util.h"
#include "exporter/exporter_internal.h"
#include "otlparrow/ipc.h"
#include "recycle_test_util.h"

/* Compares dictionary-encoded arrays physically (oa_array_equals looks
 * through the encoding): same indices, same dictionary values. */
static void check_dicts(const oa_field *f, const oa_array *a, const oa_array *b,
                        const char *where) {
  if (f->dict.encoded) {
    CHECK(a->dictionary && b->dictionary);
    if (!a->dictionary || !b->dictionary) return;
    oa_field vf;
    oa_error err_, *err = &err_;
    CHECK_OK(oa_field_copy(&vf, f, err), err);
    vf.dict.encoded = false;
    if (!oa_array_equals(&vf, a->dictionary, b->dictionary, err)) {
      fprintf(stderr, "%s: dictionary differs: %s\n", where, err->message);
      CHECK(false);
    }
    oa_field_reset(&vf);
    CHECK_EQ_INT(a->length, b->length);
    for (int64_t i = 0; i < a->length && i < b->length; i++) {
      bool na = oa_array_is_null(f, a, i), nb = oa_array_is_null(f, b, i);
      CHECK(na == nb);
      if (!na && !nb &&
          oa_array_get_dict_index(f, a, i) !=
              oa_array_get_dict_index(f, b, i)) {
        fprintf(stderr, "%s: row %lld: index %lld != %lld\n", where,
                (long long)i, (long long)oa_array_get_dict_index(f, a, i),
                (long long)oa_array_get_dict_index(f, b, i));
        CHECK(false);
        break;
      }
    }
    return;
  }
  for (int64_t c = 0;
       c < f->n_children && c < a->n_children && c < b->n_children; c++)
    check_dicts(&f->children[c], &a->children[c], &b->children[c], where);
}

static void ipc_bytes(const oa_batch *b, oa_bytes *out) {
  oa_error err_, *err = &err_;
  oa_ipc_writer *w = NULL;
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  out->size = 0;
  CHECK_OK(oa_ipc_writer_new(&w, OA_IPC_STREAM, b->schema, &wo,
                             oa_sink_bytes(out), err),
           err);
  if (!w) return;
  CHECK_OK(oa_ipc_writer_write(w, b, err), err);
  CHECK_OK(oa_ipc_writer_finish(w, err), err);
  oa_ipc_writer_free(w);
}

/* a and b are the same batch: values, dictionaries (indices and values),
 * Arrow IPC bytes. */
static void check_same(const oa_batch *a, const oa_batch *b) {
  oa_error err_, *err = &err_;
  CHECK_EQ_INT(a->length, b->length);
  if (!oa_batch_equals(a, b, err)) {
    fprintf(stderr, "batches differ: %s\n", err->message);
    CHECK(false);
  }
  for (int64_t c = 0; c < a->n_columns && c < b->n_columns; c++)
    check_dicts(&a->schema->fields[c], &a->columns[c], &b->columns[c],
                a->schema->fields[c].name);
  oa_bytes x, y;
  oa_bytes_init(&x);
  oa_bytes_init(&y);
  ipc_bytes(a, &x);
  ipc_bytes(b, &y);
  CHECK(x.size == y.size && memcmp(x.data, y.data, (size_t)x.size) == 0);
  oa_bytes_reset(&x);
  oa_bytes_reset(&y);
}

/* Builds the stage both ways and compares; returns the rows built. */
static int64_t compare_paths(oa_exp_rows *rows, const oa_exp_stage *st,
                             int64_t want_rejected) {
  oa_error err_, *err = &err_;
  oa_batch direct, decoded;
  oa_batch_init(&direct);
  oa_batch_init(&decoded);
  int64_t rejected = -1;
  char why[OA_ERROR_SIZE];
  CHECK_OK(oa_exp_rows_build(rows, st, &direct, &rejected, why, err), err);
  oa_bytes req;
  oa_bytes_init(&req);
  CHECK_OK(oa_exp_stage_request(st, &req, err), err);
  oa_otlp_result res;
  CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, &decoded, &res, err),
           err);
  CHECK_EQ_INT(rejected, want_rejected);
  CHECK_EQ_INT(res.rejected_spans, want_rejected);
  CHECK_EQ_INT(direct.length, st->n_spans - want_rejected);
  if (want_rejected) CHECK(why[0] != 0);
  check_same(&direct, &decoded);
  int64_t n = direct.length;
  oa_bytes_reset(&req);
  oa_batch_reset(&direct);
  oa_batch_reset(&decoded);
  return n;
}

static void span_at(oa_span *sp, int64_t i) {
  xs_span(sp, i, NULL, 0);
  sp->name = (i % 3) ? "GET /cart" : "db.query";
  sp->end_time_unix_nano += i;
}

static void stage_all(oa_exp_stage *st, const oa_span *sp, size_t n) {
  oa_error err_, *err = &err_;
  for (size_t i = 0; i < n; i++) {
    CHECK_OK(oa_exp_span_check(&sp[i], i, err), err);
    CHECK_OK(oa_exp_stage_add(st, &sp[i], err), err);
  }
}

OA_TEST(test_every_field_and_value) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);

  oa_anyvalue arr[] = {{.type = OA_ANY_INT, .v.i = 7},
                       {.type = OA_ANY_STRING, .v.str = {"x", 1}},
                       {.type = OA_ANY_EMPTY}};
  oa_keyvalue inner[] = {OA_KV_DOUBLE("d", 0.5), OA_KV_STR("", "")};
  oa_anyvalue nested[] = {{.type = OA_ANY_KVLIST, .v.kvlist = {inner, 2}},
                          {.type = OA_ANY_ARRAY, .v.array = {arr, 3}},
                          {.type = OA_ANY_ARRAY, .v.array = {NULL, 0}}};
  static const uint8_t raw[] = {0, 1, 0xff};
  oa_keyvalue attrs[] = {
      OA_KV_STR("http.method", "GET"),
      OA_KV_INT("http.status_code", -42),
      OA_KV_INT("big", INT64_MIN),
      OA_KV_DOUBLE("ratio", 2.25),
      OA_KV_DOUBLE("neg0", -0.0),
      OA_KV_BOOL("ok", false),
      OA_KV_BOOL("yes", true),
      {.key = "blob", .value = {.type = OA_ANY_BYTES, .v.bytes = {raw, 3}}},
      {.key = "noblob", .value = {.type = OA_ANY_BYTES, .v.bytes = {NULL, 0}}},
      {.key = "list", .value = {.type = OA_ANY_ARRAY, .v.array = {nested, 3}}},
      {.key = "map", .value = {.type = OA_ANY_KVLIST, .v.kvlist = {inner, 2}}},
      {.key = "emptymap", .value = {.type = OA_ANY_KVLIST}},
      {.key = "none", .value = {.type = OA_ANY_EMPTY}},
      {.key = "nullstr", .value = {.type = OA_ANY_STRING, .v.str = {NULL, 3}}},
      {.key = "lenstr",
       .value = {.type = OA_ANY_STRING, .v.str = {"abcdef", 3}}},
      {.key = NULL, .value = {.type = OA_ANY_STRING, .v.str = {"nokey", -1}}},
      OA_KV_STR("http.method", "dup key"),
      OA_KV_STR("utf8", "caf\xc3\xa9 \xe2\x82\xac"),
  };
  size_t n_attrs = sizeof attrs / sizeof attrs[0];
  oa_keyvalue ev_attrs[] = {OA_KV_STR("exception.type", "E"),
                            OA_KV_STR("http.method", "shared key")};
  oa_span_event evs[3] = {{.time_unix_nano = 1700000000000000100ll,
                           .name = "exception",
                           .attrs = ev_attrs,
                           .n_attrs = 2,
                           .dropped_attributes_count = 3},
                          {.name = NULL},
                          {.time_unix_nano = -5,
                           .name = "exception",
                           .attrs = ev_attrs,
                           .n_attrs = 1}};
  oa_span_link lks[2] = {{.trace_state = "k=v", .flags = 1, .n_attrs = 0},
                         {.trace_state = NULL,
                          .attrs = ev_attrs,
                          .n_attrs = 2,
                          .dropped_attributes_count = 9}};
  memset(lks[0].trace_id, 0x11, 16);
  memset(lks[0].span_id, 0x22, 8);

  oa_keyvalue res_attrs[] = {OA_KV_STR("host.name", "h1"),
                             OA_KV_INT("pid", 42)};
  oa_keyvalue svc_int[] = {OA_KV_INT("service.name", 5)};
  oa_keyvalue svc_last[] = {OA_KV_STR("service.name", "second")};
  oa_resource *r[6];
  CHECK_OK(oa_resource_new(&r[0], "checkout", res_attrs, 2, "https://s/1", err),
           err);
  CHECK_OK(oa_resource_new(&r[1], "cart", NULL, 0, NULL, err), err);
  /* equal content to r[1]: shares its resource_id when adjacent */
  CHECK_OK(oa_resource_new(&r[2], "cart", NULL, 0, NULL, err), err);
  CHECK_OK(oa_resource_new(&r[3], NULL, svc_int, 1, NULL, err), err);
  CHECK_OK(oa_resource_new(&r[4], "first", svc_last, 1, "", err), err);
  CHECK_OK(oa_resource_new(&r[5], NULL, NULL, 0, "https://only-url", err), err);
  oa_keyvalue scope_attrs[] = {
      OA_KV_BOOL("sampled", true),
      {.key = "l", .value = {.type = OA_ANY_ARRAY, .v.array = {arr, 2}}}};
  oa_scope *sc[3];
  CHECK_OK(
      oa_scope_new(&sc[0], "lib", "1.2.3", scope_attrs, 2, "https://sc", err),
      err);
  CHECK_OK(oa_scope_new(&sc[1], NULL, NULL, NULL, 0, NULL, err), err);
  CHECK_OK(oa_scope_new(&sc[2], "other", "", NULL, 0, NULL, err), err);

  enum { N = 40 };
  oa_span sp[N];
  for (int i = 0; i < N; i++) {
    span_at(&sp[i], i);
    sp[i].attrs = attrs;
    sp[i].n_attrs = (size_t)i % (n_attrs + 1);
    sp[i].resource = (i / 4) % 7 == 6 ? NULL : r[(i / 4) % 7 % 6];
    sp[i].scope = (i / 3) % 4 == 3 ? NULL : sc[(i / 3) % 4];
    sp[i].events = evs;
    sp[i].n_events = (size_t)i % 4;
    sp[i].links = lks;
    sp[i].n_links = (size_t)i % 3;
    sp[i].has_parent = i % 2;
    memset(sp[i].parent_span_id, i % 5 ? 0x33 : 0, 8);
    sp[i].trace_state = i % 5 == 1 ? "a=b" : i % 5 == 2 ? "" : NULL;
    sp[i].flags = (uint32_t)i * 0x101;
    sp[i].kind = (oa_span_kind)(i % 7 - 1);
    sp[i].status_code = (oa_status_code)(i % 3);
    sp[i].status_message = i % 4 == 1 ? "boom" : NULL;
    sp[i].dropped_attributes_count = (uint32_t)i;
    sp[i].dropped_events_count = (uint32_t)(i % 2);
    sp[i].dropped_links_count = (uint32_t)(i % 3);
    if (i == 7) sp[i].name = NULL;
    if (i == 8) sp[i].start_time_unix_nano = 0;
  }
  /* r[1] then r[2] (equal content) back to back, and a scope change */
  sp[N - 2].resource = r[1];
  sp[N - 1].resource = r[2];
  sp[N - 1].scope = sc[2];

  oa_exp_stage st;
  oa_exp_stage_init(&st);
  stage_all(&st, sp, N);
  /* staged copies do not depend on the caller's objects */
  for (int i = 0; i < 6; i++)
    oa_resource_free(r[i]);
  for (int i = 0; i < 3; i++)
    oa_scope_free(sc[i]);
  CHECK_EQ_INT(compare_paths(rows, &st, 0), N);
  /* the same builder again (its dictionary caches start over) */
  CHECK_EQ_INT(compare_paths(rows, &st, 0), N);

  /* an empty stage, then a cleared and refilled one */
  oa_exp_stage_clear(&st);
  CHECK_EQ_INT(compare_paths(rows, &st, 0), 0);
  for (int i = 10; i < 15; i++) /* (their objects are gone) */
    sp[i].resource = NULL, sp[i].scope = NULL;
  stage_all(&st, sp + 10, 5);
  CHECK_EQ_INT(compare_paths(rows, &st, 0), 5);
  oa_exp_stage_reset(&st);
  oa_exp_rows_free(rows);
}

OA_TEST(test_rejections_match_decoder) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  oa_anyvalue bad_arr[] = {{.type = OA_ANY_STRING, .v.str = {"\xc0\x80", 2}}};
  oa_keyvalue bad_key[] = {OA_KV_INT("k\xff", 1)};
  oa_keyvalue bad_nested[] = {
      {.key = "a", .value = {.type = OA_ANY_ARRAY, .v.array = {bad_arr, 1}}}};
  oa_keyvalue bad_inner_key[] = {OA_KV_STR("\xed\xa0\x80", "surrogate")};
  oa_keyvalue bad_map[] = {
      {.key = "m",
       .value = {.type = OA_ANY_KVLIST, .v.kvlist = {bad_inner_key, 1}}}};
  oa_keyvalue good[] = {OA_KV_STR("k", "v")};
  oa_span_event bad_ev = {.name = "e\xfe"};
  oa_span_event bad_ev_attr = {.name = "e", .attrs = bad_key, .n_attrs = 1};
  oa_span_link bad_link = {.trace_state = "\x80"};
  memset(bad_link.trace_id, 1, 16);
  memset(bad_link.span_id, 1, 8);
  oa_span_link bad_link_attr = {.attrs = bad_nested, .n_attrs = 1};
  memset(bad_link_attr.trace_id, 2, 16);
  memset(bad_link_attr.span_id, 2, 8);
  oa_keyvalue *many = calloc(4097, sizeof *many);
  for (int i = 0; i < 4097; i++)
    many[i] = (oa_keyvalue)OA_KV_INT("n", i);

  oa_resource *rbad, *rgood;
  oa_keyvalue bad_res_attr[] = {OA_KV_STR("host", "\xff")};
  CHECK_OK(oa_resource_new(&rbad, "svc", bad_res_attr, 1, NULL, err), err);
  CHECK_OK(oa_resource_new(&rgood, "svc", good, 1, NULL, err), err);
  oa_scope *sbad;
  CHECK_OK(oa_scope_new(&sbad, "lib\xff", NULL, NULL, 0, NULL, err), err);

  enum { N = 16 };
  oa_span sp[N];
  for (int i = 0; i < N; i++) {
    span_at(&sp[i], i);
    sp[i].resource = rgood;
    sp[i].attrs = good;
    sp[i].n_attrs = 1;
  }
  sp[1].name = "bad\xff";   /* 1 */
  sp[2].attrs = bad_key;    /* 2 */
  sp[3].attrs = bad_nested; /* 3 */
  sp[4].attrs = bad_map;    /* 4 */
  sp[5].events = &bad_ev;   /* 5 */
  sp[5].n_events = 1;
  sp[6].events = &bad_ev_attr; /* 6 */
  sp[6].n_events = 1;
  sp[7].links = &bad_link; /* 7 */
  sp[7].n_links = 1;
  sp[8].links = &bad_link_attr; /* 8 */
  sp[8].n_links = 1;
  sp[9].status_message = "\xe2\x82"; /* 9: truncated */
  sp[10].attrs = many;               /* 10: over the limit */
  sp[10].n_attrs = 4097;
  sp[11].resource = rbad; /* 11, 12: bad resource */
  sp[12].resource = rbad;
  sp[13].scope = sbad; /* 13: bad scope */
  sp[14].trace_state = "ok";
  sp[15].attrs = many; /* at the limit: fine */
  sp[15].n_attrs = 4096;
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  stage_all(&st, sp, N);
  CHECK_EQ_INT(compare_paths(rows, &st, 13), N - 13);
  /* a resource whose spans were all refused takes no resource_id */
  oa_exp_stage_clear(&st);
  stage_all(&st, sp + 11, 4);
  CHECK_EQ_INT(compare_paths(rows, &st, 3), 1);
  oa_exp_stage_reset(&st);
  oa_resource_free(rbad);
  oa_resource_free(rgood);
  oa_scope_free(sbad);
  free(many);
  oa_exp_rows_free(rows);
}

/* Many batches through one builder with a shifting mix of keys and names:
 * the dictionary caches must never hand out a stale index. */
OA_TEST(test_dictionary_cache_across_batches) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  char keys[64][16];
  for (int k = 0; k < 64; k++)
    snprintf(keys[k], sizeof keys[k], "key.%d", k * 7919 % 1000);
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  for (int batch = 0; batch < 6; batch++) {
    oa_exp_stage_clear(&st);
    for (int i = 0; i < 300; i++) {
      oa_keyvalue kv[5];
      for (int k = 0; k < 5; k++)
        kv[k] = (oa_keyvalue)OA_KV_INT(keys[(i * 5 + k + batch * 13) % 64], k);
      oa_span sp;
      span_at(&sp, i + batch * 1000);
      sp.name = keys[(i + batch) % 64];
      sp.attrs = kv;
      sp.n_attrs = 5;
      stage_all(&st, &sp, 1);
    }
    CHECK_EQ_INT(compare_paths(rows, &st, 0), 300);
  }
  oa_exp_stage_reset(&st);
  oa_exp_rows_free(rows);
}

/* A value too long for the batch's 32-bit offsets is refused when staged
 * (its bytes are not read), and the stage stays usable. */
OA_TEST(test_oversized_string_refused) {
  oa_error err_, *err = &err_;
  static const uint8_t raw[4] = {1, 2, 3, 4};
  oa_keyvalue big[] = {
      {.key = "big",
       .value = {.type = OA_ANY_BYTES, .v.bytes = {raw, (int64_t)3 << 30}}}};
  oa_span sp;
  span_at(&sp, 1);
  sp.attrs = big;
  sp.n_attrs = 1;
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  CHECK_OK(oa_exp_span_check(&sp, 0, err), err);
  CHECK_FAILS(oa_exp_stage_add(&st, &sp, err), E2BIG, err, "longer than 2 GiB");
  CHECK_EQ_INT(st.n_spans, 0);
  span_at(&sp, 2);
  CHECK_OK(oa_exp_stage_add(&st, &sp, err), err);
  CHECK_EQ_INT(st.n_spans, 1);
  oa_exp_stage_reset(&st);
}

/* A warmed stage (memory mapped and faulted in ahead) takes what it was
 * warmed for without allocating, and still takes more: spans past its
 * array, strings past its arena block; cleared, it is reused the same way.
 * The staged records must stay intact through each move. */
OA_TEST(test_warmed_stage_outgrown) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  static char big[6000];
  memset(big, 'x', sizeof big - 1);
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  CHECK_OK(oa_exp_stage_warm(&st, 100, 20000), err);
  CHECK(st.cap_spans >= 100);
  CHECK_EQ_INT(st.arena.n_chunks, 1);
  CHECK(st.arena.chunks[0].cap >= 20000);
  CHECK(oa_exp_stage_capacity(&st) >=
        st.cap_spans * (int64_t)sizeof(oa_span) + 20000);
  for (int round = 0; round < 2; round++) {
    oa_exp_stage_clear(&st);
    int chunks = st.arena.n_chunks; /* 1, then what round 0 grew */
    /* what it was warmed for: no new chunk */
    for (int i = 0; i < 100; i++) {
      oa_keyvalue kv[] = {OA_KV_STR("k", "small"), OA_KV_INT("i", i)};
      oa_span sp;
      span_at(&sp, i);
      sp.attrs = kv;
      sp.n_attrs = 2;
      stage_all(&st, &sp, 1);
    }
    CHECK_EQ_INT(st.arena.n_chunks, chunks);
    CHECK_EQ_INT(st.arena.cur, 0);
    CHECK(st.arena.bytes <= 20000);
    /* then past the span array and the arena block */
    int64_t want = st.cap_spans + 50;
    for (int64_t i = 100; i < want; i++) {
      oa_keyvalue kv[] = {
          OA_KV_STR("pad", (i % 13) == 0 ? big : big + sizeof big - 9),
          OA_KV_INT("i", i)};
      oa_span sp;
      span_at(&sp, i);
      sp.attrs = kv;
      sp.n_attrs = 2;
      stage_all(&st, &sp, 1);
    }
    CHECK_EQ_INT(st.n_spans, want);
    CHECK(st.cap_spans >= want);
    CHECK(st.arena.n_chunks > 1);
    /* the records point where they should: the span array moved */
    CHECK_EQ_STR(st.spans[13 * 30].name, "db.query"); /* 390 % 3 == 0 */
    const oa_exp_kv *kv = oa_exp_kvs(st.spans[13 * 30].attrs);
    CHECK_EQ_INT(oa_exp_staged_len(kv[0].v.s), (int64_t)sizeof big - 1);
    kv = oa_exp_kvs(st.spans[want - 1].attrs);
    CHECK_EQ_STR(kv[0].v.s, "xxxxxxxx");
    CHECK_EQ_INT(kv[1].v.i, want - 1);
    CHECK_EQ_INT(compare_paths(rows, &st, 0), want);
  }
  oa_exp_stage_reset(&st);
  CHECK(st.spans == NULL && st.arena.n_chunks == 0);
  oa_exp_rows_free(rows);
}

/* ------------------------------------------------ keys staged once */

/* The staged key of attribute a of staged span i. */
static const oa_exp_kv *staged_kv(const oa_exp_stage *st, int64_t i, size_t a) {
  return &oa_exp_kvs(st->spans[i].attrs)[a];
}

/* A key staged once per stage is shared by later attributes with the same
 * key and value type: the same key with another type gets its own copy (the
 * type is in the staged key), and a span then stages only its records and
 * values. */
OA_TEST(test_keys_staged_once) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  static const char *const keys[10] = {
      "http.method",   "http.route",     "http.status", "net.peer.name",
      "net.peer.port", "sampling.ratio", "cache.hit",   "request.size",
      "user.tier",     "thread.id"};
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  enum { N = 60 };
  int64_t before[N + 1];
  for (int i = 0; i < N; i++) {
    oa_keyvalue kv[10];
    for (int k = 0; k < 10; k++) {
      /* "http.status" is an int, a string, a double, a bool in turn */
      int t = k == 2 ? i % 4 : k % 4;
      kv[k] = t == 0   ? (oa_keyvalue)OA_KV_INT(keys[k], i * 10 + k)
              : t == 1 ? (oa_keyvalue)OA_KV_STR(keys[k], i % 2 ? "GET" : "PUT")
              : t == 2 ? (oa_keyvalue)OA_KV_DOUBLE(keys[k], i + 0.5)
                       : (oa_keyvalue)OA_KV_BOOL(keys[k], i % 3 == 0);
    }
    oa_span sp;
    span_at(&sp, i);
    sp.name = "db.query";
    sp.attrs = kv;
    sp.n_attrs = i >= N - 4 ? 0 : 10; /* the last ones: no attributes */
    before[i] = st.arena.bytes;
    stage_all(&st, &sp, 1);
  }
  before[N] = st.arena.bytes;
  for (int i = 0; i < N - 4; i++) {
    for (size_t k = 0; k < 10; k++) {
      const oa_exp_kv *kv = staged_kv(&st, i, k);
      int t = k == 2 ? i % 4 : (int)k % 4;
      static const int types[4] = {OA_ANY_INT, OA_ANY_STRING, OA_ANY_DOUBLE,
                                   OA_ANY_BOOL};
      CHECK_EQ_STR(kv->key, keys[k]);
      CHECK_EQ_INT(oa_exp_staged_len(kv->key), (int64_t)strlen(keys[k]));
      CHECK_EQ_INT(oa_exp_kv_type(kv), types[t]);
      /* the same key and type as 4 spans before: the same staged copy */
      if (i >= 4) CHECK(kv->key == staged_kv(&st, i - 4, k)->key);
    }
    /* one key, four types: four copies */
    if (i >= 1)
      CHECK(staged_kv(&st, i, 2)->key != staged_kv(&st, i - 1, 2)->key);
  }
  /* from the fifth span on, the attributes cost their 16-byte records and
   * the string values (3 here, 4 bytes + 5) only: compared with a span
   * without attributes, alignment padding aside */
  int64_t plain = before[N] - before[N - 1];
  for (int i = 4; i < N - 4; i++) {
    int64_t strs = 0;
    for (int k = 0; k < 10; k++)
      if ((k == 2 ? i % 4 : k % 4) == 1) strs += 3 + 5;
    int64_t extra = before[i + 1] - before[i] - plain;
    CHECK(extra >= 10 * 16 + strs - 7 && extra <= 10 * 16 + strs + 7);
  }
  CHECK_EQ_INT(compare_paths(rows, &st, 0), N);
  oa_exp_stage_reset(&st);
  oa_exp_rows_free(rows);
}

/* The caller's key buffer reused for other text at the same address: a
 * different key, one of the same length, a prefix, a longer one, the
 * same text again; each span must keep the key it was added with. */
OA_TEST(test_reused_key_buffer) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  static const char *const texts[] = {"http.method",
                                      "http.metho",
                                      "http.methoX",
                                      "http.method",
                                      "db.system",
                                      "",
                                      "h",
                                      "http.method.long.enough.for.memcmp",
                                      "http.method.long.enough.for.memcmP",
                                      "http.method"};
  enum { T = sizeof texts / sizeof texts[0] };
  char buf[64], buf2[64];
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  for (int i = 0; i < 3 * T; i++) {
    snprintf(buf, sizeof buf, "%s", texts[i % T]);
    snprintf(buf2, sizeof buf2, "%s", texts[(i + 3) % T]);
    oa_keyvalue kv[] = {OA_KV_INT(buf, i), OA_KV_STR(buf2, "v"),
                        OA_KV_INT(texts[i % T], -i)};
    oa_span sp;
    span_at(&sp, i);
    sp.attrs = kv;
    sp.n_attrs = 3;
    stage_all(&st, &sp, 1);
  }
  for (int i = 0; i < 3 * T; i++) {
    CHECK_EQ_STR(staged_kv(&st, i, 0)->key, texts[i % T]);
    CHECK_EQ_STR(staged_kv(&st, i, 1)->key, texts[(i + 3) % T]);
    CHECK_EQ_STR(staged_kv(&st, i, 2)->key, texts[i % T]);
    CHECK_EQ_INT(oa_exp_staged_len(staged_kv(&st, i, 0)->key),
                 (int64_t)strlen(texts[i % T]));
    CHECK_EQ_INT(staged_kv(&st, i, 0)->v.i, i);
    CHECK_EQ_INT(oa_exp_kv_type(staged_kv(&st, i, 1)), OA_ANY_STRING);
  }
  /* the same text at the same address in the next span is shared (texts
   * T - 1 and 0), as is a literal seen before; other text there is not */
  for (int r = 1; r < 3; r++) {
    CHECK(staged_kv(&st, r * T, 0)->key == staged_kv(&st, r * T - 1, 0)->key);
    CHECK(staged_kv(&st, r * T + 3, 2)->key == staged_kv(&st, 0, 2)->key);
  }
  CHECK(staged_kv(&st, 1, 0)->key != staged_kv(&st, 0, 0)->key);
  CHECK_EQ_INT(compare_paths(rows, &st, 0), 3 * T);
  oa_exp_stage_reset(&st);
  oa_exp_rows_free(rows);
}

/* Many distinct keys (far more than the cache holds): collisions and
 * evictions, spread over span, event and link attributes; some keys
 * repeat at once, some come back after many others. */
OA_TEST(test_many_distinct_keys) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  enum { K = 700, N = 400, A = 9 };
  static char names[K][24];
  for (int k = 0; k < K; k++)
    snprintf(names[k], sizeof names[k], "attr.%d.%s", k * 7919 % 100000,
             k % 3 ? "x" : "name");
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  for (int i = 0; i < N; i++) {
    oa_keyvalue kv[A];
    for (int a = 0; a < A; a++) {
      const char *key = names[a < 3 ? a : (i * 37 + a * 101) % K];
      kv[a] = a % 2 ? (oa_keyvalue)OA_KV_STR(key, key)
                    : (oa_keyvalue)OA_KV_INT(key, i + a);
    }
    oa_span_event ev = {.name = "e", .attrs = kv + 3, .n_attrs = 4};
    oa_span_link lk = {.attrs = kv + 1, .n_attrs = 5};
    memset(lk.trace_id, 1, 16);
    memset(lk.span_id, 2, 8);
    oa_span sp;
    span_at(&sp, i);
    sp.attrs = kv;
    sp.n_attrs = A;
    sp.events = &ev;
    sp.n_events = i % 3 == 0;
    sp.links = &lk;
    sp.n_links = i % 5 == 0;
    stage_all(&st, &sp, 1);
  }
  for (int i = 0; i < N; i++) {
    for (int a = 0; a < A; a++) {
      const char *key = names[a < 3 ? a : (i * 37 + a * 101) % K];
      const oa_exp_kv *kv = staged_kv(&st, i, (size_t)a);
      CHECK_EQ_STR(kv->key, key);
      CHECK_EQ_INT(oa_exp_kv_type(kv), a % 2 ? OA_ANY_STRING : OA_ANY_INT);
    }
    if (st.spans[i].n_events)
      CHECK_EQ_STR(oa_exp_kvs(st.spans[i].events[0].attrs)[3].key,
                   names[(i * 37 + 6 * 101) % K]);
  }
  CHECK_EQ_INT(compare_paths(rows, &st, 0), N);
  oa_exp_stage_reset(&st);
  oa_exp_rows_free(rows);
}

/* A cleared stage forgets its staged keys: its arena is refilled from the
 * start, so a key staged further in the previous fill is not taken again
 * (its bytes are still there until the refill reaches them). */
OA_TEST(test_cleared_stage_forgets_keys) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  static char pad[3000];
  memset(pad, 'p', sizeof pad - 1);
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  for (int round = 0; round < 3; round++) {
    /* "k" staged after 2 KB of pad */
    oa_keyvalue kv1[] = {OA_KV_STR("pad", pad + 1000), OA_KV_INT("k", 1)};
    oa_span sp;
    span_at(&sp, 0);
    sp.attrs = kv1;
    sp.n_attrs = 2;
    stage_all(&st, &sp, 1);
    oa_exp_stage_clear(&st);
    CHECK_EQ_INT(st.arena.bytes, 0);
    /* "k" first this time, then a pad that writes over where "k" was */
    oa_keyvalue kv2[] = {OA_KV_INT("k", 2)};
    sp.attrs = kv2;
    sp.n_attrs = 1;
    stage_all(&st, &sp, 1);
    oa_keyvalue kv3[] = {OA_KV_STR("pad2", pad)};
    span_at(&sp, 1);
    sp.attrs = kv3;
    sp.n_attrs = 1;
    stage_all(&st, &sp, 1);
    CHECK_EQ_STR(staged_kv(&st, 0, 0)->key, "k");
    CHECK_EQ_INT(oa_exp_kv_type(staged_kv(&st, 0, 0)), OA_ANY_INT);
    CHECK_EQ_INT(staged_kv(&st, 0, 0)->v.i, 2);
    CHECK_EQ_INT(compare_paths(rows, &st, 0), 2);
    oa_exp_stage_clear(&st);
  }
  oa_exp_stage_reset(&st);
  oa_exp_rows_free(rows);
}

/* ------------------------------------------------- oa_exp_rows_recycle */

/* n spans of a mix that grows every buffer with the spans: per-span
 * strings, ints, doubles and bools, events and links every few spans,
 * three resources and two scopes; seed varies the values. */
static void stage_mix(oa_exp_stage *st, int64_t n, int seed) {
  oa_error err_, *err = &err_;
  static const char *names[] = {"GET /cart", "db.query", "POST /pay",
                                "cache.get", "render"};
  oa_resource *res[3];
  oa_scope *sc[2];
  oa_keyvalue host[] = {OA_KV_STR("host.name", "h1"), OA_KV_INT("pid", seed)};
  CHECK_OK(oa_resource_new(&res[0], "checkout", host, 2, NULL, err), err);
  CHECK_OK(oa_resource_new(&res[1], "cart", NULL, 0, "https://s/1", err), err);
  CHECK_OK(oa_resource_new(&res[2], NULL, host, 1, NULL, err), err);
  CHECK_OK(oa_scope_new(&sc[0], "lib", "1.0", NULL, 0, NULL, err), err);
  CHECK_OK(oa_scope_new(&sc[1], "other", NULL, host, 1, NULL, err), err);
  oa_exp_stage_clear(st);
  for (int64_t i = 0; i < n; i++) {
    char url[64], msg[32];
    snprintf(url, sizeof url, "/api/v%d/item/%lld", seed, (long long)i);
    snprintf(msg, sizeof msg, "err %lld", (long long)(i * 7 + seed));
    oa_keyvalue kv[] = {OA_KV_STR("http.url", url),
                        OA_KV_INT("http.status_code", 200 + i % 5),
                        OA_KV_DOUBLE("load", (double)i * 0.25),
                        OA_KV_BOOL("cached", i % 3 == 0)};
    oa_span_event ev = {.time_unix_nano = 1700000000000000000ll + i,
                        .name = "exception",
                        .attrs = kv,
                        .n_attrs = 1};
    oa_span_link lk = {.trace_state = "k=v", .attrs = kv + 1, .n_attrs = 2};
    memset(lk.trace_id, 0x11 + seed, 16);
    memset(lk.span_id, 0x22, 8);
    oa_span sp;
    span_at(&sp, i + seed * 100000);
    sp.name = names[(i + seed) % 5];
    sp.attrs = kv;
    sp.n_attrs = 1 + (size_t)(i + seed) % 4;
    sp.events = &ev;
    sp.n_events = i % 4 == 0;
    sp.links = &lk;
    sp.n_links = i % 7 == 0;
    sp.has_parent = i % 2;
    memset(sp.parent_span_id, 0x33, 8);
    sp.status_message = i % 5 == 1 ? msg : NULL;
    sp.resource = res[(i / 100) % 3];
    sp.scope = sc[(i / 50) % 2];
    stage_all(st, &sp, 1);
  }
  for (int i = 0; i < 3; i++)
    oa_resource_free(res[i]);
  for (int i = 0; i < 2; i++)
    oa_scope_free(sc[i]);
}

static ptrs g_a, g_b, g_c; /* (large: not on the stack) */
static void *g_soak[MAX_PTRS];

static void build(oa_exp_rows *rows, const oa_exp_stage *st, oa_batch *out) {
  oa_error err_, *err = &err_;
  int64_t rejected = -1;
  char why[OA_ERROR_SIZE];
  CHECK_OK(oa_exp_rows_build(rows, st, out, &rejected, why, err), err);
  CHECK_EQ_INT(rejected, 0);
}

/* What a new builder makes of st. */
static void fresh_build(const oa_exp_stage *st, oa_batch *out) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  build(rows, st, out);
  oa_exp_rows_free(rows);
}

static void check_fresh(const oa_exp_stage *st, const oa_batch *got) {
  oa_error err_, *err = &err_;
  oa_batch want;
  oa_batch_init(&want);
  fresh_build(st, &want);
  CHECK_EQ_INT(got->length, st->n_spans);
  CHECK_OK(oa_batch_validate(got, true, err), err);
  check_same(got, &want);
  oa_batch_reset(&want);
}

/* Build, recycle, build: every batch is what a new builder makes of its
 * stage, whatever the order of sizes; the same size again runs on the
 * previous batch's memory; a small batch after a big one keeps none of the
 * big buffers that are over 1.5x its need. */
OA_TEST(test_recycled_build_equals_fresh) {
  oa_error err_, *err = &err_;
  oa_exp_stage big, small, mid, mid2;
  oa_exp_stage_init(&big);
  oa_exp_stage_init(&small);
  oa_exp_stage_init(&mid);
  oa_exp_stage_init(&mid2);
  stage_mix(&big, 8192, 1);
  stage_mix(&small, 12, 2);
  stage_mix(&mid, 700, 3);
  stage_mix(&mid2, 650, 4);
  const oa_exp_stage *order[] = {&big, &small, &big, &mid, &mid2, &mid,
                                 &mid, &small, &big, &big, &mid2};
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  oa_batch b;
  oa_batch_init(&b);
  int64_t big_held = 0;
  bool soaked = false;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const oa_exp_stage *st = order[i];
    build(rows, st, &b);
    check_fresh(st, &b);
    int64_t h = batch_ptrs(&b, &g_b);
    if (soaked) unsoak(&g_a, g_soak);
    if (st == &big && h > big_held) big_held = h;
    if (i > 0 && order[i - 1] == &big && st == &small) {
      /* a few KB per span at most; a buffer of the big batch it took over
       * is within 1.5x of what it holds (+ the 64-byte slack, alignment) */
      CHECK(h < 256 * 1024);
      CHECK(h * 8 < big_held);
      for (int k = 0; k < g_b.n; k++) {
        /* small blocks are left out: malloc may hand a fresh one out at an
         * address the big batch used, and the bound is about big ones */
        if (!seen(&g_a, g_b.p[k]) || g_b.cap[k] <= 4096) continue;
        int64_t need = g_b.used[k] + 64;
        if (g_b.cap[k] > need + need / 2 + 64) {
          fprintf(stderr, "buffer %d: %lld bytes kept for %lld\n", k,
                  (long long)g_b.cap[k], (long long)g_b.used[k]);
          CHECK(false);
        }
      }
    }
    if (i > 0 && order[i - 1] == st) {
      /* the same stage after a recycle: most of the memory is the previous
       * batch's (bitmaps and offsets that finish writes are new) */
      CHECK(n_seen(&g_a, &g_b) * 3 > g_b.n * 2);
    }
    batch_ptrs(&b, &g_a);
    soaked = i % 2;
    if (soaked) { /* else the next build recycles what b holds itself */
      oa_exp_rows_recycle(rows, &b);
      CHECK_EQ_INT(b.n_columns, 0);
      CHECK_EQ_INT(b.length, 0);
      soak(&g_a, g_soak);
    }
  }
  CHECK(big_held > 1024 * 1024);

  /* a recycled batch's buffers are not kept past the next build, even one
   * with no spans (no reservation takes them) */
  build(rows, &big, &b);
  oa_exp_rows_recycle(rows, &b);
  struct mallinfo2 m0 = mallinfo2();
  oa_exp_stage empty;
  oa_exp_stage_init(&empty);
  build(rows, &empty, &b);
  CHECK_EQ_INT(b.length, 0);
  oa_batch_reset(&b);
  struct mallinfo2 m1 = mallinfo2();
  if (m0.uordblks + m0.hblkhd > 0) /* (0 where a sanitizer allocates) */
    CHECK((int64_t)(m0.uordblks + m0.hblkhd) -
              (int64_t)(m1.uordblks + m1.hblkhd) >
          big_held / 2);
  oa_exp_stage_reset(&empty);

  oa_batch_reset(&b);
  oa_exp_rows_free(rows);
  oa_exp_stage_reset(&big);
  oa_exp_stage_reset(&small);
  oa_exp_stage_reset(&mid);
  oa_exp_stage_reset(&mid2);
}

/* A batch whose buffers are also referenced elsewhere (a copy, a slice, one
 * column) can be recycled: what the others hold is never written by the
 * next builds, and only the buffers no one else holds are reused. */
OA_TEST(test_recycle_leaves_shared_buffers_intact) {
  oa_error err_, *err = &err_;
  oa_exp_stage sa, sb;
  oa_exp_stage_init(&sa);
  oa_exp_stage_init(&sb);
  stage_mix(&sa, 900, 11);
  stage_mix(&sb, 900, 12);
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  oa_batch a, copy, slice, b, want, want_slice;
  oa_batch_init(&a);
  oa_batch_init(&copy);
  oa_batch_init(&slice);
  oa_batch_init(&b);
  oa_batch_init(&want);
  oa_batch_init(&want_slice);
  fresh_build(&sa, &want);
  CHECK_OK(oa_batch_slice(&want_slice, &want, 100, 50, err), err);
  for (int round = 0; round < 3; round++) {
    build(rows, &sa, &a);
    CHECK_OK(oa_batch_copy(&copy, &a, err), err);
    CHECK_OK(oa_batch_slice(&slice, &a, 100, 50, err), err);
    batch_ptrs(&a, &g_a);
    oa_exp_rows_recycle(rows, &a);
    /* two builds of other spans (recycling in between) write nothing the
     * copy and the slice hold */
    build(rows, &sb, &b);
    batch_ptrs(&b, &g_b);
    for (int k = 0; k < g_b.n; k++)
      CHECK(!seen(&g_a, g_b.p[k]));
    build(rows, &sb, &b);
    check_fresh(&sb, &b);
    check_same(&copy, &want);
    check_same(&slice, &want_slice);
    /* the copy's buffers are reusable once it is their only owner */
    oa_batch_reset(&slice);
    oa_exp_rows_recycle(rows, &copy);
    oa_exp_rows_recycle(rows, &b);
  }

  /* one nested column kept (the attribute maps): the other columns are
   * reused, that one is left alone */
  build(rows, &sa, &a);
  oa_array attrs;
  oa_array_init(&attrs);
  CHECK_OK(oa_array_copy(&attrs, &a.columns[OA_SPAN_ATTRIBUTES], err), err);
  g_c.n = 0;
  collect(&attrs, &g_c);
  batch_ptrs(&a, &g_a);
  oa_exp_rows_recycle(rows, &a);
  soak(&g_a, g_soak);
  build(rows, &sa, &a);
  batch_ptrs(&a, &g_b);
  unsoak(&g_a, g_soak);
  for (int k = 0; k < g_b.n; k++)
    CHECK(!seen(&g_c, g_b.p[k]));
  CHECK(n_seen(&g_a, &g_b) * 3 > g_b.n * 2);
  const oa_field *af = &want.schema->fields[OA_SPAN_ATTRIBUTES];
  if (!oa_array_equals(af, &attrs, &want.columns[OA_SPAN_ATTRIBUTES], err)) {
    fprintf(stderr, "kept column changed: %s\n", err->message);
    CHECK(false);
  }
  check_fresh(&sa, &a);
  oa_array_reset(&attrs);

  oa_batch_reset(&a);
  oa_batch_reset(&want);
  oa_batch_reset(&want_slice);
  oa_exp_rows_free(rows);
  oa_exp_stage_reset(&sa);
  oa_exp_stage_reset(&sb);
}

/* Any batch may be handed back: NULL, empty, another schema, the OTLP
 * decoder's (same columns: its buffers are reused); a builder freed with
 * spare buffers pending releases them (ASan checks the leaks). */
OA_TEST(test_recycle_accepts_any_batch) {
  oa_error err_, *err = &err_;
  oa_exp_rows *rows = NULL;
  CHECK_OK(oa_exp_rows_new(&rows, err), err);
  oa_batch b;
  oa_batch_init(&b);
  oa_exp_rows_recycle(rows, &b);
  oa_exp_rows_recycle(rows, NULL);
  oa_exp_rows_recycle(NULL, &b);
  CHECK_EQ_INT(b.n_columns, 0);

  int64_batch(&b, 100); /* another schema */
  oa_exp_rows_recycle(rows, &b);
  CHECK_EQ_INT(b.n_columns, 0);

  oa_exp_stage st;
  oa_exp_stage_init(&st);
  stage_mix(&st, 300, 21);
  build(rows, &st, &b);
  check_fresh(&st, &b);
  /* the decoder's batch of the same spans, handed to the builder */
  oa_bytes req;
  oa_bytes_init(&req);
  CHECK_OK(oa_exp_stage_request(&st, &req, err), err);
  oa_batch dec;
  oa_batch_init(&dec);
  CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, &dec, NULL, err),
           err);
  batch_ptrs(&dec, &g_a);
  oa_exp_rows_recycle(rows, &dec);
  soak(&g_a, g_soak);
  build(rows, &st, &b);
  batch_ptrs(&b, &g_b);
  unsoak(&g_a, g_soak);
  check_fresh(&st, &b);
  CHECK(n_seen(&g_a, &g_b) * 3 > g_b.n * 2);
  /* freed with spares pending */
  oa_exp_rows_recycle(rows, &b);
  oa_exp_rows_free(rows);
  oa_bytes_reset(&req);
  oa_exp_stage_reset(&st);
}

OA_TEST_MAIN(OA_T(test_every_field_and_value), OA_T(test_warmed_stage_outgrown),
             OA_T(test_keys_staged_once), OA_T(test_reused_key_buffer),
             OA_T(test_many_distinct_keys),
             OA_T(test_cleared_stage_forgets_keys),
             OA_T(test_oversized_string_refused),
             OA_T(test_rejections_match_decoder),
             OA_T(test_dictionary_cache_across_batches),
             OA_T(test_recycled_build_equals_fresh),
             OA_T(test_recycle_leaves_shared_buffers_intact),
             OA_T(test_recycle_accepts_any_batch))
