/* The OTLP/gRPC receiver through a gRPC core client: accepted spans land in
 * the dataset equal to the decoder's batch; malformed, oversize, memory
 * limit (with RetryInfo), partial success, gzip, logs/metrics. */
#include "../grpc/grpc_client.h"
#include "grpc/oa_grpc.h"
#include "receiver/receiver.h"
#include "test.h"

#define EXPORT "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

typedef struct rx {
  oa_grpc_server *srv;
  oa_datasets *d;
  oa_otlp_grpc *r;
  int port;
  grpc_channel *ch;
} rx;

static void rx_start(rx *x, int64_t max_memory, int64_t max_recv) {
  oa_error err_, *err = &err_;
  memset(x, 0, sizeof *x);
  CHECK_OK(oa_datasets_new(&x->d, max_memory, err), err);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.threads = 2;
  CHECK_OK(oa_grpc_server_new(&x->srv, &so, err), err);
  oa_otlp_grpc_options o;
  oa_otlp_grpc_options_init(&o);
  if (max_recv) o.max_recv_size = max_recv;
  o.retry_delay_ms = 2500;
  CHECK_OK(oa_otlp_grpc_register(&x->r, x->srv, &o, x->d, err), err);
  CHECK_OK(
      oa_grpc_server_add_listener(x->srv, "127.0.0.1:0", NULL, &x->port, err),
      err);
  CHECK_OK(oa_grpc_server_start(x->srv, err), err);
  x->ch = tc_channel(x->port, NULL);
}

static void rx_stop(rx *x) {
  grpc_channel_destroy(x->ch);
  oa_grpc_server_free(x->srv);
  oa_otlp_grpc_free(x->r);
  oa_datasets_free(x->d);
}

/* n generated requests of `spans` spans each (seeded by seed). */
static int64_t gen_requests(oa_bytes *reqs, int n, int64_t spans,
                            uint64_t seed) {
  int64_t total = 0;
  oa_trace_gen g;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = spans * n;
  o.seed = seed;
  oa_trace_gen_init(&g, &o, NULL);
  for (int i = 0; i < n; i++) {
    oa_bytes_init(&reqs[i]);
    int64_t got = 0;
    oa_trace_gen_next_request(&g, spans, &reqs[i], &got, NULL);
    total += got;
  }
  oa_trace_gen_reset(&g);
  return total;
}

static int64_t dataset_batches(rx *x) {
  oa_dataset_info info;
  if (oa_datasets_info(x->d, "spans", &info, NULL) != 0) return -1;
  oa_schema_release(info.schema);
  return info.n_batches;
}

OA_TEST(test_export_lands_in_dataset) {
  rx x;
  rx_start(&x, 0, 0);
  /* the dataset exists (empty, span schema) before any export */
  CHECK_EQ_INT(dataset_batches(&x), 0);
  oa_bytes reqs[3];
  int64_t total = gen_requests(reqs, 3, 200, 7);
  CHECK(total > 500);
  for (int i = 0; i < 3; i++) {
    tc_result r;
    tc_unary(x.ch, EXPORT, reqs[i].data, (size_t)reqs[i].size, 10000, NULL, &r);
    CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
    CHECK(r.resp != NULL);
    CHECK_EQ_INT(r.resp_len, 0); /* empty ExportTraceServiceResponse */
    tc_result_free(&r);
  }
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  oa_error err_, *err = &err_;
  CHECK_OK(oa_datasets_snapshot(x.d, "spans", &s, &bs, &n, err), err);
  CHECK_EQ_INT(n, 3);
  int64_t rows = 0;
  for (int i = 0; i < 3 && n == 3; i++) {
    oa_batch want;
    oa_batch_init(&want);
    CHECK_OK(oa_otlp_decode_traces(reqs[i].data, reqs[i].size, NULL, &want,
                                   NULL, err),
             err);
    CHECK(oa_batch_equals(&bs[i], &want, err));
    rows += bs[i].length;
    oa_batch_reset(&want);
  }
  CHECK_EQ_INT(rows, total);
  int64_t bs0_rows = n > 0 ? bs[0].length : 0;
  oa_datasets_snapshot_free(s, bs, n);
  /* the same through gzip message compression */
  grpc_channel *gz = tc_channel(x.port, "gzip");
  tc_result r;
  tc_unary(gz, EXPORT, reqs[0].data, (size_t)reqs[0].size, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  tc_result_free(&r);
  grpc_channel_destroy(gz);
  CHECK_EQ_INT(dataset_batches(&x), 4);
  oa_otlp_grpc_stats st;
  oa_otlp_grpc_get_stats(x.r, &st);
  CHECK_EQ_INT(st.requests, 4);
  CHECK_EQ_INT(st.accepted_spans, total + bs0_rows);
  CHECK_EQ_INT(st.rejected_spans, 0);
  for (int i = 0; i < 3; i++)
    oa_bytes_reset(&reqs[i]);
  rx_stop(&x);
}

OA_TEST(test_malformed_and_oversize) {
  rx x;
  rx_start(&x, 0, 64 * 1024);
  tc_result r;
  /* field 1 (resource_spans) with a length running past the end */
  static const uint8_t bad[] = {0x0a, 0xff, 0xff, 0x03, 0x00};
  tc_unary(x.ch, EXPORT, bad, sizeof bad, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_INVALID_ARGUMENT);
  CHECK(strlen(r.message) > 0);
  /* the decoder's message names the byte offset */
  CHECK(strstr(r.message, "offset") != NULL);
  tc_result_free(&r);
  oa_bytes big;
  gen_requests(&big, 1, 2000, 3);
  CHECK(big.size > 64 * 1024);
  tc_unary(x.ch, EXPORT, big.data, (size_t)big.size, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  tc_result_free(&r);
  /* with gzip: small on the wire, over the limit once decompressed */
  grpc_channel *gz = tc_channel(x.port, "gzip");
  tc_unary(gz, EXPORT, big.data, (size_t)big.size, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  tc_result_free(&r);
  grpc_channel_destroy(gz);
  oa_bytes_reset(&big);
  CHECK_EQ_INT(dataset_batches(&x), 0);
  /* still serving */
  oa_bytes ok;
  gen_requests(&ok, 1, 10, 4);
  tc_unary(x.ch, EXPORT, ok.data, (size_t)ok.size, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  tc_result_free(&r);
  oa_bytes_reset(&ok);
  CHECK_EQ_INT(dataset_batches(&x), 1);
  rx_stop(&x);
}

/* Finds a length-delimited field `field` at the top level of msg. */
static const uint8_t *pb_field(const uint8_t *p, size_t n, int field,
                               size_t *len) {
  size_t i = 0;
  while (i < n) {
    uint64_t key = 0;
    int sh = 0;
    while (i < n) {
      key |= (uint64_t)(p[i] & 0x7f) << sh;
      sh += 7;
      if (!(p[i++] & 0x80)) break;
    }
    uint64_t v = 0;
    sh = 0;
    while (i < n) {
      v |= (uint64_t)(p[i] & 0x7f) << sh;
      sh += 7;
      if (!(p[i++] & 0x80)) break;
    }
    if ((key & 7) == 2) {
      if ((int)(key >> 3) == field) {
        *len = (size_t)v;
        return p + i;
      }
      i += (size_t)v;
    } else if ((key & 7) == 0) {
      if ((int)(key >> 3) == field) {
        *len = (size_t)v; /* varint value in len */
        return p + i;
      }
    } else {
      return NULL;
    }
  }
  return NULL;
}

OA_TEST(test_memory_limit_retry_info) {
  /* measure one decoded request, then allow two and a half */
  oa_bytes reqs[4];
  gen_requests(reqs, 4, 100, 11);
  oa_batch one;
  oa_batch_init(&one);
  oa_error err_, *err = &err_;
  CHECK_OK(
      oa_otlp_decode_traces(reqs[0].data, reqs[0].size, NULL, &one, NULL, err),
      err);
  oa_datasets *probe;
  oa_datasets_new(&probe, 0, NULL);
  CHECK_OK(oa_datasets_append(probe, "p", &one, err), err);
  int64_t per = oa_datasets_memory_used(probe);
  oa_datasets_free(probe);
  oa_batch_reset(&one);

  rx x;
  rx_start(&x, per * 5 / 2, 0);
  int ok = 0, unavailable = 0;
  for (int i = 0; i < 4; i++) {
    tc_result r;
    tc_unary(x.ch, EXPORT, reqs[i].data, (size_t)reqs[i].size, 10000, NULL, &r);
    if (r.code == GRPC_STATUS_OK) ok++;
    if (r.code == GRPC_STATUS_UNAVAILABLE) {
      unavailable++;
      CHECK(strstr(r.message, "memory limit") != NULL);
      /* google.rpc.Status{code=14 ... details=[Any{RetryInfo{2.5 s}}]} */
      CHECK(r.details != NULL);
      size_t code = 0, any_len = 0, url_len = 0, val_len = 0, dur_len = 0;
      size_t secs = 0, nanos = 0;
      const uint8_t *p =
          r.details ? pb_field(r.details, r.details_len, 1, &code) : NULL;
      CHECK(p && code == 14);
      const uint8_t *any =
          r.details ? pb_field(r.details, r.details_len, 3, &any_len) : NULL;
      CHECK(any != NULL);
      if (any) {
        const uint8_t *url = pb_field(any, any_len, 1, &url_len);
        CHECK(url && url_len == 40 &&
              memcmp(url, "type.googleapis.com/google.rpc.RetryInfo", 40) == 0);
        const uint8_t *val = pb_field(any, any_len, 2, &val_len);
        const uint8_t *dur = val ? pb_field(val, val_len, 1, &dur_len) : NULL;
        CHECK(dur != NULL);
        if (dur) {
          CHECK(pb_field(dur, dur_len, 1, &secs) != NULL);
          CHECK(pb_field(dur, dur_len, 2, &nanos) != NULL);
          CHECK_EQ_INT(secs, 2);
          CHECK_EQ_INT(nanos, 500000000);
        }
      }
    }
    tc_result_free(&r);
  }
  CHECK_EQ_INT(ok, 2);
  CHECK_EQ_INT(unavailable, 2);
  /* the accepted batches are all still there, equal to what was sent */
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(x.d, "spans", &s, &bs, &n, err), err);
  CHECK_EQ_INT(n, 2);
  for (int i = 0; i < n && i < 2; i++) {
    oa_batch want;
    oa_batch_init(&want);
    oa_otlp_decode_traces(reqs[i].data, reqs[i].size, NULL, &want, NULL, NULL);
    CHECK(oa_batch_equals(&bs[i], &want, err));
    oa_batch_reset(&want);
  }
  oa_datasets_snapshot_free(s, bs, n);
  for (int i = 0; i < 4; i++)
    oa_bytes_reset(&reqs[i]);
  rx_stop(&x);
}

static void put_len(oa_bytes *b, uint8_t tag, const void *data, size_t len) {
  uint8_t hdr[6];
  size_t k = 0;
  hdr[k++] = tag;
  size_t v = len;
  do {
    hdr[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  oa_bytes_append(b, hdr, (int64_t)k);
  oa_bytes_append(b, data, (int64_t)len);
}

static void make_span(oa_bytes *out, size_t trace_id_len, const char *name) {
  uint8_t tid[16], sid[8];
  memset(tid, 0x11, sizeof tid);
  memset(sid, 0x22, sizeof sid);
  oa_bytes_init(out);
  put_len(out, 0x0a, tid, trace_id_len);  /* trace_id = 1 */
  put_len(out, 0x12, sid, 8);             /* span_id = 2 */
  put_len(out, 0x2a, name, strlen(name)); /* name = 5 */
}

OA_TEST(test_partial_success) {
  rx x;
  rx_start(&x, 0, 0);
  /* one ResourceSpans, one ScopeSpans, a good span and one whose trace_id
   * has 3 bytes */
  oa_bytes good, bad, scope, rs, req;
  make_span(&good, 16, "good");
  make_span(&bad, 3, "bad");
  oa_bytes_init(&scope);
  put_len(&scope, 0x12, good.data, (size_t)good.size); /* spans = 2 */
  put_len(&scope, 0x12, bad.data, (size_t)bad.size);
  oa_bytes_init(&rs);
  put_len(&rs, 0x12, scope.data, (size_t)scope.size); /* scope_spans = 2 */
  oa_bytes_init(&req);
  put_len(&req, 0x0a, rs.data, (size_t)rs.size); /* resource_spans = 1 */
  tc_result r;
  tc_unary(x.ch, EXPORT, req.data, (size_t)req.size, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  size_t ps_len = 0, rejected = 0, msg_len = 0;
  const uint8_t *ps = r.resp ? pb_field(r.resp, r.resp_len, 1, &ps_len) : NULL;
  CHECK(ps != NULL);
  if (ps) {
    CHECK(pb_field(ps, ps_len, 1, &rejected) != NULL);
    CHECK_EQ_INT(rejected, 1);
    const uint8_t *m = pb_field(ps, ps_len, 2, &msg_len);
    CHECK(m && msg_len > 0);
    CHECK(m && memmem(m, msg_len, "trace_id", 8) != NULL);
  }
  tc_result_free(&r);
  oa_dataset_info info;
  oa_error err_, *err = &err_;
  CHECK_OK(oa_datasets_info(x.d, "spans", &info, err), err);
  CHECK_EQ_INT(info.n_rows, 1);
  oa_schema_release(info.schema);
  oa_bytes_reset(&good);
  oa_bytes_reset(&bad);
  oa_bytes_reset(&scope);
  oa_bytes_reset(&rs);
  oa_bytes_reset(&req);
  rx_stop(&x);
}

OA_TEST(test_logs_metrics_unimplemented) {
  rx x;
  rx_start(&x, 0, 0);
  tc_result r;
  tc_unary(x.ch, "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
           "", 0, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_UNIMPLEMENTED);
  CHECK(strstr(r.message, "logs") != NULL);
  tc_result_free(&r);
  tc_unary(x.ch,
           "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
           "", 0, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_UNIMPLEMENTED);
  CHECK(strstr(r.message, "metrics") != NULL);
  tc_result_free(&r);
  rx_stop(&x);
}

OA_TEST_MAIN(OA_T(test_export_lands_in_dataset),
             OA_T(test_malformed_and_oversize),
             OA_T(test_memory_limit_retry_info), OA_T(test_partial_success),
             OA_T(test_logs_metrics_unimplemented))
