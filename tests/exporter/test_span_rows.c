/* The exporter's direct batch builder (oa_exp_rows_build, staged records ->
 * columns) against the OTLP protobuf decoder on the request of the same
 * staged spans (oa_exp_stage_request): the batches must be equal value by
 * value, dictionary by dictionary (indices and values), and as Arrow IPC
 * bytes; rejections must match in number. */
#include "exp_test_util.h"
#include "exporter/exporter_internal.h"
#include "otlparrow/ipc.h"

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
  CHECK_EQ_INT(direct.length, decoded.length);
  if (want_rejected) CHECK(why[0] != 0);
  if (!oa_batch_equals(&direct, &decoded, err)) {
    fprintf(stderr, "batches differ: %s\n", err->message);
    CHECK(false);
  }
  for (int64_t c = 0; c < direct.n_columns && c < decoded.n_columns; c++)
    check_dicts(&direct.schema->fields[c], &direct.columns[c],
                &decoded.columns[c], direct.schema->fields[c].name);
  oa_bytes x, y;
  oa_bytes_init(&x);
  oa_bytes_init(&y);
  ipc_bytes(&direct, &x);
  ipc_bytes(&decoded, &y);
  CHECK(x.size == y.size && memcmp(x.data, y.data, (size_t)x.size) == 0);
  int64_t n = direct.length;
  oa_bytes_reset(&x);
  oa_bytes_reset(&y);
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

OA_TEST_MAIN(OA_T(test_every_field_and_value), OA_T(test_warmed_stage_outgrown),
             OA_T(test_oversized_string_refused),
             OA_T(test_rejections_match_decoder),
             OA_T(test_dictionary_cache_across_batches))
