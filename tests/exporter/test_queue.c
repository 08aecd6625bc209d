/* The exporter's persistent queue: a sender killed with SIGKILL while the
 * server is unreachable leaves its batches on disk; a new exporter replays
 * them, skipping a torn and a corrupt entry without losing the intact
 * ones. The child is forked before this process starts any gRPC thread. */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "exp_test_util.h"
#include "exporter/exporter_internal.h"

static int count_files(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name), k = strlen(suffix);
    if (l > k && strcmp(de->d_name + l - k, suffix) == 0) n++;
  }
  closedir(d);
  return n;
}

static bool first_file(const char *dir, const char *suffix, char *out,
                       size_t cap) {
  DIR *d = opendir(dir);
  if (!d) return false;
  struct dirent *de;
  bool found = false;
  while (!found && (de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name), k = strlen(suffix);
    if (l > k && strcmp(de->d_name + l - k, suffix) == 0) {
      snprintf(out, cap, "%s/%s", dir, de->d_name);
      found = true;
    }
  }
  closedir(d);
  return found;
}

/* The child: 250 spans in batches of 100 to a port where nothing listens;
 * reports on the pipe once the 3 batches are on disk, then waits to be
 * killed. */
static void child(const char *dir, int wfd) {
  oa_exporter_config c;
  oa_exporter_config_init(&c);
  c.endpoint = "grpc://127.0.0.1:1";
  c.queue_dir = dir;
  c.batch_size = 100;
  c.retry.initial_ms = 50;
  c.retry.max_elapsed_ms = 3600000;
  oa_exporter *e = NULL;
  if (oa_exporter_new(&e, &c, NULL)) _exit(2);
  oa_keyvalue kv[] = {OA_KV_STR("k", "v")};
  oa_span sp[250];
  for (int i = 0; i < 250; i++)
    xs_span(&sp[i], i, kv, 1);
  if (oa_exporter_add(e, sp, 250, NULL)) _exit(3);
  oa_exporter_flush(e, 10, NULL); /* seals the last 50 */
  for (int i = 0; i < 1000 && count_files(dir, ".oaq") < 3; i++)
    usleep(10000);
  if (write(wfd, "k", 1) != 1) _exit(4);
  for (;;)
    pause();
}

OA_TEST(test_kill_and_replay) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  int p[2];
  CHECK(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    child(dir, p[1]);
  }
  close(p[1]);
  char ch = 0;
  CHECK(read(p[0], &ch, 1) == 1);
  close(p[0]);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ_INT(count_files(dir, ".oaq"), 3);

  /* a torn copy (half a file) and a flipped payload byte */
  char path[512], torn[600], bad[600];
  CHECK(first_file(dir, ".oaq", path, sizeof path));
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  static uint8_t buf[1 << 20];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  CHECK(n > 100);
  snprintf(torn, sizeof torn, "%s/0000000000000000-torn.oaq", dir);
  f = fopen(torn, "wb");
  fwrite(buf, 1, n / 2, f);
  fclose(f);
  snprintf(bad, sizeof bad, "%s/0000000000000001-bad.oaq", dir);
  buf[n - 3] ^= 0x40;
  f = fopen(bad, "wb");
  fwrite(buf, 1, n, f);
  fclose(f);

  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  c.queue_dir = dir;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 3);
  CHECK_EQ_INT(m.queue_corrupt, 2);
  CHECK_EQ_INT(m.spans_accepted, 250);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, 250);
  CHECK_EQ_INT(m.queue_bytes, 0);
  oa_exporter_free(e);
  /* every span exactly once; the acknowledged entries are gone, the bad
   * ones kept aside */
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 250);
  json_object *all = xs_json(&t, "spans");
  int seen[250] = {0};
  for (size_t b = 0; b < json_object_array_length(all); b++) {
    json_object *rss, *ss, *spans;
    json_object_object_get_ex(json_object_array_get_idx(all, b),
                              "resourceSpans", &rss);
    json_object_object_get_ex(json_object_array_get_idx(rss, 0), "scopeSpans",
                              &ss);
    json_object_object_get_ex(json_object_array_get_idx(ss, 0), "spans",
                              &spans);
    for (size_t i = 0; i < json_object_array_length(spans); i++) {
      json_object *sid;
      json_object_object_get_ex(json_object_array_get_idx(spans, i), "spanId",
                                &sid);
      unsigned v = 0;
      sscanf(json_object_get_string(sid), "%2x", &v);
      unsigned v2 = 0;
      sscanf(json_object_get_string(sid) + 2, "%2x", &v2);
      int id = (int)(v | v2 << 8) - 1;
      if (id >= 0 && id < 250) seen[id]++;
    }
  }
  json_object_put(all);
  for (int i = 0; i < 250; i++)
    if (seen[i] != 1) {
      fprintf(stderr, "span %d seen %d times\n", i, seen[i]);
      CHECK(seen[i] == 1);
      break;
    }
  CHECK_EQ_INT(count_files(dir, ".oaq"), 0);
  CHECK_EQ_INT(count_files(dir, ".corrupt"), 2);

  /* a clean restart has nothing to replay */
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 0);
  CHECK_EQ_INT(m.queue_corrupt, 0);
  CHECK_OK(oa_exporter_shutdown(e, 1000, err), err);
  oa_exporter_free(e);
  xs_stop(&t);
  xs_rm_rf(dir);
}

/* shutdown with the server down keeps the batches on disk (not failed) */
OA_TEST(test_shutdown_keeps_queue) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  oa_exporter_config c;
  xs_queue_config(dir, &c);
  c.queue_fsync = false;
  c.retry.initial_ms = 20;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  oa_span sp[10];
  for (int i = 0; i < 10; i++)
    xs_span(&sp[i], i, NULL, 0);
  CHECK_OK(oa_exporter_add(e, sp, 10, err), err);
  CHECK_FAILS(oa_exporter_shutdown(e, 300, err), ETIMEDOUT, err, "unsent");
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_failed, 0);
  CHECK_EQ_INT(m.spans_kept, 10); /* accounted for: on disk */
  CHECK_EQ_INT(m.queue_depth_spans, 0);
  CHECK(m.queue_bytes > 48);
  oa_exporter_free(e);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 1);
  /* the next process delivers them */
  xserver t;
  xs_start(&t, NULL, 0, NULL);
  c.endpoint = t.uri;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 1);
  CHECK_EQ_INT(m.spans_exported, 10);
  CHECK_EQ_INT(m.spans_kept, 0);
  oa_exporter_free(e);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 10);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 0);
  xs_stop(&t);
  xs_rm_rf(dir);
}

/* The same batch queued twice (a crash after the server stored it but
 * before the entry was removed): replayed twice with the same batch id, the
 * deduplicating server stores it once; a different id is stored. */
OA_TEST(test_replay_same_id_deduplicated) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  oa_trace_gen g;
  oa_bytes req;
  xs_gen_request(&g, 100, &req);
  int64_t got = 100;
  oa_crc32c_table crc;
  oa_crc32c_init(&crc);
  uint8_t id[16], id2[16];
  memset(id, 0x5a, 16);
  memset(id2, 0x5b, 16);
  char name[64];
  CHECK_OK(oa_exp_queue_write(dir, &crc, 1, id, got, req.data, req.size, false,
                              name, err),
           err);
  CHECK_OK(oa_exp_queue_write(dir, &crc, 2, id, got, req.data, req.size, false,
                              name, err),
           err);
  CHECK_OK(oa_exp_queue_write(dir, &crc, 3, id2, got, req.data, req.size, false,
                              name, err),
           err);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 3);
  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  c.queue_dir = dir;
  c.max_in_flight = 1;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 3);
  CHECK_EQ_INT(m.spans_exported, 300); /* all three acknowledged */
  oa_exporter_free(e);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 200);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 0);
  xs_stop(&t);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  xs_rm_rf(dir);
}

/* Arrow entries are checked on replay beyond their checksums: a payload
 * that is not an Arrow stream, a stream without its schema first, one with
 * bytes after its end and one whose rows differ from its header are set
 * aside as corrupt; an old OTLP entry and zstd-compressed Arrow entries
 * written by an exporter are delivered. */
OA_TEST(test_replay_arrow_entries) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  oa_exporter_config c;
  xs_queue_config(dir, &c);
  c.compression = OA_COMPRESSION_ZSTD;
  c.batch_size = 40;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  oa_span sp[100];
  for (int i = 0; i < 100; i++)
    xs_span(&sp[i], i, NULL, 0);
  CHECK_OK(oa_exporter_add(e, sp, 100, err), err);
  CHECK_FAILS(oa_exporter_flush(e, 0, err), ETIMEDOUT, err, "unsent");
  oa_exporter_free(e);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 3); /* 40 + 40 + 20 */
  /* one good entry's payload, to damage */
  char path[4200];
  CHECK(first_file(dir, ".oaq", path, sizeof path));
  oa_exp_queue_entry q;
  memset(&q, 0, sizeof q);
  snprintf(q.name, sizeof q.name, "%s", strrchr(path, '/') + 1);
  struct stat st;
  CHECK(stat(path, &st) == 0);
  q.file_bytes = st.st_size;
  oa_crc32c_table crc;
  oa_crc32c_init(&crc);
  oa_bytes pay;
  oa_bytes_init(&pay);
  CHECK_OK(oa_exp_queue_read(dir, &crc, &q, &pay, err), err);
  CHECK_EQ_INT(q.format, OA_EXP_QUEUE_ARROW);
  int64_t schema_len = 8 + (int64_t)(pay.data[4] | pay.data[5] << 8);
  uint8_t id[16];
  char name[64];
  struct iovec iov[2];
  /* not a stream */
  memset(id, 1, 16);
  iov[0] = (struct iovec){"not an arrow stream at all", 26};
  CHECK_OK(oa_exp_queue_writev(dir, &crc, 10, id, 40, OA_EXP_QUEUE_ARROW, iov,
                               1, false, name, err),
           err);
  /* the schema cut out */
  memset(id, 2, 16);
  iov[0] =
      (struct iovec){pay.data + schema_len, (size_t)(pay.size - schema_len)};
  CHECK_OK(oa_exp_queue_writev(dir, &crc, 11, id, q.spans, OA_EXP_QUEUE_ARROW,
                               iov, 1, false, name, err),
           err);
  /* bytes after the end-of-stream marker */
  memset(id, 3, 16);
  iov[0] = (struct iovec){pay.data, (size_t)pay.size};
  iov[1] = (struct iovec){"trailing", 8};
  CHECK_OK(oa_exp_queue_writev(dir, &crc, 12, id, q.spans, OA_EXP_QUEUE_ARROW,
                               iov, 2, false, name, err),
           err);
  /* a header that says more spans than the stream has */
  memset(id, 4, 16);
  CHECK_OK(oa_exp_queue_writev(dir, &crc, 13, id, q.spans + 1,
                               OA_EXP_QUEUE_ARROW, iov, 1, false, name, err),
           err);
  /* an old-format (OTLP) entry of 100 spans */
  oa_trace_gen g;
  oa_bytes req;
  xs_gen_request(&g, 100, &req);
  memset(id, 5, 16);
  CHECK_OK(oa_exp_queue_write(dir, &crc, 14, id, 100, req.data, req.size, false,
                              name, err),
           err);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 8);
  xserver t;
  xs_start(&t, NULL, 0, NULL);
  c.endpoint = t.uri;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_corrupt, 4);
  CHECK_EQ_INT(m.queue_replayed, 4);
  CHECK_EQ_INT(m.spans_exported, 200);
  CHECK_EQ_INT(m.spans_failed, 0);
  /* replayed entries count their decoded size (tiny batches: the schema
   * message outweighs what zstd saves, so no ratio is asserted) */
  CHECK(m.uncompressed_bytes > 100 * 16 * 2);
  CHECK(m.bytes_sent > 0);
  oa_exporter_free(e);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 200);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 0);
  CHECK_EQ_INT(count_files(dir, ".corrupt"), 4);
  xs_stop(&t);
  oa_bytes_reset(&pay);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  xs_rm_rf(dir);
}

/* add_batch with a queue: the batch is on disk when the call returns (a
 * receiver acknowledges its client then), not some time later. */
OA_TEST(test_add_batch_durable_on_return) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  oa_trace_gen g;
  oa_bytes req;
  xs_gen_request(&g, 100, &req);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, &b, NULL, err), err);
  CHECK_EQ_INT(b.length, 100);
  oa_exporter_config c;
  oa_exporter_config_init(&c);
  c.endpoint = "grpc://127.0.0.1:1"; /* nothing listens */
  c.queue_dir = dir;
  c.retry.initial_ms = 20;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  for (int i = 0; i < 3; i++) {
    CHECK_OK(oa_exporter_add_batch(e, &b, err), err);
    /* no waiting: the file must already be there */
    CHECK_EQ_INT(count_files(dir, ".oaq"), i + 1);
  }
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK(m.queue_bytes > 3 * 48);
  /* each entry is the whole batch, intact */
  oa_exp_queue_entry *v;
  int64_t n;
  CHECK_OK(oa_exp_queue_list(dir, &v, &n, err), err);
  CHECK_EQ_INT(n, 3);
  oa_crc32c_table crc;
  oa_crc32c_init(&crc);
  oa_bytes pay;
  oa_bytes_init(&pay);
  for (int64_t i = 0; i < n; i++) {
    CHECK_OK(oa_exp_queue_read(dir, &crc, &v[i], &pay, err), err);
    CHECK_EQ_INT(v[i].spans, 100);
    /* an Arrow IPC stream: read back with the stream reader, equal to the
     * batch added */
    CHECK_EQ_INT(v[i].format, OA_EXP_QUEUE_ARROW);
    oa_ipc_stream_reader *r;
    CHECK_OK(oa_ipc_stream_reader_new(&r, NULL, err), err);
    CHECK_OK(oa_ipc_stream_reader_push(r, pay.data, pay.size, err), err);
    oa_batch back;
    oa_batch_init(&back);
    bool got = false;
    CHECK_OK(oa_ipc_stream_reader_next(r, &back, &got, err), err);
    CHECK(got);
    CHECK_EQ_INT(back.length, 100);
    CHECK(oa_batch_equals(&back, &b, err));
    oa_batch_reset(&back);
    CHECK_OK(oa_ipc_stream_reader_next(r, &back, &got, err), err);
    CHECK(!got);
    CHECK_OK(oa_ipc_stream_reader_close(r, err), err);
    oa_ipc_stream_reader_free(r);
  }
  free(v);
  oa_bytes_reset(&pay);
  /* killed now (free without shutdown): the next process delivers all */
  oa_exporter_free(e);
  xserver t;
  xs_start(&t, NULL, 0, NULL);
  c.endpoint = t.uri;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_replayed, 3);
  CHECK_EQ_INT(m.spans_exported, 300);
  oa_exporter_free(e);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 0);
  xs_stop(&t);
  oa_batch_reset(&b);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  xs_rm_rf(dir);
}

/* flush returns only once every sealed batch is on disk, even when it
 * times out at once because nothing can be sent. */
OA_TEST(test_flush_persists_before_timeout) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  oa_exporter_config c;
  xs_queue_config(dir, &c);
  c.retry.initial_ms = 20;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  oa_span sp[10];
  for (int i = 0; i < 10; i++)
    xs_span(&sp[i], i, NULL, 0);
  for (int round = 1; round <= 3; round++) {
    CHECK_OK(oa_exporter_add(e, sp, 10, err), err);
    CHECK_FAILS(oa_exporter_flush(e, 0, err), ETIMEDOUT, err,
                "spans still unsent");
    CHECK_EQ_INT(count_files(dir, ".oaq"), round);
  }
  oa_exporter_free(e);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 3);
  xs_rm_rf(dir);
}

/* A span the decoder would refuse (invalid UTF-8) fails when its batch is
 * built, before the batch is queued: the entry holds the other spans, and
 * on replay they are delivered. Also covers a live exporter with the queue
 * on. */
OA_TEST(test_queue_invalid_utf8) {
  oa_error err_, *err = &err_;
  char dir[] = "/tmp/oa-exp-queue-XXXXXX";
  oa_exporter_config c;
  xs_queue_config(dir, &c);
  c.queue_fsync = false;
  c.retry.initial_ms = 20;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  oa_span sp[3];
  for (int i = 0; i < 3; i++)
    xs_span(&sp[i], i, NULL, 0);
  sp[1].name = "bad\xff";
  CHECK_OK(oa_exporter_add(e, sp, 3, err), err);
  CHECK_FAILS(oa_exporter_flush(e, 0, err), ETIMEDOUT, err, "unsent");
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_accepted, 3);
  CHECK_EQ_INT(m.spans_failed, 1);
  oa_exporter_free(e);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 1);
  xserver t;
  xs_start(&t, NULL, 0, NULL);
  c.endpoint = t.uri;
  CHECK_OK(oa_exporter_new(&e, &c, err), err);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_corrupt, 0);
  CHECK_EQ_INT(m.queue_replayed, 1);
  CHECK_EQ_INT(m.spans_accepted, 2);
  CHECK_EQ_INT(m.spans_exported, 2);
  CHECK_EQ_INT(m.spans_failed, 0);
  /* and live, queue on: the same accounting */
  CHECK_OK(oa_exporter_add(e, sp, 3, err), err);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, 4);
  CHECK_EQ_INT(m.spans_failed, 1);
  CHECK_EQ_INT(m.queue_depth_spans, 0);
  oa_exporter_free(e);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 4);
  CHECK_EQ_INT(count_files(dir, ".oaq"), 0);
  CHECK_EQ_INT(count_files(dir, ".corrupt"), 0);
  xs_stop(&t);
  xs_rm_rf(dir);
}

/* CRC-32C: the check value of the catalogue ("123456789" -> e3069283),
 * and the hardware path (when the CPU has it) equal to the table for every
 * length and alignment, also when continued across calls. */
OA_TEST(test_crc32c) {
  oa_crc32c_table hw, sw;
  oa_crc32c_init(&hw);
  oa_crc32c_init(&sw);
  sw.hw = false;
  CHECK_EQ_INT(oa_crc32c(&sw, 0, "123456789", 9), 0xE3069283u);
  CHECK_EQ_INT(oa_crc32c(&hw, 0, "123456789", 9), 0xE3069283u);
  CHECK_EQ_INT(oa_crc32c(&hw, 0, "", 0), 0);
  uint8_t buf[300];
  for (int i = 0; i < 300; i++)
    buf[i] = (uint8_t)(i * 131 + 7);
  for (int off = 0; off < 8; off++)
    for (int n = 0; n + off <= 300; n += 13) {
      uint32_t a = oa_crc32c(&sw, 0, buf + off, (size_t)n);
      CHECK_EQ_INT(oa_crc32c(&hw, 0, buf + off, (size_t)n), a);
      /* in two pieces */
      uint32_t b = oa_crc32c(&hw, 0, buf + off, (size_t)n / 3);
      b = oa_crc32c(&hw, b, buf + off + n / 3, (size_t)(n - n / 3));
      CHECK_EQ_INT(b, a);
    }
}

OA_TEST_MAIN(OA_T(test_replay_arrow_entries), OA_T(test_crc32c),
             OA_T(test_kill_and_replay), OA_T(test_shutdown_keeps_queue),
             OA_T(test_replay_same_id_deduplicated),
             OA_T(test_add_batch_durable_on_return),
             OA_T(test_flush_persists_before_timeout),
             OA_T(test_queue_invalid_utf8))
