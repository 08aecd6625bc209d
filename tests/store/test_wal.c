/* The store's on-disk formats: CRC32C against published check values,
 * hardware and table paths agreeing, log records cut at every length,
 * manifest round trip and truncation, bloom filter behaviour. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "test.h"

OA_TEST(test_crc32c_known_values) {
  /* RFC 3720 B.4 / the common "123456789" check value */
  CHECK_EQ_INT(oa_store_crc32c_(0, "123456789", 9, true), 0xe3069283u);
  CHECK_EQ_INT(oa_store_crc32c_(0, "123456789", 9, false), 0xe3069283u);
  uint8_t zeros[32] = {0};
  CHECK_EQ_INT(oa_store_crc32c_(0, zeros, 32, false), 0x8a9136aau);
  uint8_t ones[32];
  memset(ones, 0xff, sizeof ones);
  CHECK_EQ_INT(oa_store_crc32c_(0, ones, 32, true), 0x62a8ab43u);
  /* incremental == one shot; both paths on odd lengths and offsets */
  uint8_t buf[1031];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)(i * 131 + 7);
  for (size_t n = 0; n < sizeof buf; n += 37) {
    uint32_t a = oa_store_crc32c_(0, buf + 3, n, true);
    CHECK_EQ_INT(a, oa_store_crc32c_(0, buf + 3, n, false));
    uint32_t half = oa_store_crc32c_(0, buf + 3, n / 2, true);
    CHECK_EQ_INT(oa_store_crc32c_(half, buf + 3 + n / 2, n - n / 2, false), a);
  }
}

typedef struct seen {
  int n;
  char names[4][32];
  char ids[4][70];
  int64_t times[4];
  int64_t ipc_len[4];
} seen;

static int on_record(void *ctx, const oa_store_wal_record *r, oa_error *err) {
  seen *s = ctx;
  if (s->n < 4) {
    snprintf(s->names[s->n], 32, "%.*s", (int)r->name_len, r->name);
    snprintf(s->ids[s->n], 70, "%.*s", (int)r->id_len, r->id ? r->id : "");
    s->times[s->n] = r->time;
    s->ipc_len[s->n] = r->ipc_len;
  }
  s->n++;
  return 0;
}

OA_TEST(test_wal_records_and_every_cut) {
  oa_error err_, *err = &err_;
  oa_bytes b;
  oa_bytes_init(&b);
  int64_t start[3];
  CHECK_OK(oa_store_wal_begin_(&b, OA_WAL_APPEND, "spans", "id-1", 42,
                               &start[0], err),
           err);
  oa_bytes_append(&b, "IPCBYTES", 8);
  CHECK_OK(oa_store_wal_end_(&b, start[0], err), err);
  CHECK_OK(
      oa_store_wal_begin_(&b, OA_WAL_DROP, "other", NULL, -7, &start[1], err),
      err);
  CHECK_OK(oa_store_wal_end_(&b, start[1], err), err);
  CHECK_OK(oa_store_wal_begin_(&b, OA_WAL_CREATE, "x", NULL, 1, &start[2], err),
           err);
  oa_bytes_append(&b, "abc", 3);
  CHECK_OK(oa_store_wal_end_(&b, start[2], err), err);
  seen s;
  memset(&s, 0, sizeof s);
  int64_t valid, torn;
  CHECK_OK(
      oa_store_wal_scan_(b.data, b.size, on_record, &s, &valid, &torn, err),
      err);
  CHECK_EQ_INT(s.n, 3);
  CHECK_EQ_STR(s.names[0], "spans");
  CHECK_EQ_STR(s.ids[0], "id-1");
  CHECK_EQ_INT(s.times[0], 42);
  CHECK_EQ_INT(s.ipc_len[0], 8);
  CHECK_EQ_STR(s.names[1], "other");
  CHECK_EQ_STR(s.ids[1], "");
  CHECK_EQ_INT(s.times[1], -7);
  CHECK_EQ_INT(s.ipc_len[1], 0);
  CHECK_EQ_INT(s.ipc_len[2], 3);
  CHECK_EQ_INT(valid, b.size);
  CHECK_EQ_INT(torn, 0);
  /* every cut keeps exactly the records wholly before it */
  for (int64_t cut = 0; cut < b.size; cut++) {
    memset(&s, 0, sizeof s);
    CHECK_OK(oa_store_wal_scan_(b.data, cut, on_record, &s, &valid, &torn, err),
             err);
    int want = cut >= start[2] ? 2 : cut >= start[1] ? 1 : 0;
    CHECK_EQ_INT(s.n, want);
    CHECK_EQ_INT(valid, want == 2 ? start[2] : want == 1 ? start[1] : 0);
    CHECK_EQ_INT(torn, cut - valid);
  }
  /* every flipped bit of the first record stops the scan there */
  for (int64_t i = 0; i < start[1]; i++) {
    b.data[i] ^= 0x10;
    memset(&s, 0, sizeof s);
    oa_store_wal_scan_(b.data, b.size, on_record, &s, &valid, &torn, err);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(valid, 0);
    b.data[i] ^= 0x10;
  }
  char big[80];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  int64_t st;
  CHECK_FAILS(oa_store_wal_begin_(&b, OA_WAL_APPEND, "t", big, 0, &st, err),
              EINVAL, err, "batch id of 79 bytes");
  oa_bytes_reset(&b);
}

OA_TEST(test_manifest_round_trip_and_truncation) {
  oa_error err_, *err = &err_;
  oa_store_manifest m;
  oa_store_manifest_init_(&m);
  m.generation = 9;
  m.wal_flushed = 4;
  m.next_segment = 12;
  const uint8_t schema[] = {1, 2, 3, 4, 5};
  CHECK_OK(oa_store_manifest_set_ds_(&m, "spans", schema, 5, err), err);
  CHECK_OK(oa_store_manifest_set_ds_(&m, "other", schema, 2, err), err);
  for (int i = 0; i < 2; i++) {
    oa_store_seg_meta s;
    memset(&s, 0, sizeof s);
    s.id = 10 + (uint64_t)i;
    strcpy(s.dataset, i ? "other" : "spans");
    s.min_time = -5 + i;
    s.max_time = 100 + i;
    s.rows = 1000;
    s.bytes = 4096;
    s.n_batches = 3;
    s.part = 7;
    s.flags = i ? 0 : OA_SEG_BLOOM;
    s.n_ids = i ? 0 : 2;
    if (s.n_ids) {
      s.ids = calloc(2, sizeof *s.ids);
      s.ids[0] = strdup("a");
      s.ids[1] = strdup("batch-two");
    }
    CHECK_OK(oa_store_manifest_add_seg_(&m, &s, err), err);
  }
  oa_bytes b;
  oa_bytes_init(&b);
  CHECK_OK(oa_store_manifest_encode_(&m, &b, err), err);
  oa_store_manifest r;
  oa_store_manifest_init_(&r);
  CHECK_OK(oa_store_manifest_decode_(b.data, b.size, &r, err), err);
  CHECK_EQ_INT(r.generation, 9);
  CHECK_EQ_INT(r.wal_flushed, 4);
  CHECK_EQ_INT(r.next_segment, 12);
  CHECK_EQ_INT(r.n_ds, 2);
  CHECK_EQ_STR(r.ds[1].name, "other");
  CHECK_EQ_INT(r.ds[1].schema_len, 2);
  CHECK_EQ_INT(r.n_segs, 2);
  CHECK_EQ_INT(r.segs[0].min_time, -5);
  CHECK_EQ_INT(r.segs[1].max_time, 101);
  CHECK_EQ_INT(r.segs[0].flags, OA_SEG_BLOOM);
  CHECK_EQ_INT(r.segs[0].n_ids, 2);
  if (r.n_segs == 2 && r.segs[0].n_ids == 2)
    CHECK_EQ_STR(r.segs[0].ids[1], "batch-two");
  /* the encoding is stable */
  oa_bytes b2;
  oa_bytes_init(&b2);
  CHECK_OK(oa_store_manifest_encode_(&r, &b2, err), err);
  CHECK(b2.size == b.size && memcmp(b.data, b2.data, (size_t)b.size) == 0);
  /* any shorter prefix or flipped byte is refused, never read */
  for (int64_t n = 0; n < b.size; n++)
    CHECK(oa_store_manifest_decode_(b.data, n, &r, err) != 0);
  CHECK_FAILS(oa_store_manifest_decode_(b.data, 10, &r, err), EINVAL, err,
              "not a manifest");
  b.data[20] ^= 1;
  CHECK_FAILS(oa_store_manifest_decode_(b.data, b.size, &r, err), EINVAL, err,
              "checksum mismatch");
  CHECK_EQ_INT(r.n_segs, 0);
  oa_store_manifest_reset_(&r);
  oa_store_manifest_reset_(&m);
  oa_bytes_reset(&b);
  oa_bytes_reset(&b2);
}

OA_TEST(test_bloom) {
  oa_error err_, *err = &err_;
  oa_store_bloom b;
  CHECK_OK(oa_store_bloom_init_(&b, 10000, err), err);
  uint8_t id[16];
  for (int i = 0; i < 10000; i++) {
    memset(id, 0, 16);
    memcpy(id, &i, sizeof i);
    oa_store_bloom_add_(&b, id);
  }
  for (int i = 0; i < 10000; i++) {
    memset(id, 0, 16);
    memcpy(id, &i, sizeof i);
    CHECK(oa_store_bloom_test_(&b, id)); /* no false negatives */
  }
  int fp = 0;
  for (int i = 0; i < 100000; i++) {
    memset(id, 0xab, 16);
    memcpy(id + 4, &i, sizeof i);
    fp += oa_store_bloom_test_(&b, id);
  }
  CHECK(fp < 2000); /* about 1% expected (16384 bits per 1000 ids: less) */
  /* the file: two filters, the second empty */
  oa_store_bloom two[2];
  two[0] = b;
  CHECK_OK(oa_store_bloom_init_(&two[1], 1, err), err);
  oa_bytes e;
  oa_bytes_init(&e);
  CHECK_OK(oa_store_blooms_encode_(two, 2, &e, err), err);
  oa_store_bloom *r = NULL;
  int64_t nr = 0;
  CHECK_OK(oa_store_blooms_decode_(e.data, e.size, &r, &nr, err), err);
  CHECK_EQ_INT(nr, 2);
  if (nr == 2) {
    CHECK_EQ_INT(r[0].nbits, b.nbits);
    CHECK(memcmp(r[0].bits, b.bits, (size_t)(b.nbits / 8)) == 0);
    CHECK_EQ_INT(r[1].nbits, 512);
    memset(id, 0, 16);
    CHECK(!oa_store_bloom_test_(&r[1], id));
  }
  oa_store_blooms_free_(r, nr);
  for (int64_t n = 0; n < e.size; n++) {
    CHECK(oa_store_blooms_decode_(e.data, n, &r, &nr, err) != 0);
    CHECK(r == NULL);
  }
  e.data[30] ^= 1;
  CHECK_FAILS(oa_store_blooms_decode_(e.data, e.size, &r, &nr, err), EINVAL,
              err, "checksum");
  CHECK_FAILS(oa_store_blooms_decode_(e.data, 12, &r, &nr, err), EINVAL, err,
              "bad magic");
  oa_bytes_reset(&e);
  oa_store_bloom_reset_(&two[1]);
  oa_store_bloom_reset_(&b);
}

OA_TEST_MAIN(OA_T(test_crc32c_known_values),
             OA_T(test_wal_records_and_every_cut),
             OA_T(test_manifest_round_trip_and_truncation), OA_T(test_bloom))
