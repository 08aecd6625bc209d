/* libFuzzer target: the store's recovery readers. The first byte picks the
 * reader: a write-ahead log (every intact record's IPC stream decoded, as a
 * replay does), a manifest, or a bloom filter file. Seeds under
 * fuzz/corpus/wal/ (a log of two records and a manifest). */
#include "fuzz_common.h"
#include "store/store_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_record(void *ctx, const oa_store_wal_record *r, oa_error *err) {
  (void)ctx;
  oa_ipc_read_options opt;
  oa_fuzz_read_options(&opt);
  oa_ipc_stream_reader *sr = NULL;
  if (oa_ipc_stream_reader_new(&sr, &opt, err) != 0) return 0;
  int rc = oa_ipc_stream_reader_push(sr, r->ipc, r->ipc_len, err);
  while (rc == 0) {
    oa_batch b;
    oa_batch_init(&b);
    bool got = false;
    rc = oa_ipc_stream_reader_next(sr, &b, &got, err);
    if (rc == 0 && got) oa_fuzz_walk(&b);
    oa_batch_reset(&b);
    if (!got) break;
  }
  oa_ipc_stream_reader_free(sr);
  return 0; /* a bad record body is skipped by a replay, not fatal */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *p = data + 1;
  int64_t n = (int64_t)size - 1;
  oa_error err;
  switch (data[0] % 3) {
  case 0: {
    int64_t valid = -1, torn = -1;
    (void)oa_store_wal_scan_(p, n, on_record, NULL, &valid, &torn, &err);
    if (valid < 0 || valid > n || valid + torn != n) abort();
    break;
  }
  case 1: {
    oa_store_manifest m;
    oa_store_manifest_init_(&m);
    if (oa_store_manifest_decode_(p, n, &m, &err) == 0) {
      /* what decodes re-encodes to the same bytes */
      oa_bytes b;
      oa_bytes_init(&b);
      if (oa_store_manifest_encode_(&m, &b, &err) == 0 &&
          (b.size != n || memcmp(b.data, p, (size_t)n) != 0))
        abort();
      oa_bytes_reset(&b);
    }
    oa_store_manifest_reset_(&m);
    break;
  }
  default: {
    oa_store_bloom *b = NULL;
    int64_t nb = 0;
    if (oa_store_blooms_decode_(p, n, &b, &nb, &err) == 0) {
      uint8_t id[16] = {0};
      for (int64_t i = 0; i < nb; i++)
        (void)oa_store_bloom_test_(&b[i], id);
      oa_store_blooms_free_(b, nb);
    }
    break;
  }
  }
  return 0;
}
