/* The flatbuffer builder and reader: round trips, hand-made byte layouts
 * checked against the format description, and malicious buffers. */
#include <stdlib.h>
#include <string.h>

#include "ipc/flatbuf.h"
#include "test.h"

/* A test schema:
 *   table Inner { x: int = 7; s: string; }
 *   struct Pair { a: long; b: int; }  (16 bytes, align 8)
 *   union U { Inner = 1 }
 *   table Root { b: byte = 0; h: short = 5; l: long = 0; inner: Inner;
 *                pairs: [Pair]; names: [string]; inners: [Inner];
 *                u_type: ubyte; u: U; flag: bool = true; ints: [int];
 *                st: Pair (inline struct) } */
enum {
  R_B,
  R_H,
  R_L,
  R_INNER,
  R_PAIRS,
  R_NAMES,
  R_INNERS,
  R_U_TYPE,
  R_U,
  R_FLAG,
  R_INTS,
  R_ST
};

typedef struct pair {
  int64_t a;
  int32_t b;
  int32_t pad;
} pair;

static oa_fb_ref make_inner(oa_fb_builder *b, int32_t x, const char *s) {
  oa_fb_ref sr = s ? oa_fb_create_string(b, s, (int64_t)strlen(s)) : 0;
  oa_fb_start_table(b);
  oa_fb_add_i32(b, 0, x, 7);
  oa_fb_add_ref(b, 1, sr);
  return oa_fb_end_table(b);
}

/* Builds the full Root into out. */
static int build_root(oa_bytes *out, oa_error *err) {
  oa_fb_builder b;
  oa_fb_builder_init(&b);
  oa_fb_ref inner = make_inner(&b, 7, "hello"); /* x == default: omitted */
  pair pairs[3] = {{1, -1, 0}, {INT64_MAX, 2, 0}, {-5, 3, 0}};
  oa_fb_ref pv = oa_fb_create_vector(&b, pairs, 3, 16, 8);
  oa_fb_ref names[3] = {oa_fb_create_string(&b, "a", 1),
                        oa_fb_create_string(&b, "", 0),
                        oa_fb_create_string(&b, "xyz\0w", 5)};
  oa_fb_ref nv = oa_fb_create_vector_refs(&b, names, 3);
  oa_fb_ref inners[2] = {make_inner(&b, 1, NULL), make_inner(&b, -2, "q")};
  oa_fb_ref iv = oa_fb_create_vector_refs(&b, inners, 2);
  oa_fb_ref un = make_inner(&b, 42, "union");
  int32_t ints[5] = {1, 2, 3, -4, 5};
  oa_fb_ref ints_v = oa_fb_create_vector(&b, ints, 5, 4, 4);
  oa_fb_start_table(&b);
  oa_fb_add_i8(&b, R_B, -3, 0);
  oa_fb_add_i16(&b, R_H, 5, 5); /* default: omitted */
  oa_fb_add_i64(&b, R_L, -1234567890123LL, 0);
  oa_fb_add_ref(&b, R_INNER, inner);
  oa_fb_add_ref(&b, R_PAIRS, pv);
  oa_fb_add_ref(&b, R_NAMES, nv);
  oa_fb_add_ref(&b, R_INNERS, iv);
  oa_fb_add_u8(&b, R_U_TYPE, 1, 0);
  oa_fb_add_ref(&b, R_U, un);
  oa_fb_add_bool(&b, R_FLAG, false, true);
  oa_fb_add_ref(&b, R_INTS, ints_v);
  pair st = {77, 88, 0};
  oa_fb_add_struct(&b, R_ST, &st, 16, 8);
  oa_fb_ref root = oa_fb_end_table(&b);
  int rc = oa_fb_builder_finish(&b, root, out, err);
  oa_fb_builder_reset(&b);
  return rc;
}

static int quiet_; /* flipped-byte runs expect mismatches */

/* Reads Root completely; returns 0 only if all values are as built. */
static int read_root(const uint8_t *buf, int64_t len, oa_error *err,
                     int *mismatch) {
  oa_fb_reader r;
  oa_fb_table t, in, u;
  oa_fb_vector v;
  bool present;
  int8_t b8;
  int16_t h;
  int64_t l;
  int32_t x;
  uint8_t ut;
  bool flag;
  const char *s;
  int64_t slen;
  *mismatch = 0;
#define EXPECT(c)                                                              \
  do {                                                                         \
    if (!(c)) {                                                                \
      if (!quiet_) fprintf(stderr, "read_root: %s\n", #c);                     \
      *mismatch = 1;                                                           \
    }                                                                          \
  } while (0)
  oa_fb_reader_init(&r, buf, len, 0, 0, err);
  OA_RETURN_NOT_OK(oa_fb_root(&r, "Root", &t));
  OA_RETURN_NOT_OK(oa_fb_get_i8(&t, R_B, "b", 0, &b8));
  EXPECT(b8 == -3);
  OA_RETURN_NOT_OK(oa_fb_get_i16(&t, R_H, "h", 5, &h));
  EXPECT(h == 5 && !oa_fb_has(&t, R_H));
  OA_RETURN_NOT_OK(oa_fb_get_i64(&t, R_L, "l", 0, &l));
  EXPECT(l == -1234567890123LL);
  OA_RETURN_NOT_OK(oa_fb_get_bool(&t, R_FLAG, "flag", true, &flag));
  EXPECT(!flag);
  OA_RETURN_NOT_OK(oa_fb_get_table(&t, R_INNER, "inner", &in, &present));
  EXPECT(present);
  OA_RETURN_NOT_OK(oa_fb_get_i32(&in, 0, "x", 7, &x));
  EXPECT(x == 7 && !oa_fb_has(&in, 0));
  OA_RETURN_NOT_OK(oa_fb_get_string(&in, 1, "s", &s, &slen));
  EXPECT(s && slen == 5 && strcmp(s, "hello") == 0);

  OA_RETURN_NOT_OK(oa_fb_get_vector(&t, R_PAIRS, "pairs", 16, &v, &present));
  EXPECT(present && v.n == 3);
  if (v.n == 3) {
    EXPECT(oa_fb_load_i64(oa_fb_vector_elem(&v, 1)) == INT64_MAX);
    EXPECT(oa_fb_load_i32(oa_fb_vector_elem(&v, 0) + 8) == -1);
    EXPECT(oa_fb_load_i64(oa_fb_vector_elem(&v, 2)) == -5);
    EXPECT(oa_fb_load_i32(oa_fb_vector_elem(&v, 2) + 8) == 3);
    /* struct vectors are aligned to their alignment (8) */
    EXPECT(((v.data) & 7) == 0);
  }
  OA_RETURN_NOT_OK(oa_fb_get_vector(&t, R_NAMES, "names", 4, &v, &present));
  EXPECT(v.n == 3);
  for (int64_t i = 0; i < v.n; i++) {
    OA_RETURN_NOT_OK(oa_fb_vector_string(&v, i, &s, &slen));
    if (i == 0) EXPECT(slen == 1 && s[0] == 'a');
    if (i == 1) EXPECT(slen == 0 && s[0] == 0);
    if (i == 2) EXPECT(slen == 5 && memcmp(s, "xyz\0w", 5) == 0);
  }
  OA_RETURN_NOT_OK(oa_fb_get_vector(&t, R_INNERS, "inners", 4, &v, &present));
  EXPECT(v.n == 2);
  for (int64_t i = 0; i < v.n; i++) {
    OA_RETURN_NOT_OK(oa_fb_vector_table(&v, i, &in));
    OA_RETURN_NOT_OK(oa_fb_get_i32(&in, 0, "x", 7, &x));
    OA_RETURN_NOT_OK(oa_fb_get_string(&in, 1, "s", &s, &slen));
    if (i == 0) EXPECT(x == 1 && s == NULL);
    if (i == 1) EXPECT(x == -2 && s && strcmp(s, "q") == 0);
  }
  OA_RETURN_NOT_OK(oa_fb_get_u8(&t, R_U_TYPE, "u_type", 0, &ut));
  EXPECT(ut == 1);
  OA_RETURN_NOT_OK(oa_fb_get_table(&t, R_U, "u", &u, &present));
  EXPECT(present);
  OA_RETURN_NOT_OK(oa_fb_get_i32(&u, 0, "x", 7, &x));
  EXPECT(x == 42);
  OA_RETURN_NOT_OK(oa_fb_get_vector(&t, R_INTS, "ints", 4, &v, &present));
  EXPECT(v.n == 5);
  if (v.n == 5) {
    EXPECT(oa_fb_load_i32(oa_fb_vector_elem(&v, 3)) == -4);
    EXPECT((v.data & 3) == 0);
  }
  const uint8_t *st;
  OA_RETURN_NOT_OK(oa_fb_get_struct(&t, R_ST, "st", 16, &st));
  EXPECT(st && oa_fb_load_i64(st) == 77 && oa_fb_load_i32(st + 8) == 88);
  EXPECT(st && ((st - buf) & 7) == 0);
  /* absent slot beyond the vtable */
  OA_RETURN_NOT_OK(oa_fb_get_i32(&t, 20, "nope", 99, &x));
  EXPECT(x == 99);
#undef EXPECT
  return 0;
}

OA_TEST(roundtrip_all_kinds) {
  oa_bytes out;
  oa_error err_s, *err = &err_s;
  int mismatch = 1;
  oa_bytes_init(&out);
  CHECK_OK(build_root(&out, err), err);
  /* the whole buffer is a multiple of the largest alignment (8) */
  CHECK_EQ_INT(out.size % 8, 0);
  CHECK_OK(read_root(out.data, out.size, err, &mismatch), err);
  CHECK_EQ_INT(mismatch, 0);
  oa_bytes_reset(&out);
}

/* Appending to a non-empty oa_bytes leaves earlier bytes alone and the
 * flatbuffer readable from where it starts. */
OA_TEST(append_after_prefix) {
  oa_bytes out;
  oa_error err_s, *err = &err_s;
  int mismatch = 1;
  oa_bytes_init(&out);
  CHECK_OK(oa_bytes_append(&out, "ABCDEFGH", 8), err);
  CHECK_OK(build_root(&out, err), err);
  CHECK(memcmp(out.data, "ABCDEFGH", 8) == 0);
  CHECK_OK(read_root(out.data + 8, out.size - 8, err, &mismatch), err);
  CHECK_EQ_INT(mismatch, 0);
  oa_bytes_reset(&out);
}

/* The exact bytes of a tiny buffer, worked out by hand from the format:
 * table { a: int = 0 } with a = 0x11223344. */
OA_TEST(exact_layout) {
  oa_fb_builder b;
  oa_bytes out;
  oa_error err_s, *err = &err_s;
  oa_fb_builder_init(&b);
  oa_bytes_init(&out);
  oa_fb_start_table(&b);
  oa_fb_add_i32(&b, 0, 0x11223344, 0);
  oa_fb_ref root = oa_fb_end_table(&b);
  CHECK_OK(oa_fb_builder_finish(&b, root, &out, err), err);
  /* root uoffset -> table at 12; vtable at 6: [size 6, inline 8, field 4];
   * 2 bytes of padding after the root offset; soffset 12 - 6 = 6 */
  static const uint8_t want[] = {12, 0, 0, 0, 0, 0, 6,    0,    8,    0,
                                 4,  0, 6, 0, 0, 0, 0x44, 0x33, 0x22, 0x11};
  CHECK_EQ_INT(out.size, sizeof want);
  if (out.size == (int64_t)sizeof want)
    CHECK(memcmp(out.data, want, sizeof want) == 0);
  oa_fb_builder_reset(&b);
  oa_bytes_reset(&out);
}

OA_TEST(builder_misuse) {
  oa_fb_builder b;
  oa_bytes out;
  oa_error err_s, *err = &err_s;
  oa_fb_builder_init(&b);
  oa_bytes_init(&out);
  oa_fb_start_table(&b);
  oa_fb_create_string(&b, "x", 1); /* not allowed inside a table */
  oa_fb_ref r = oa_fb_end_table(&b);
  CHECK_FAILS(oa_fb_builder_finish(&b, r, &out, err), EINVAL, err,
              "inside a table");
  CHECK_EQ_INT(out.size, 0);
  oa_fb_builder_reset(&b);
  oa_fb_builder_init(&b);
  oa_fb_start_table(&b);
  CHECK_FAILS(oa_fb_builder_finish(&b, 0, &out, err), EINVAL, err,
              "still open");
  oa_fb_builder_reset(&b);
  oa_bytes_reset(&out);
}

/* Hand-made buffers: helper to put little-endian values. */
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

OA_TEST(rejects_malicious) {
  oa_error err_s, *err = &err_s;
  oa_fb_reader r;
  oa_fb_table t;
  oa_fb_vector v;
  bool present;
  const char *s;
  int64_t slen;
  uint8_t buf[64];

  /* root offset past end */
  memset(buf, 0, sizeof buf);
  put32(buf, 1000);
  oa_fb_reader_init(&r, buf, 32, 0, 0, err);
  CHECK_FAILS(oa_fb_root(&r, "Root", &t), EINVAL, err, "extends past end");
  CHECK(strstr(err->message, "flatbuffer: table 'Root' at 1000") != NULL);

  /* too short */
  oa_fb_reader_init(&r, buf, 3, 0, 0, err);
  CHECK_FAILS(oa_fb_root(&r, "Root", &t), EINVAL, err, "too short");

  /* vtable offset out of range: soffset puts it before the buffer */
  memset(buf, 0, sizeof buf);
  put32(buf, 8);
  put32(buf + 8, 100); /* vtable = 8 - 100 < 0 */
  oa_fb_reader_init(&r, buf, 32, 0, 0, err);
  CHECK_FAILS(oa_fb_root(&r, "Root", &t), EINVAL, err, "vtable of 'Root'");
  /* ... and after it (negative soffset) */
  put32(buf + 8, (uint32_t)-100);
  oa_fb_reader_init(&r, buf, 32, 0, 0, err);
  CHECK_FAILS(oa_fb_root(&r, "Root", &t), EINVAL, err, "out of range");

  /* Layout used below: vtable at 4 [6, 8, 4], table at 12 (soffset 8),
   * field at 16 = uoffset to 20 + k. */
  memset(buf, 0, sizeof buf);
  put32(buf, 12);
  put16(buf + 4, 6);
  put16(buf + 6, 8);
  put16(buf + 8, 4);
  put32(buf + 12, 8);
  put32(buf + 16, 4); /* -> 20 */

  /* odd vtable size */
  put16(buf + 4, 5);
  oa_fb_reader_init(&r, buf, 40, 0, 0, err);
  CHECK_FAILS(oa_fb_root(&r, "Root", &t), EINVAL, err, "bad size 5");
  put16(buf + 4, 6);
  /* inline size past the end */
  put16(buf + 6, 200);
  oa_fb_reader_init(&r, buf, 40, 0, 0, err);
  CHECK_FAILS(oa_fb_root(&r, "Root", &t), EINVAL, err, "inline size");
  put16(buf + 6, 8);
  /* field offset outside the inline size */
  put16(buf + 8, 6);
  oa_fb_reader_init(&r, buf, 40, 0, 0, err);
  CHECK_OK(oa_fb_root(&r, "Root", &t), err);
  CHECK_FAILS(oa_fb_get_vector(&t, 0, "fields", 4, &v, &present), EINVAL, err,
              "outside the table's inline size");
  put16(buf + 8, 4);

  /* vector whose length * size overflows / passes the end */
  put32(buf + 20, 0xFFFFFFFFu);
  oa_fb_reader_init(&r, buf, 40, 0, 0, err);
  CHECK_OK(oa_fb_root(&r, "Root", &t), err);
  CHECK_FAILS(oa_fb_get_vector(&t, 0, "fields", 24, &v, &present), EINVAL, err,
              "vector of 'fields' at 20");
  CHECK(strstr(err->message, "extends past end (len 40)") != NULL);
  put32(buf + 20, 5); /* 5 x 4 bytes at 24 needs 44 > 40 */
  CHECK_FAILS(oa_fb_get_vector(&t, 0, "fields", 4, &v, &present), EINVAL, err,
              "extends past end");
  put32(buf + 20, 4); /* fits exactly */
  CHECK_OK(oa_fb_get_vector(&t, 0, "fields", 4, &v, &present), err);
  CHECK_EQ_INT(v.n, 4);

  /* string without NUL, and string running past the end */
  put32(buf + 20, 3);
  memcpy(buf + 24, "abcd", 4);
  CHECK_FAILS(oa_fb_get_string(&t, 0, "name", &s, &slen), EINVAL, err,
              "not NUL-terminated");
  put32(buf + 20, 16); /* 16 bytes at 24 + NUL needs 41 > 40 */
  CHECK_FAILS(oa_fb_get_string(&t, 0, "name", &s, &slen), EINVAL, err,
              "string 'name' at 20");
  buf[27] = 0;
  put32(buf + 20, 3);
  CHECK_OK(oa_fb_get_string(&t, 0, "name", &s, &slen), err);
  CHECK(slen == 3 && strcmp(s, "abc") == 0);

  /* offset whose target is past the end */
  put32(buf + 16, 0x7FFFFFF0u);
  CHECK_FAILS(oa_fb_get_string(&t, 0, "name", &s, &slen), EINVAL, err,
              "past end");
  CHECK_FAILS(oa_fb_get_table(&t, 0, "child", &t, &present), EINVAL, err,
              "table 'child'");
}

/* A table whose field points at the table itself (offset 0) and tables that
 * reference one child many times: the depth and table budgets stop them. */
OA_TEST(rejects_cycles_and_sharing) {
  oa_error err_s, *err = &err_s;
  oa_fb_reader r;
  oa_fb_table t, c;
  bool present;
  uint8_t buf[64];
  memset(buf, 0, sizeof buf);
  /* vtable at 4 [6, 8, 4]; table at 12; field at 16 = 0 (points to 16) */
  put32(buf, 12);
  put16(buf + 4, 6);
  put16(buf + 6, 8);
  put16(buf + 8, 4);
  put32(buf + 12, 8);
  put32(buf + 16, 0);
  oa_fb_reader_init(&r, buf, 40, 0, 0, err);
  CHECK_OK(oa_fb_root(&r, "Root", &t), err);
  /* the "table" at 16 has soffset 0: its vtable is itself, of size 0 */
  CHECK_FAILS(oa_fb_get_table(&t, 0, "self", &c, &present), EINVAL, err,
              "vtable of 'self'");

  /* A chain where each table's field points back to a shared vtable and a
   * table right after it: all tables share one vtable (legal), and a
   * vector listing the same table many times exhausts the budget. */
  oa_fb_builder b;
  oa_bytes out;
  oa_fb_builder_init(&b);
  oa_bytes_init(&out);
  oa_fb_start_table(&b);
  oa_fb_add_i32(&b, 0, 1, 0);
  oa_fb_ref leaf = oa_fb_end_table(&b);
  oa_fb_ref refs[200];
  for (int i = 0; i < 200; i++)
    refs[i] = leaf;
  oa_fb_ref vec = oa_fb_create_vector_refs(&b, refs, 200);
  oa_fb_start_table(&b);
  oa_fb_add_ref(&b, 0, vec);
  oa_fb_ref root = oa_fb_end_table(&b);
  CHECK_OK(oa_fb_builder_finish(&b, root, &out, err), err);
  /* budget = len/4 + 64: far fewer than 1M, but enough for the 200 here */
  oa_fb_vector v;
  oa_fb_reader_init(&r, out.data, out.size, 0, 0, err);
  CHECK_OK(oa_fb_root(&r, "Root", &t), err);
  CHECK_OK(oa_fb_get_vector(&t, 0, "kids", 4, &v, &present), err);
  for (int64_t i = 0; i < v.n; i++)
    CHECK_OK(oa_fb_vector_table(&v, i, &c), err);
  /* an explicit budget of 100 tables stops the same walk */
  oa_fb_reader_init(&r, out.data, out.size, 100, 0, err);
  CHECK_OK(oa_fb_root(&r, "Root", &t), err);
  CHECK_OK(oa_fb_get_vector(&t, 0, "kids", 4, &v, &present), err);
  int rc = 0;
  for (int64_t i = 0; i < v.n && !rc; i++)
    rc = oa_fb_vector_table(&v, i, &c);
  CHECK_EQ_INT(rc, EINVAL);
  CHECK(strstr(err->message, "too many tables") != NULL);
  oa_fb_builder_reset(&b);
  oa_bytes_reset(&out);

  /* depth: a chain of 10 nested tables with max_depth 5 */
  oa_fb_builder_init(&b);
  oa_bytes_init(&out);
  oa_fb_ref cur = 0;
  for (int i = 0; i < 10; i++) {
    oa_fb_start_table(&b);
    oa_fb_add_ref(&b, 0, cur);
    cur = oa_fb_end_table(&b);
  }
  CHECK_OK(oa_fb_builder_finish(&b, cur, &out, err), err);
  oa_fb_reader_init(&r, out.data, out.size, 0, 5, err);
  CHECK_OK(oa_fb_root(&r, "Root", &t), err);
  rc = 0;
  int levels = 0;
  while (!rc) {
    rc = oa_fb_get_table(&t, 0, "next", &c, &present);
    if (rc || !present) break;
    t = c;
    levels++;
  }
  CHECK_EQ_INT(rc, EINVAL);
  CHECK_EQ_INT(levels, 5);
  CHECK(strstr(err->message, "nested deeper than 5") != NULL);
  oa_fb_builder_reset(&b);
  oa_bytes_reset(&out);
}

/* Every prefix of a valid buffer, copied into an allocation of exactly that
 * size (so ASan sees any overread), either fails or reads cleanly. */
OA_TEST(truncation_never_overreads) {
  oa_bytes out;
  oa_error err_s, *err = &err_s;
  oa_bytes_init(&out);
  CHECK_OK(build_root(&out, err), err);
  int failures = 0;
  for (int64_t n = 0; n < out.size; n++) {
    uint8_t *copy = malloc((size_t)(n ? n : 1));
    memcpy(copy, out.data, (size_t)n);
    int mismatch = 0;
    int rc = read_root(n ? copy : NULL, n, err, &mismatch);
    if (rc) {
      failures++;
      CHECK_EQ_INT(rc, EINVAL);
      CHECK(strncmp(err->message, "flatbuffer: ", 12) == 0);
    }
    free(copy);
  }
  /* nearly every prefix loses the root table or something it points to */
  CHECK(failures > out.size / 2);
  /* flipping bytes never crashes either */
  quiet_ = 1;
  for (int64_t i = 0; i < out.size; i++) {
    for (int bit = 0; bit < 8; bit += 3) {
      uint8_t *copy = malloc((size_t)out.size);
      memcpy(copy, out.data, (size_t)out.size);
      copy[i] ^= (uint8_t)(1u << bit);
      int mismatch;
      (void)read_root(copy, out.size, err, &mismatch);
      free(copy);
    }
  }
  quiet_ = 0;
  oa_bytes_reset(&out);
}

OA_TEST_MAIN(OA_T(roundtrip_all_kinds), OA_T(append_after_prefix),
             OA_T(exact_layout), OA_T(builder_misuse), OA_T(rejects_malicious),
             OA_T(rejects_cycles_and_sharing), OA_T(truncation_never_overreads))
