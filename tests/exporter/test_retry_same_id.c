/* An OTLP client retrying a request that forward had written to its queue
 * but never acknowledged (forward was SIGKILLed in between) must not end up
 * twice on the server: the retried request is the same content, so
 * oa_exporter_add_batch gives it the same batch id as the queued copy the
 * next process replays, and the server drops one of them. With random ids
 * the server held both (cli.forward_faults: "284 duplicated"). */
#include "exp_test_util.h"
#include "exporter/exporter_internal.h"

/* A decoded request of n generated spans; seed varies the content. */
static void gen_batch(oa_batch *b, int64_t n, uint64_t seed) {
  oa_error err_, *err = &err_;
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = n;
  go.seed = seed;
  oa_trace_gen g;
  CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
  oa_bytes req;
  oa_bytes_init(&req);
  int64_t got = 0;
  CHECK_OK(oa_trace_gen_next_request(&g, n, &req, &got, err), err);
  oa_batch_init(b);
  CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, b, NULL, err), err);
  CHECK_EQ_INT(b->length, n);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
}

/* The forward_faults situation, constructed: process 1 writes a request
 * to its queue and dies before acknowledging it; the client sends it again
 * to process 2, which also replays process 1's queue. The server stores the
 * spans once. */
OA_TEST(test_retried_request_after_kill_stored_once) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-sameid-XXXXXX";
  oa_exporter_config c;
  xs_queue_config(dir, &c); /* process 1: the server is not there yet */
  c.retry.initial_ms = 20;
  oa_batch req, other;
  gen_batch(&req, 120, 11);
  gen_batch(&other, 30, 12);
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_add_batch(e, &req, err), err);
  oa_exporter_free(e); /* killed: no shutdown, the file stays */

  xserver t;
  xs_start(&t, NULL, 0, NULL);
  c.endpoint = t.uri;
  CHECK_OK(oa_exporter_new(&e, &c, err), err); /* process 2 replays */
  oa_batch again;
  gen_batch(&again, 120, 11); /* the client's retry, decoded anew */
  CHECK_OK(oa_exporter_add_batch(e, &again, err), err);
  CHECK_OK(oa_exporter_add_batch(e, &other, err), err);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 1);
  CHECK_EQ_INT(m.spans_exported, 120 + 120 + 30); /* all acknowledged */
  oa_exporter_free(e);
  int64_t nb = 0;
  CHECK_EQ_INT(xs_rows(&t, "spans", &nb), 120 + 30); /* stored once */
  CHECK_EQ_INT(nb, 2);
  xs_stop(&t);
  oa_batch_reset(&req);
  oa_batch_reset(&again);
  oa_batch_reset(&other);
  xs_rm_rf(dir);
}

/* Identical requests in normal operation are separate batches (a load
 * generator repeats its requests): no content dedup without a kill. And
 * after a kill a replayed entry stands for one retry only. */
OA_TEST(test_repeats_are_not_retries) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-sameid-XXXXXX";
  oa_exporter_config c;
  xs_queue_config(dir, &c);
  c.retry.initial_ms = 20;
  oa_batch a;
  gen_batch(&a, 40, 21);
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_add_batch(e, &a, err), err);
  CHECK_OK(oa_exporter_add_batch(e, &a, err), err);
  oa_exporter_free(e); /* killed with two entries on disk */

  xserver t;
  xs_start(&t, NULL, 0, NULL);
  c.endpoint = t.uri;
  CHECK_OK(oa_exporter_new(&e, &c, err), err); /* replays both */
  for (int i = 0; i < 3; i++) /* two retries, then one more repeat */
    CHECK_OK(oa_exporter_add_batch(e, &a, err), err);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 2);
  CHECK_EQ_INT(m.spans_exported, 5 * 40);
  oa_exporter_free(e);
  /* the two written before the kill, and the third add after it */
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 3 * 40);
  xs_stop(&t);
  oa_batch_reset(&a);
  xs_rm_rf(dir);
}

OA_TEST_MAIN(OA_T(test_retried_request_after_kill_stored_once),
             OA_T(test_repeats_are_not_retries))
