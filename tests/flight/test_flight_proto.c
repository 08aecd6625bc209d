/* Flight protobuf codec: byte-exact encodings worked out by hand from the
 * protobuf wire format, round trips through the IPC encoder/decoder, and
 * malformed input (every truncation, wrong wire types, lengths past the end)
 * refused with EINVAL. */
#include <stdlib.h>
#include <string.h>

#include "flight/flight_proto.h"
#include "ipc/ipc_test_util.h"
#include "test.h"

static bool bytes_eq(const uint8_t *a, int64_t an, const uint8_t *b,
                     int64_t bn) {
  if (an != bn) {
    fprintf(stderr, "length %lld != %lld\n", (long long)an, (long long)bn);
    return false;
  }
  for (int64_t i = 0; i < an; i++)
    if (a[i] != b[i]) {
      fprintf(stderr, "byte %lld: %02x != %02x\n", (long long)i, a[i], b[i]);
      return false;
    }
  return true;
}

static bool view_is(oa_flight_view v, const char *s) {
  return v.size == (int64_t)strlen(s) && memcmp(v.data, s, (size_t)v.size) == 0;
}

/* A heap copy of exactly len bytes, so that ASan catches any read past it. */
static oa_buffer exact(const uint8_t *data, int64_t len) {
  uint8_t *p = malloc(len ? (size_t)len : 1);
  if (len) memcpy(p, data, (size_t)len);
  oa_region *r = oa_region_wrap(p, len, free, p);
  oa_buffer b = {p, len, r};
  return b;
}

OA_TEST(test_varint_encoding) {
  static const struct {
    uint64_t v;
    int n;
    uint8_t b[10];
  } cases[] = {
      {0, 1, {0x00}},
      {1, 1, {0x01}},
      {127, 1, {0x7f}},
      {128, 2, {0x80, 0x01}},
      {300, 2, {0xac, 0x02}},
      {8002, 2, {0xc2, 0x3e}}, /* tag of field 1000, wire type 2 */
      {UINT64_MAX,
       10,
       {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    oa_bytes b;
    oa_bytes_init(&b);
    CHECK_OK(oa_pb_put_varint(&b, cases[i].v), (oa_error *)NULL);
    CHECK(bytes_eq(b.data, b.size, cases[i].b, cases[i].n));
    CHECK_EQ_INT(oa_pb_varint_size(cases[i].v), cases[i].n);
    oa_bytes_reset(&b);
  }
}

OA_TEST(test_descriptor_bytes) {
  oa_error err_, *err = &err_;
  oa_flight_descriptor d;
  oa_flight_descriptor_path(&d, "spans");
  oa_bytes b;
  oa_bytes_init(&b);
  CHECK_OK(oa_flight_descriptor_encode(&d, &b, err), err);
  /* type=PATH (08 01), path "spans" (1a 05 ...) */
  static const uint8_t want[] = {0x08, 0x01, 0x1a, 0x05, 's',
                                 'p',  'a',  'n',  's'};
  CHECK(bytes_eq(b.data, b.size, want, sizeof want));

  oa_flight_descriptor back;
  CHECK_OK(oa_flight_descriptor_decode(b.data, b.size, &back, err), err);
  CHECK_EQ_INT(back.type, OA_FLIGHT_DESCRIPTOR_PATH);
  CHECK_EQ_INT(back.n_path, 1);
  CHECK(view_is(back.path[0], "spans"));

  /* CMD with two paths is also decoded (fields in any order) */
  static const uint8_t cmd[] = {0x1a, 0x01, 'a',  0x12, 0x02, 'x', 'y',
                                0x08, 0x02, 0x1a, 0x02, 'b',  'c'};
  CHECK_OK(oa_flight_descriptor_decode(cmd, sizeof cmd, &back, err), err);
  CHECK_EQ_INT(back.type, OA_FLIGHT_DESCRIPTOR_CMD);
  CHECK(view_is(back.cmd, "xy"));
  CHECK_EQ_INT(back.n_path, 2);
  CHECK(view_is(back.path[0], "a"));
  CHECK(view_is(back.path[1], "bc"));

  /* invalid UTF-8 in a path string */
  static const uint8_t bad[] = {0x1a, 0x02, 0xc3, 0x28};
  CHECK_FAILS(oa_flight_descriptor_decode(bad, sizeof bad, &back, err), EINVAL,
              err, "UTF-8");
  oa_bytes_reset(&b);
}

OA_TEST(test_small_messages_bytes) {
  oa_error err_, *err = &err_;
  oa_bytes b;
  oa_bytes_init(&b);
  /* Ticket { ticket = "abc" } */
  CHECK_OK(oa_flight_single_bytes_encode("abc", 3, &b, err), err);
  static const uint8_t t[] = {0x0a, 0x03, 'a', 'b', 'c'};
  CHECK(bytes_eq(b.data, b.size, t, sizeof t));
  oa_flight_view v;
  CHECK_OK(oa_flight_single_bytes_decode(b.data, b.size, &v, "Ticket", err),
           err);
  CHECK(view_is(v, "abc"));

  /* Action { type = "stats", body = "\x01" } */
  b.size = 0;
  oa_flight_action a = {{(const uint8_t *)"stats", 5},
                        {(const uint8_t *)"\x01", 1}};
  CHECK_OK(oa_flight_action_encode(&a, &b, err), err);
  static const uint8_t act[] = {0x0a, 0x05, 's',  't',  'a',
                                't',  's',  0x12, 0x01, 0x01};
  CHECK(bytes_eq(b.data, b.size, act, sizeof act));
  oa_flight_action ab;
  CHECK_OK(oa_flight_action_decode(b.data, b.size, &ab, "Action", err), err);
  CHECK(view_is(ab.type, "stats"));
  CHECK_EQ_INT(ab.body.size, 1);

  /* HandshakeRequest { protocol_version = 300, payload = "tk" } */
  b.size = 0;
  oa_flight_handshake h = {300, {(const uint8_t *)"tk", 2}};
  CHECK_OK(oa_flight_handshake_encode(&h, &b, err), err);
  static const uint8_t hs[] = {0x08, 0xac, 0x02, 0x12, 0x02, 't', 'k'};
  CHECK(bytes_eq(b.data, b.size, hs, sizeof hs));
  oa_flight_handshake hb;
  CHECK_OK(oa_flight_handshake_decode(b.data, b.size, &hb, err), err);
  CHECK_EQ_INT(hb.protocol_version, 300);
  CHECK(view_is(hb.payload, "tk"));

  /* an empty message decodes to defaults; unknown fields of every wire type
   * are skipped */
  CHECK_OK(oa_flight_handshake_decode(NULL, 0, &hb, err), err);
  CHECK_EQ_INT(hb.payload.size, 0);
  static const uint8_t unk[] = {0x78, 0x05, /* 15 varint */
                                0x79, 1,    2,    3, 4,
                                5,    6,    7,    8,    /* 15 fixed64 */
                                0x7d, 1,    2,    3, 4, /* 15 fixed32 */
                                0x7a, 0x01, 0x00,       /* 15 bytes */
                                0x12, 0x01, 'z'};
  CHECK_OK(oa_flight_handshake_decode(unk, sizeof unk, &hb, err), err);
  CHECK(view_is(hb.payload, "z"));
  oa_bytes_reset(&b);
}

OA_TEST(test_flight_info_bytes) {
  oa_error err_, *err = &err_;
  oa_flight_info info;
  memset(&info, 0, sizeof info);
  info.total_records = 5;
  info.total_bytes = -1;
  oa_bytes b;
  oa_bytes_init(&b);
  CHECK_OK(oa_flight_info_encode(&info, &b, err), err);
  /* field 4 varint 5; field 5 varint -1 as ten bytes */
  static const uint8_t want[] = {0x20, 0x05, 0x28, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  CHECK(bytes_eq(b.data, b.size, want, sizeof want));

  /* full round trip */
  b.size = 0;
  memset(&info, 0, sizeof info);
  info.schema.data = (const uint8_t *)"SCHEMA";
  info.schema.size = 6;
  info.has_descriptor = true;
  oa_flight_descriptor_path(&info.descriptor, "d1");
  info.n_endpoints = 2;
  info.endpoints[0].ticket.data = (const uint8_t *)"d1";
  info.endpoints[0].ticket.size = 2;
  info.endpoints[0].n_locations = 1;
  info.endpoints[0].locations[0].data = (const uint8_t *)"grpc+tcp://h:1";
  info.endpoints[0].locations[0].size = 14;
  info.endpoints[0].has_expiration = true;
  info.endpoints[0].expiration_seconds = 1700000000;
  info.endpoints[0].expiration_nanos = 5;
  info.endpoints[1].ticket.data = (const uint8_t *)"t2";
  info.endpoints[1].ticket.size = 2;
  info.endpoints[1].app_metadata.data = (const uint8_t *)"m";
  info.endpoints[1].app_metadata.size = 1;
  info.total_records = 123456789012;
  info.total_bytes = -1;
  info.ordered = true;
  info.app_metadata.data = (const uint8_t *)"app";
  info.app_metadata.size = 3;
  CHECK_OK(oa_flight_info_encode(&info, &b, err), err);
  oa_buffer in = exact(b.data, b.size);
  oa_flight_info back;
  CHECK_OK(oa_flight_info_decode(in.data, in.size, &back, err), err);
  CHECK(view_is(back.schema, "SCHEMA"));
  CHECK(back.has_descriptor);
  CHECK(view_is(back.descriptor.path[0], "d1"));
  CHECK_EQ_INT(back.n_endpoints, 2);
  CHECK(view_is(back.endpoints[0].ticket, "d1"));
  CHECK_EQ_INT(back.endpoints[0].n_locations, 1);
  CHECK(view_is(back.endpoints[0].locations[0], "grpc+tcp://h:1"));
  CHECK(back.endpoints[0].has_expiration);
  CHECK_EQ_INT(back.endpoints[0].expiration_seconds, 1700000000);
  CHECK_EQ_INT(back.endpoints[0].expiration_nanos, 5);
  CHECK(view_is(back.endpoints[1].ticket, "t2"));
  CHECK(view_is(back.endpoints[1].app_metadata, "m"));
  CHECK(!back.endpoints[1].has_expiration);
  CHECK_EQ_INT(back.total_records, 123456789012);
  CHECK_EQ_INT(back.total_bytes, -1);
  CHECK(back.ordered);
  CHECK(view_is(back.app_metadata, "app"));

  /* every truncation either stops at a field boundary or is refused */
  for (int64_t cut = 0; cut < in.size; cut++) {
    oa_buffer c = exact(in.data, cut);
    int rc = oa_flight_info_decode(c.data, c.size, &back, err);
    CHECK(rc == 0 || rc == EINVAL);
    oa_region_release(c.region);
  }
  oa_region_release(in.region);
  oa_bytes_reset(&b);
}

/* A message with made-up metadata and two body segments. */
static void fake_message(oa_ipc_message *m, oa_region *seg_region) {
  oa_ipc_message_init(m);
  m->type = OA_IPC_MSG_RECORD_BATCH;
  oa_bytes_append(&m->metadata, "METADATA", 8);
  m->segments = calloc(2, sizeof *m->segments);
  m->cap_segments = 2;
  m->n_segments = 2;
  m->segments[0].data = seg_region->data;
  m->segments[0].size = 3;
  m->segments[0].region = seg_region;
  oa_region_retain(seg_region);
  m->segments[1].data = (const uint8_t *)"\x00\x00\x00\x00\x00";
  m->segments[1].size = 5;
  m->body_length = 8;
}

OA_TEST(test_flight_data_bytes) {
  oa_error err_, *err = &err_;
  oa_region *seg = oa_region_alloc(3);
  memcpy(seg->data, "BOD", 3);
  oa_ipc_message m;
  fake_message(&m, seg);
  oa_flight_descriptor d;
  oa_flight_descriptor_path(&d, "spans");
  oa_flight_wire w;
  oa_flight_wire_init(&w);
  CHECK_OK(oa_flight_data_encode(&d, &m, "am", 2, &w, err), err);
  /* head slice, then the body segments referenced in place */
  CHECK_EQ_INT(w.n_slices, 3);
  CHECK(w.slices[1].data == seg->data);
  CHECK(w.slices[1].region == seg);
  CHECK_EQ_INT(atomic_load(&seg->refcount), 3); /* seg, message, wire */
  static const uint8_t want[] = {
      0x0a, 0x09, 0x08, 0x01, 0x1a, 0x05, 's', 'p', 'a', 'n', 's', /* 1 */
      0x12, 0x08, 'M',  'E',  'T',  'A',  'D', 'A', 'T', 'A',      /* 2 */
      0x1a, 0x02, 'a',  'm',                                       /* 3 */
      0xc2, 0x3e, 0x08, 'B',  'O',  'D',  0,   0,   0,   0,   0};  /* 1000 */
  oa_bytes flat;
  oa_bytes_init(&flat);
  CHECK_OK(oa_flight_wire_flatten(&w, &flat, err), err);
  CHECK(bytes_eq(flat.data, flat.size, want, sizeof want));
  CHECK_EQ_INT(w.size, (int64_t)sizeof want);

  oa_buffer in = exact(flat.data, flat.size);
  oa_flight_data fd;
  CHECK_OK(oa_flight_data_decode(&in, &fd, err), err);
  CHECK(fd.has_descriptor);
  CHECK(view_is(fd.descriptor.path[0], "spans"));
  CHECK(view_is(fd.data_header, "METADATA"));
  CHECK(view_is(fd.app_metadata, "am"));
  CHECK_EQ_INT(fd.body.size, 8);
  CHECK(fd.body.data == in.data + 28); /* a view, not a copy */
  CHECK(fd.body.region == in.region);
  /* the framing scan that aligns DoPut bodies finds the same place, from
   * the whole message or any prefix that reaches the body; -1 before it */
  CHECK_EQ_INT(oa_flight_data_body_offset(in.data, in.size), 28);
  CHECK_EQ_INT(oa_flight_data_body_offset(in.data, 28), 28);
  for (int64_t cut = 0; cut < 28; cut++)
    CHECK_EQ_INT(oa_flight_data_body_offset(in.data, cut), -1);

  /* truncations: only cuts at field boundaries decode */
  static const int64_t boundaries[] = {0, 11, 21, 25};
  for (int64_t cut = 0; cut < in.size; cut++) {
    oa_buffer c = exact(in.data, cut);
    int rc = oa_flight_data_decode(&c, &fd, err);
    bool boundary = false;
    for (size_t i = 0; i < sizeof boundaries / sizeof boundaries[0]; i++)
      boundary |= boundaries[i] == cut;
    if (boundary)
      CHECK_EQ_INT(rc, 0);
    else
      CHECK_EQ_INT(rc, EINVAL);
    oa_region_release(c.region);
  }

  /* an odd-sized body is padded to 8 bytes */
  m.segments[1].size = 2;
  CHECK_OK(oa_flight_data_encode(NULL, &m, NULL, 0, &w, err), err);
  flat.size = 0;
  CHECK_OK(oa_flight_wire_flatten(&w, &flat, err), err);
  static const uint8_t want2[] = {0x12, 0x08, 'M', 'E',  'T',  'A',  'D',
                                  'A',  'T',  'A', 0xc2, 0x3e, 0x08, 'B',
                                  'O',  'D',  0,   0,    0,    0,    0};
  CHECK(bytes_eq(flat.data, flat.size, want2, sizeof want2));

  oa_flight_wire_reset(&w);
  CHECK_EQ_INT(atomic_load(&seg->refcount), 2);
  oa_region_release(in.region);
  oa_bytes_reset(&flat);
  oa_ipc_message_reset(&m);
  oa_region_release(seg);
}

OA_TEST(test_flight_data_malformed) {
  oa_error err_, *err = &err_;
  oa_flight_data fd;
  static const struct {
    const char *name;
    uint8_t b[16];
    int n;
    const char *msg;
  } cases[] = {
      {"header as varint", {0x10, 0x05}, 2, "data_header"},
      {"body as varint", {0xc0, 0x3e, 0x05}, 3, "data_body"},
      {"descriptor as fixed32", {0x0d, 1, 2, 3, 4}, 5, "flight_descriptor"},
      {"length past end", {0x12, 0x7f, 0x00}, 3, "runs past"},
      {"huge length",
       {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
       11,
       "runs past"},
      {"varint overflow",
       {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
       11,
       "overflows"},
      {"field number 0", {0x02, 0x00}, 2, "field number 0"},
      {"start group", {0x0b}, 1, "wire type 3"},
      {"end group", {0x0c}, 1, "wire type 4"},
      {"wire type 7", {0x0f}, 1, "wire type 7"},
      {"truncated tag", {0xc2}, 1, "truncated"},
      {"fixed64 truncated", {0x09, 1, 2, 3}, 4, "truncated"},
      {"bad nested descriptor",
       {0x0a, 0x02, 0x1a, 0x05},
       4,
       "FlightDescriptor"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    oa_buffer in = exact(cases[i].b, cases[i].n);
    err->message[0] = 0;
    int rc = oa_flight_data_decode(&in, &fd, err);
    if (rc != EINVAL || !strstr(err->message, cases[i].msg)) {
      fprintf(stderr, "case %s: rc %d, message \"%s\" (want \"%s\")\n",
              cases[i].name, rc, err->message, cases[i].msg);
      CHECK(false);
    }
    oa_region_release(in.region);
  }
}

/* Encodes a real batch through the IPC encoder and FlightData, then decodes
 * the FlightData and the IPC message back (no copies on either side). */
typedef struct collect_ctx {
  oa_flight_wire wires[8];
  int n;
} collect_ctx;

static int collect(void *ctx, const oa_ipc_message *msg, oa_error *err) {
  collect_ctx *c = ctx;
  if (c->n == 8) return oa_error_set(err, E2BIG, "too many messages");
  oa_flight_wire_init(&c->wires[c->n]);
  return oa_flight_data_encode(NULL, msg, NULL, 0, &c->wires[c->n++], err);
}

OA_TEST(test_flight_data_ipc_roundtrip) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch batch;
  oa_batch_init(&batch);
  CHECK_OK(tu_random_batch(s, 50, &batch, err), err);
  oa_ipc_encoder *enc = NULL;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  collect_ctx c;
  c.n = 0;
  oa_ipc_message sm;
  oa_ipc_message_init(&sm);
  CHECK_OK(oa_ipc_encoder_schema(enc, &sm, err), err);
  CHECK_OK(collect(&c, &sm, err), err);
  oa_ipc_message_reset(&sm);
  CHECK_OK(oa_ipc_encoder_batch(enc, &batch, collect, &c, err), err);
  CHECK(c.n >= 3); /* schema, dictionaries, batch */

  oa_ipc_decoder *dec = NULL;
  CHECK_OK(oa_ipc_decoder_new(&dec, NULL, err), err);
  oa_batch got;
  oa_batch_init(&got);
  int n_batches = 0;
  for (int i = 0; i < c.n; i++) {
    oa_bytes flat;
    oa_bytes_init(&flat);
    CHECK_OK(oa_flight_wire_flatten(&c.wires[i], &flat, err), err);
    oa_buffer in;
    CHECK_OK(oa_bytes_finish(&flat, &in), (oa_error *)NULL);
    oa_flight_data fd;
    CHECK_OK(oa_flight_data_decode(&in, &fd, err), err);
    CHECK(!fd.has_descriptor);
    oa_ipc_msg_type type;
    oa_batch b;
    oa_batch_init(&b);
    CHECK_OK(oa_ipc_decoder_decode(dec, fd.data_header.data,
                                   fd.data_header.size, &fd.body, &type, &b,
                                   err),
             err);
    if (type == OA_IPC_MSG_RECORD_BATCH) {
      n_batches++;
      oa_batch_move(&got, &b);
    }
    oa_batch_reset(&b);
    oa_region_release(in.region); /* the batch keeps what it needs */
    oa_flight_wire_reset(&c.wires[i]);
  }
  CHECK_EQ_INT(n_batches, 1);
  CHECK(oa_batch_equals(&batch, &got, err));

  /* the FlightInfo schema bytes parse back to the same schema */
  oa_bytes sb;
  oa_bytes_init(&sb);
  CHECK_OK(oa_flight_schema_bytes(s, &sb, err), err);
  CHECK(sb.size > 8 && memcmp(sb.data, "\xff\xff\xff\xff", 4) == 0);
  oa_schema *back = NULL;
  CHECK_OK(oa_flight_schema_parse(sb.data, sb.size, &back, err), err);
  CHECK(back && oa_schema_equals(s, back, true, err));
  oa_schema_release(back);
  /* without the continuation marker too */
  CHECK_OK(oa_flight_schema_parse(sb.data + 4, sb.size - 4, &back, err), err);
  oa_schema_release(back);
  CHECK_FAILS(oa_flight_schema_parse(sb.data, 10, &back, err), EINVAL, err,
              "exceeds");

  oa_bytes_reset(&sb);
  oa_batch_reset(&got);
  oa_ipc_decoder_free(dec);
  oa_ipc_encoder_free(enc);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

/* Random byte mutations of real FlightData messages: decoding (FlightData,
 * then the IPC message) fails cleanly or succeeds, never crashes (ASan). */
OA_TEST(test_flight_data_mutations) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch batch;
  oa_batch_init(&batch);
  CHECK_OK(tu_random_batch(s, 20, &batch, err), err);
  oa_ipc_encoder *enc = NULL;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  collect_ctx c;
  c.n = 0;
  oa_ipc_message sm;
  oa_ipc_message_init(&sm);
  CHECK_OK(oa_ipc_encoder_schema(enc, &sm, err), err);
  CHECK_OK(collect(&c, &sm, err), err);
  oa_ipc_message_reset(&sm);
  CHECK_OK(oa_ipc_encoder_batch(enc, &batch, collect, &c, err), err);
  oa_bytes flat[8];
  for (int i = 0; i < c.n; i++) {
    oa_bytes_init(&flat[i]);
    CHECK_OK(oa_flight_wire_flatten(&c.wires[i], &flat[i], err), err);
    oa_flight_wire_reset(&c.wires[i]);
  }
  int ok = 0, refused = 0;
  for (int iter = 0; iter < 3000; iter++) {
    oa_ipc_read_options ro;
    oa_ipc_read_options_init(&ro);
    oa_ipc_decoder *dec = NULL;
    CHECK_OK(oa_ipc_decoder_new(&dec, &ro, err), err);
    int target = 1 + (int)(tu_rand() % (uint64_t)(c.n - 1));
    for (int i = 0; i < c.n; i++) {
      oa_buffer in = exact(flat[i].data, flat[i].size);
      if (i == target) {
        uint8_t *p = (uint8_t *)in.data;
        int flips = 1 + (int)(tu_rand() % 4);
        for (int k = 0; k < flips; k++)
          p[tu_rand() % (uint64_t)in.size] = (uint8_t)tu_rand();
      }
      oa_flight_data fd;
      int rc = oa_flight_data_decode(&in, &fd, err);
      if (rc == 0) {
        oa_ipc_msg_type type;
        oa_batch b;
        oa_batch_init(&b);
        rc =
            oa_ipc_decoder_decode(dec, fd.data_header.data, fd.data_header.size,
                                  &fd.body, &type, &b, err);
        oa_batch_reset(&b);
      }
      oa_region_release(in.region);
      if (i == target) {
        if (rc == 0)
          ok++;
        else
          refused++;
      }
      if (rc) {
        CHECK(rc == EINVAL || rc == ENOTSUP || rc == E2BIG);
        break;
      }
    }
    oa_ipc_decoder_free(dec);
  }
  CHECK(refused > 0);
  for (int i = 0; i < c.n; i++)
    oa_bytes_reset(&flat[i]);
  oa_ipc_encoder_free(enc);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(test_varint_encoding), OA_T(test_descriptor_bytes),
             OA_T(test_small_messages_bytes), OA_T(test_flight_info_bytes),
             OA_T(test_flight_data_bytes), OA_T(test_flight_data_malformed),
             OA_T(test_flight_data_ipc_roundtrip),
             OA_T(test_flight_data_mutations))
