/* The exporter's staging memory across many batches: stages warmed ahead
 * (by the keeper or an idle sender), reused after their batch was built,
 * outgrown by a batch larger than the last (partial batches sealed by
 * flush, spans of changing size). Every span must arrive once and intact:
 * read back from the server's dataset as OTLP/JSON. */
#include "exp_test_util.h"

static json_object *jget(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!o || !json_object_object_get_ex(o, key, &v)) return NULL;
  return v;
}

#define N_SPANS 6000
#define PAD_MAX 700

/* span i has attribute "pad" of pad_len(i) 'p's and "i" = i */
static int pad_len(int64_t i) { return (int)((i * 7919) % PAD_MAX); }

/* Span i from its spanId (little-endian i + 1, as xs_span writes it). */
static int64_t span_index(const char *hex) {
  uint8_t b[8] = {0};
  for (int k = 0; k < 8 && hex[2 * k] && hex[2 * k + 1]; k++) {
    unsigned v = 0;
    if (sscanf(hex + 2 * k, "%2x", &v) != 1) return -1;
    b[k] = (uint8_t)v;
  }
  int64_t sid;
  memcpy(&sid, b, 8);
  return sid - 1;
}

/* Checks that spans 0..N_SPANS-1 are each stored once with their pad; alt:
 * and with the attribute written through a reused key buffer (run). */
static void check_stored(xserver *t, bool alt) {
  static uint8_t seen[N_SPANS];
  memset(seen, 0, sizeof seen);
  json_object *all = xs_json(t, "spans");
  int64_t total = 0, bad = 0;
  for (size_t b = 0; b < json_object_array_length(all); b++) {
    json_object *rss = jget(json_object_array_get_idx(all, b), "resourceSpans");
    for (size_t r = 0; rss && r < json_object_array_length(rss); r++) {
      json_object *sss = jget(json_object_array_get_idx(rss, r), "scopeSpans");
      for (size_t s = 0; sss && s < json_object_array_length(sss); s++) {
        json_object *sps = jget(json_object_array_get_idx(sss, s), "spans");
        for (size_t k = 0; sps && k < json_object_array_length(sps); k++) {
          json_object *sp = json_object_array_get_idx(sps, k);
          int64_t i = span_index(json_object_get_string(jget(sp, "spanId")));
          total++;
          if (i < 0 || i >= N_SPANS || seen[i]++) {
            bad++;
            continue;
          }
          json_object *attrs = jget(sp, "attributes");
          const char *pad = NULL, *alt_s = NULL;
          int64_t iv = -1, n_alt = 0;
          for (size_t a = 0; attrs && a < json_object_array_length(attrs);
               a++) {
            json_object *kv = json_object_array_get_idx(attrs, a);
            const char *key = json_object_get_string(jget(kv, "key"));
            json_object *v = jget(kv, "value");
            if (strcmp(key, "pad") == 0)
              pad = json_object_get_string(jget(v, "stringValue"));
            else if (strcmp(key, "i") == 0) /* int64 is a JSON string */
              iv = atoll(json_object_get_string(jget(v, "intValue")));
            else if (strcmp(key, i % 2 ? "alt.one" : "alt.two") == 0) {
              n_alt++;
              alt_s = json_object_get_string(jget(v, "stringValue"));
            } else {
              n_alt += 100; /* a key the span was not given */
            }
          }
          int want = pad_len(i);
          bool ok = pad && (int)strlen(pad) == want && iv == i &&
                    strspn(pad, "p") == (size_t)want;
          if (alt)
            ok = ok && n_alt == 1 && alt_s &&
                 strcmp(alt_s, i % 2 ? "odd" : "even") == 0;
          else
            ok = ok && n_alt == 0;
          if (!ok) bad++;
        }
      }
    }
  }
  json_object_put(all);
  CHECK_EQ_INT(total, N_SPANS);
  CHECK_EQ_INT(bad, 0);
}

/* alt: a third attribute whose key is written into the same buffer for
 * every span, "alt.one" and "alt.two" in turn (same length, same value
 * type): the staged keys must follow the text, not the address. */
static void run(bool queue, bool alt) {
  oa_error err_, *err = &err_;
  xserver t;
  oa_exporter_config c;
  char dir[] = "/tmp/oa-exp-pool-XXXXXX";
  if (queue) {
    xs_queue_config(dir, &c);
    xs_start(&t, NULL, 0, NULL);
    c.endpoint = t.uri;
  } else {
    xs_start_config(&t, &c);
  }
  c.batch_size = 100;
  c.flush_interval_ms = 600000;
  c.max_buffer_spans = 1000; /* a pool of 8 stages for 10 waiting batches */
  c.queue_fsync = false;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  static char pad[PAD_MAX];
  memset(pad, 'p', sizeof pad);
  char buf[PAD_MAX + 1], kbuf[16];
  int64_t i = 0;
  for (int round = 0; i < N_SPANS; round++) {
    /* 1 to 250 spans, then a flush now and then: partial batches, so the
     * next batch may outgrow a stage warmed for the last one */
    int64_t n = 1 + (round * 37) % 250;
    for (int64_t k = 0; k < n && i < N_SPANS; k++, i++) {
      int len = pad_len(i);
      memcpy(buf, pad, (size_t)len);
      buf[len] = 0;
      snprintf(kbuf, sizeof kbuf, "%s", i % 2 ? "alt.one" : "alt.two");
      oa_keyvalue kv[] = {OA_KV_STR("pad", buf), OA_KV_INT("i", i),
                          OA_KV_STR(kbuf, i % 2 ? "odd" : "even")};
      oa_span sp;
      xs_span(&sp, i, kv, alt ? 3 : 2);
      CHECK_OK(oa_exporter_add(e, &sp, 1, err), err);
    }
    if (round % 4 == 3) CHECK_OK(oa_exporter_flush(e, 30000, err), err);
  }
  CHECK_OK(oa_exporter_flush(e, 30000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, N_SPANS);
  CHECK_EQ_INT(m.spans_dropped, 0);
  oa_exporter_free(e);
  check_stored(&t, alt);
  xs_stop(&t);
  if (queue) xs_rm_rf(dir);
}

OA_TEST(test_many_batches_reuse_stages) { run(false, false); }

/* the keeper is busy writing the queue: idle senders warm stages */
OA_TEST(test_many_batches_reuse_stages_queue) { run(true, false); }

/* reused stages with keys staged once per stage, from a reused buffer */
OA_TEST(test_reused_stages_reused_key_buffer) { run(false, true); }

OA_TEST_MAIN(OA_T(test_many_batches_reuse_stages),
             OA_T(test_many_batches_reuse_stages_queue),
             OA_T(test_reused_stages_reused_key_buffer))
