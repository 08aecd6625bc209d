/* libFuzzer target: the SQL parser (oa_query_check_syntax) on the raw
 * bytes, then, for text without NUL bytes, the whole engine
 * (oa_query_run) over a tiny in-memory span table: bad SQL must fail with a
 * status, never crash, leak or read out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "otlparrow/otlp.h"
#include "otlparrow/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static oa_batch g_batch;
static bool g_ready;

static void no_release(oa_query_table *t) { (void)t; }

static int resolve(void *ctx, const char *name, const oa_query_scan_hint *hint,
                   oa_query_table *out, oa_error *err) {
  (void)ctx;
  (void)hint;
  if (strcmp(name, "spans") && strcmp(name, "t"))
    return oa_error_set(err, ENOENT, "no table '%s'", name);
  out->schema = g_batch.schema;
  out->batches = &g_batch;
  out->n_batches = 1;
  out->release = no_release;
  return 0;
}

/* 40 generated spans: every span column type, attributes, dictionaries. */
static void setup(void) {
  if (g_ready) return;
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = 40;
  oa_trace_gen g;
  oa_error err;
  if (oa_trace_gen_init(&g, &go, &err)) abort();
  oa_bytes req;
  oa_bytes_init(&req);
  int64_t got;
  if (oa_trace_gen_next_request(&g, 40, &req, &got, &err)) abort();
  oa_otlp_options oo;
  oa_otlp_options_default(&oo);
  oa_otlp_result res;
  oa_batch_init(&g_batch);
  if (oa_otlp_decode_traces(req.data, req.size, &oo, &g_batch, &res, &err))
    abort();
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  g_ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  oa_error err;
  (void)oa_query_check_syntax((const char *)data, size, &err);
  if (size > 4096 || memchr(data, 0, size)) return 0;
  setup();
  char *sql = malloc(size + 1);
  if (!sql) return 0;
  memcpy(sql, data, size);
  sql[size] = 0;
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = resolve;
  o.now_ns = 1767225600000000000LL;
  o.max_result_rows = 10000;
  oa_query_result r;
  if (oa_query_run(sql, &o, &r, &err) == 0) {
    if (oa_batch_validate(&r.batches[0], true, &err)) abort();
    oa_query_result_reset(&r);
  }
  free(sql);
  return 0;
}
