/* Block-wise validation (dictionary indices, offsets, UTF-8) reports the same
 * first offending row as a plain row-by-row reference, for every index width,
 * with array offsets, bad values hidden in null slots and bad values on
 * either side of block boundaries. */
#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

enum { L = 1000 };

static const oa_type_id kIndexTypes[] = {
    OA_TYPE_INT8,  OA_TYPE_UINT8,  OA_TYPE_INT16, OA_TYPE_UINT16,
    OA_TYPE_INT32, OA_TYPE_UINT32, OA_TYPE_INT64, OA_TYPE_UINT64};

static int width_of(oa_type_id t) {
  switch (t) {
  case OA_TYPE_INT8:
  case OA_TYPE_UINT8:
    return 1;
  case OA_TYPE_INT16:
  case OA_TYPE_UINT16:
    return 2;
  case OA_TYPE_INT32:
  case OA_TYPE_UINT32:
    return 4;
  default:
    return 8;
  }
}

static bool signed_type(oa_type_id t) {
  return t == OA_TYPE_INT8 || t == OA_TYPE_INT16 || t == OA_TYPE_INT32 ||
         t == OA_TYPE_INT64;
}

/* Stores the low w bytes of v (little-endian) as element j. */
static void put(uint8_t *buf, int w, int64_t j, uint64_t v) {
  for (int b = 0; b < w; b++)
    buf[j * w + b] = (uint8_t)(v >> (8 * b));
}

/* The value oa_array_get_dict_index reports for the raw w-byte value v. */
static int64_t as_index(oa_type_id t, uint64_t v) {
  int w = width_of(t);
  if (w < 8) v &= ((uint64_t)1 << (8 * w)) - 1;
  if (signed_type(t) && w < 8 && (v >> (8 * w - 1)))
    return (int64_t)(v | ~(((uint64_t)1 << (8 * w)) - 1));
  return (int64_t)v;
}

/* CHECK_FAILS tests its message for NULL: pass arrays through a pointer. */
static const char *msg(const char *s) { return s; }

static void set_valid(uint8_t *bits, int64_t i, bool v) {
  if (v)
    oa_bit_set(bits, i);
  else
    oa_bit_clear(bits, i);
}

OA_TEST(dictionary_indices_every_width) {
  static const int64_t dict_lens[] = {1, 3, 127, 128, 200, 255, 256, 300};
  static const int64_t offsets[] = {0, 3, 300};
  static const int64_t bad_rows[] = {0, 255, 256, 257, 700, L - 1};
  int32_t doffs[301] = {0};
  uint8_t *idx = malloc((size_t)(L + 300) * 8);
  uint8_t bits[(L + 300 + 7) / 8];
  CHECK(idx != NULL);
  for (size_t ti = 0; ti < sizeof kIndexTypes / sizeof kIndexTypes[0]; ti++) {
    oa_type_id t = kIndexTypes[ti];
    int w = width_of(t);
    oa_field f = tf("d", OA_TYPE_STRING);
    oa_field_set_dictionary(&f, t, 0, true);
    for (size_t ni = 0; ni < sizeof dict_lens / sizeof dict_lens[0]; ni++) {
      int64_t n = dict_lens[ni];
      oa_array dict;
      oa_array_init(&dict);
      dict.length = n;
      dict.null_count = 0;
      dict.n_buffers = 3;
      dict.buffers[1] = (oa_buffer){(const uint8_t *)doffs, (n + 1) * 4, NULL};
      /* largest in-range index the type can hold, and out-of-range values */
      uint64_t type_max =
          w == 8 ? (signed_type(t) ? (uint64_t)INT64_MAX : UINT64_MAX)
                 : ((uint64_t)1 << (8 * w - signed_type(t))) - 1;
      uint64_t bads[3];
      int n_bads = 0;
      if ((uint64_t)n <= type_max) bads[n_bads++] = (uint64_t)n;
      if (signed_type(t)) bads[n_bads++] = UINT64_MAX; /* -1 */
      if (t == OA_TYPE_UINT64) bads[n_bads++] = (uint64_t)1 << 63;
      for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
        int64_t off = offsets[oi];
        oa_array a;
        oa_array_init(&a);
        a.length = L;
        a.offset = off;
        a.null_count = -1;
        a.n_buffers = 2;
        a.dictionary = &dict;
        a.buffers[1] = (oa_buffer){idx, (off + L) * w, NULL};
        uint64_t hi = (uint64_t)n - 1 < type_max ? (uint64_t)n - 1 : type_max;
        for (int64_t j = 0; j < off + L; j++)
          put(idx, w, j, (uint64_t)j % (hi + 1));
        memset(bits, 0xff, sizeof bits);
        CHECK_OK(oa_array_validate(&f, &a, true, err), err);
        a.buffers[0] = (oa_buffer){bits, sizeof bits, NULL};
        CHECK_OK(oa_array_validate(&f, &a, true, err), err);
        for (int b = 0; b < n_bads; b++) {
          for (size_t ri = 0; ri < sizeof bad_rows / sizeof bad_rows[0]; ri++) {
            int64_t r = bad_rows[ri];
            /* a bad value in a null slot before r is not reported */
            int64_t hidden = r > 0 ? r - 1 : -1;
            if (hidden >= 0) {
              put(idx, w, off + hidden, bads[b]);
              set_valid(bits, off + hidden, false);
            }
            put(idx, w, off + r, bads[b]);
            char want[160];
            snprintf(want, sizeof want,
                     "field 'd': row %lld: dictionary index %lld out of "
                     "bounds of dictionary length %lld",
                     (long long)r, (long long)as_index(t, bads[b]),
                     (long long)n);
            CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                        msg(want));
            /* the same bad value in a null row only is fine */
            set_valid(bits, off + r, false);
            CHECK_OK(oa_array_validate(&f, &a, true, err), err);
            set_valid(bits, off + r, true);
            put(idx, w, off + r, 0);
            if (hidden >= 0) {
              put(idx, w, off + hidden, 0);
              set_valid(bits, off + hidden, true);
            }
          }
        }
        /* bad values outside [offset, offset + length) are not looked at */
        if (n_bads && off > 0) {
          put(idx, w, off - 1, bads[0]);
          CHECK_OK(oa_array_validate(&f, &a, true, err), err);
          put(idx, w, off - 1, 0);
        }
      }
    }
    oa_field_reset(&f);
  }
  free(idx);
}

/* Every value of a uint8 index fits a 256-entry dictionary; an int8 index
 * is only checked for negative values then. */
OA_TEST(dictionary_full_range) {
  int32_t doffs[257] = {0};
  oa_array dict;
  oa_array_init(&dict);
  dict.length = 256;
  dict.null_count = 0;
  dict.n_buffers = 3;
  dict.buffers[1] = (oa_buffer){(const uint8_t *)doffs, sizeof doffs, NULL};
  uint8_t idx[600];
  for (int j = 0; j < 600; j++)
    idx[j] = (uint8_t)(j * 7);
  oa_array a;
  oa_array_init(&a);
  a.length = 600;
  a.null_count = 0;
  a.n_buffers = 2;
  a.dictionary = &dict;
  a.buffers[1] = (oa_buffer){idx, sizeof idx, NULL};
  oa_field u = tf("u", OA_TYPE_STRING);
  oa_field_set_dictionary(&u, OA_TYPE_UINT8, 0, false);
  CHECK_OK(oa_array_validate(&u, &a, true, err), err);
  oa_field s = tf("s", OA_TYPE_STRING);
  oa_field_set_dictionary(&s, OA_TYPE_INT8, 0, false);
  for (int j = 0; j < 600; j++)
    idx[j] = (uint8_t)(j % 128);
  CHECK_OK(oa_array_validate(&s, &a, true, err), err);
  idx[513] = 0x80;
  CHECK_FAILS(oa_array_validate(&s, &a, true, err), EINVAL, err,
              "field 's': row 513: dictionary index -128 out of bounds of "
              "dictionary length 256");
  /* an empty dictionary: any non-null index is out of range */
  dict.length = 0;
  memset(idx, 0, sizeof idx);
  CHECK_FAILS(oa_array_validate(&u, &a, true, err), EINVAL, err,
              "row 0: dictionary index 0 out of bounds of dictionary length 0");
  oa_field_reset(&u);
  oa_field_reset(&s);
}

OA_TEST(offsets_across_blocks) {
  static const int64_t rows[] = {0, 254, 255, 256, 511, 512, L - 1};
  static const int64_t offsets[] = {0, 5};
  for (int large = 0; large < 2; large++) {
    int w = large ? 8 : 4;
    oa_field f = tf("s", large ? OA_TYPE_LARGE_STRING : OA_TYPE_STRING);
    uint8_t *offs = malloc((size_t)(L + 6) * 8);
    char data[2 * (L + 6)];
    memset(data, 'a', sizeof data);
    CHECK(offs != NULL);
    for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
      int64_t off = offsets[oi];
      for (int64_t j = 0; j <= off + L; j++)
        put(offs, w, j, (uint64_t)(2 * j));
      oa_array a;
      oa_array_init(&a);
      a.length = L;
      a.offset = off;
      a.null_count = -1;
      a.n_buffers = 3;
      a.buffers[1] = (oa_buffer){offs, (off + L + 1) * w, NULL};
      a.buffers[2] = (oa_buffer){(const uint8_t *)data, sizeof data, NULL};
      CHECK_OK(oa_array_validate(&f, &a, true, err), err);
      for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
        /* offset off + r + 1 drops below offset off + r */
        int64_t r = rows[ri], j = off + r + 1;
        put(offs, w, j, (uint64_t)(2 * (off + r) - 1));
        char want[160];
        snprintf(want, sizeof want,
                 "field 's': offset %lld (%lld) is less than the previous "
                 "(%lld) at row %lld",
                 (long long)j, (long long)(2 * (off + r) - 1),
                 (long long)(2 * (off + r)), (long long)r);
        CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                    msg(want));
        put(offs, w, j, (uint64_t)(2 * j));
      }
      CHECK_OK(oa_array_validate(&f, &a, true, err), err);
      /* the last offset is still bounded by the data length */
      a.buffers[2].size = 2 * (off + L) - 1;
      CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                  "exceeds data length");
    }
    free(offs);
    oa_field_reset(&f);
  }
}

OA_TEST(utf8_across_blocks) {
  /* row i is "ab" at bytes [2i, 2i + 2) of data */
  for (int large = 0; large < 2; large++) {
    int w = large ? 8 : 4;
    oa_field f = tf("s", large ? OA_TYPE_LARGE_STRING : OA_TYPE_STRING);
    const int64_t off = 7;
    uint8_t offs[(L + 8) * 8];
    uint8_t data[2 * (L + 7)];
    uint8_t bits[(L + 7 + 7) / 8];
    for (int64_t j = 0; j <= off + L; j++)
      put(offs, w, j, (uint64_t)(2 * j));
    for (int64_t j = 0; j < off + L; j++) {
      data[2 * j] = 'a';
      data[2 * j + 1] = 'b';
    }
    memset(bits, 0xff, sizeof bits);
    oa_array a;
    oa_array_init(&a);
    a.length = L;
    a.offset = off;
    a.null_count = -1;
    a.n_buffers = 3;
    a.buffers[0] = (oa_buffer){bits, sizeof bits, NULL};
    a.buffers[1] = (oa_buffer){offs, (off + L + 1) * w, NULL};
    a.buffers[2] = (oa_buffer){data, sizeof data, NULL};
    CHECK_OK(oa_array_validate(&f, &a, true, err), err);
    /* valid 2-byte sequence (U+00E9) in row 300 */
    data[2 * (off + 300)] = 0xc3;
    data[2 * (off + 300) + 1] = 0xa9;
    CHECK_OK(oa_array_validate(&f, &a, true, err), err);
    /* invalid bytes in a null row 400, then in row 700 (second byte) */
    data[2 * (off + 400)] = 0xff;
    oa_bit_clear(bits, off + 400);
    data[2 * (off + 700) + 1] = 0x80;
    CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                "field 's': row 700: invalid UTF-8 at byte 1 of the value");
    /* without UTF-8 checking the bytes are not looked at */
    CHECK_OK(oa_array_validate(&f, &a, false, err), err);
    oa_bit_clear(bits, off + 700);
    CHECK_OK(oa_array_validate(&f, &a, true, err), err);
    oa_bit_set(bits, off + 400);
    CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                "field 's': row 400: invalid UTF-8 at byte 0 of the value");
    oa_bit_clear(bits, off + 400);
    /* first and last bytes of blocks of rows */
    static const int64_t edge_rows[] = {0, 255, 256, 511, 512, L - 1};
    for (size_t k = 0; k < sizeof edge_rows / sizeof edge_rows[0]; k++) {
      for (int at = 0; at < 2; at++) {
        int64_t r = edge_rows[k];
        uint8_t *p = &data[2 * (off + r) + at], saved = *p;
        *p = 0xfe;
        char want[96];
        snprintf(want, sizeof want,
                 "field 's': row %lld: invalid UTF-8 at byte %d of the value",
                 (long long)r, at);
        CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                    msg(want));
        *p = saved;
      }
    }
    /* bytes before the array offset are not part of any value */
    data[0] = 0xff;
    CHECK_OK(oa_array_validate(&f, &a, true, err), err);
    oa_field_reset(&f);
  }
}

/* Map keys: the bitmap of the keys in use is counted, a null key is then
 * located; keys outside the rows' entries are not looked at. */
OA_TEST(map_null_keys) {
  oa_field f = tf("m", OA_TYPE_MAP);
  oa_field e = tf("entries", OA_TYPE_STRUCT);
  tchild(&e, tf("key", OA_TYPE_INT32));
  tchild(&e, tf("value", OA_TYPE_INT32));
  tchild(&f, e);
  enum { NE = 600, NR = 300 };
  int32_t offs[NR + 1], keys[NE];
  uint8_t kvalid[NE / 8];
  for (int i = 0; i <= NR; i++)
    offs[i] = 2 * i;
  for (int i = 0; i < NE; i++)
    keys[i] = i;
  memset(kvalid, 0xff, sizeof kvalid);
  oa_array kv[2];
  oa_array_init(&kv[0]);
  oa_array_init(&kv[1]);
  kv[0].length = kv[1].length = NE;
  kv[0].null_count = kv[1].null_count = -1;
  kv[0].n_buffers = kv[1].n_buffers = 2;
  kv[0].buffers[0] = (oa_buffer){kvalid, sizeof kvalid, NULL};
  kv[0].buffers[1] = kv[1].buffers[1] =
      (oa_buffer){(const uint8_t *)keys, sizeof keys, NULL};
  oa_array entries;
  oa_array_init(&entries);
  entries.length = NE;
  entries.null_count = 0;
  entries.n_buffers = 1;
  entries.n_children = 2;
  entries.children = kv;
  oa_array a;
  oa_array_init(&a);
  a.length = NR;
  a.null_count = 0;
  a.n_buffers = 2;
  a.buffers[1] = (oa_buffer){(const uint8_t *)offs, sizeof offs, NULL};
  a.n_children = 1;
  a.children = &entries;
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_bit_clear(kvalid, 450);
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "field 'm': map entry 450 has a null key");
  /* rows 100.. only: entries [200, 600) */
  a.offset = 100;
  a.length = 200;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "map entry 450 has a null key");
  oa_bit_set(kvalid, 450);
  oa_bit_clear(kvalid, 150); /* before the first entry in use */
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  /* null_count 0 on the keys: no key is null whatever the bitmap says */
  a.offset = 0;
  a.length = NR;
  kv[0].null_count = 0;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "null_count 0 but the validity bitmap has 1 nulls");
  kv[0].null_count = 1;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "map entry 150 has a null key");
  oa_field_reset(&f);
}

OA_TEST_MAIN(OA_T(dictionary_indices_every_width), OA_T(dictionary_full_range),
             OA_T(offsets_across_blocks), OA_T(utf8_across_blocks),
             OA_T(map_null_keys))
