/* libFuzzer target: the Arrow Flight message decoders (flight/proto.c) and
 * the DoPut path from FlightData to record batches.
 *
 * The first byte picks the message; the rest is the message's bytes:
 *   0 FlightDescriptor, 1 FlightInfo, 2 Ticket / Criteria / PutResult,
 *   3 Action, 4 HandshakeRequest, 5 schema bytes (GetSchema / FlightInfo),
 *   6 a DoPut stream: FlightData messages, each prefixed with a 2-byte
 *     little-endian length, decoded like the server does.
 * An accepted control message must encode and decode again to the same
 * fields. Every message is copied to a buffer of its exact size so that
 * AddressSanitizer sees any read past its end. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "flight/flight_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool view_eq(oa_flight_view a, oa_flight_view b) {
  return a.size == b.size &&
         (a.size == 0 || memcmp(a.data, b.data, (size_t)a.size) == 0);
}

static bool desc_eq(const oa_flight_descriptor *a,
                    const oa_flight_descriptor *b) {
  if (a->type != b->type || !view_eq(a->cmd, b->cmd) || a->n_path != b->n_path)
    return false;
  for (int32_t i = 0; i < a->n_path; i++)
    if (!view_eq(a->path[i], b->path[i])) return false;
  return true;
}

static bool endpoint_eq(const oa_flight_endpoint *a,
                        const oa_flight_endpoint *b) {
  if (!view_eq(a->ticket, b->ticket) || a->n_locations != b->n_locations ||
      a->has_expiration != b->has_expiration ||
      a->expiration_seconds != b->expiration_seconds ||
      a->expiration_nanos != b->expiration_nanos ||
      !view_eq(a->app_metadata, b->app_metadata))
    return false;
  for (int32_t i = 0; i < a->n_locations; i++)
    if (!view_eq(a->locations[i], b->locations[i])) return false;
  return true;
}

static bool info_eq(const oa_flight_info *a, const oa_flight_info *b) {
  if (!view_eq(a->schema, b->schema) ||
      a->has_descriptor != b->has_descriptor ||
      (a->has_descriptor && !desc_eq(&a->descriptor, &b->descriptor)) ||
      a->n_endpoints != b->n_endpoints ||
      a->total_records != b->total_records ||
      a->total_bytes != b->total_bytes || a->ordered != b->ordered ||
      !view_eq(a->app_metadata, b->app_metadata))
    return false;
  for (int32_t i = 0; i < a->n_endpoints; i++)
    if (!endpoint_eq(&a->endpoints[i], &b->endpoints[i])) return false;
  return true;
}

static void fuzz_descriptor(const uint8_t *p, int64_t n) {
  oa_flight_descriptor d, again;
  oa_error err;
  if (oa_flight_descriptor_decode(p, n, &d, &err) != 0) return;
  oa_bytes enc;
  oa_bytes_init(&enc);
  if (oa_flight_descriptor_encode(&d, &enc, &err) != 0) abort();
  if (oa_flight_descriptor_decode(enc.data, enc.size, &again, &err) != 0 ||
      !desc_eq(&d, &again))
    abort();
  oa_bytes_reset(&enc);
}

static void fuzz_info(const uint8_t *p, int64_t n) {
  /* two FlightInfos hold 16 endpoints of 8 locations each: not on the
   * stack of a fuzzer thread */
  oa_flight_info *info = malloc(2 * sizeof *info);
  if (!info) return;
  oa_error err;
  if (oa_flight_info_decode(p, n, &info[0], &err) == 0) {
    oa_bytes enc;
    oa_bytes_init(&enc);
    if (oa_flight_info_encode(&info[0], &enc, &err) != 0) abort();
    if (oa_flight_info_decode(enc.data, enc.size, &info[1], &err) != 0 ||
        !info_eq(&info[0], &info[1]))
      abort();
    oa_bytes_reset(&enc);
    /* the schema bytes are parsed by clients of GetFlightInfo */
    oa_schema *s = NULL;
    if (info[0].schema.size &&
        oa_flight_schema_parse(info[0].schema.data, info[0].schema.size, &s,
                               &err) == 0)
      oa_schema_release(s);
  }
  free(info);
}

static void fuzz_single(const uint8_t *p, int64_t n) {
  oa_flight_view v, again;
  oa_error err;
  if (oa_flight_single_bytes_decode(p, n, &v, "Ticket", &err) != 0) return;
  oa_bytes enc;
  oa_bytes_init(&enc);
  if (oa_flight_single_bytes_encode(v.data, v.size, &enc, &err) != 0) abort();
  if (oa_flight_single_bytes_decode(enc.data, enc.size, &again, "Ticket",
                                    &err) != 0 ||
      !view_eq(v, again))
    abort();
  oa_bytes_reset(&enc);
}

static void fuzz_action(const uint8_t *p, int64_t n) {
  oa_flight_action a, again;
  oa_error err;
  if (oa_flight_action_decode(p, n, &a, "Action", &err) != 0) return;
  oa_bytes enc;
  oa_bytes_init(&enc);
  if (oa_flight_action_encode(&a, &enc, &err) != 0) abort();
  if (oa_flight_action_decode(enc.data, enc.size, &again, "Action", &err) !=
          0 ||
      !view_eq(a.type, again.type) || !view_eq(a.body, again.body))
    abort();
  oa_bytes_reset(&enc);
}

static void fuzz_handshake(const uint8_t *p, int64_t n) {
  oa_flight_handshake h, again;
  oa_error err;
  if (oa_flight_handshake_decode(p, n, &h, &err) != 0) return;
  oa_bytes enc;
  oa_bytes_init(&enc);
  if (oa_flight_handshake_encode(&h, &enc, &err) != 0) abort();
  if (oa_flight_handshake_decode(enc.data, enc.size, &again, &err) != 0 ||
      h.protocol_version != again.protocol_version ||
      !view_eq(h.payload, again.payload))
    abort();
  oa_bytes_reset(&enc);
}

static void fuzz_schema(const uint8_t *p, int64_t n) {
  oa_schema *s = NULL;
  oa_error err;
  if (oa_flight_schema_parse(p, n, &s, &err) != 0) return;
  /* what we parse we can write back and parse again */
  oa_bytes enc;
  oa_bytes_init(&enc);
  if (oa_flight_schema_bytes(s, &enc, &err) != 0) abort();
  oa_schema *again = NULL;
  if (oa_flight_schema_parse(enc.data, enc.size, &again, &err) != 0) abort();
  oa_schema_release(again);
  oa_bytes_reset(&enc);
  oa_schema_release(s);
}

/* One DoPut message, as the server handles it: FlightData decoded over the
 * message's region, a misaligned body copied, the IPC message decoded. */
static int put_one(oa_ipc_decoder *dec, const uint8_t *p, int64_t n) {
  oa_region *msg = oa_region_alloc(n);
  if (!msg) return ENOMEM;
  if (n) memcpy(msg->data, p, (size_t)n);
  oa_buffer in = {msg->data, n, msg};
  oa_flight_data fd;
  oa_error err;
  int rc = oa_flight_data_decode(&in, &fd, &err);
  int64_t off = oa_flight_data_body_offset(msg->data, n);
  if (off < -1 || off > n) abort();
  if (rc == 0 && fd.data_header.size > 0) {
    oa_region *aligned = NULL;
    if (fd.body.size > 0 && ((uintptr_t)fd.body.data & 7) != 0) {
      aligned = oa_region_alloc(fd.body.size);
      if (!aligned) abort();
      memcpy(aligned->data, fd.body.data, (size_t)fd.body.size);
      fd.body.data = aligned->data;
      fd.body.region = aligned;
    }
    oa_batch b;
    oa_batch_init(&b);
    oa_ipc_msg_type type = OA_IPC_MSG_NONE;
    rc = oa_ipc_decoder_decode(dec, fd.data_header.data, fd.data_header.size,
                               &fd.body, &type, &b, &err);
    if (rc == 0 && type == OA_IPC_MSG_RECORD_BATCH) oa_fuzz_walk(&b);
    oa_batch_reset(&b);
    if (aligned) oa_region_release(aligned);
  }
  oa_region_release(msg);
  return rc;
}

static void fuzz_put(const uint8_t *p, int64_t n) {
  oa_ipc_read_options opt;
  oa_fuzz_read_options(&opt);
  oa_ipc_decoder *dec = NULL;
  oa_error err;
  if (oa_ipc_decoder_new(&dec, &opt, &err) != 0) abort();
  while (n > 0) {
    int64_t len = n >= 2 ? (int64_t)(p[0] | p[1] << 8) : 0;
    int64_t hdr = n >= 2 ? 2 : n;
    p += hdr;
    n -= hdr;
    if (len > n) len = n;
    if (put_one(dec, p, len) != 0) break; /* the server ends the call */
    p += len;
    n -= len;
  }
  oa_ipc_decoder_free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int kind = data[0] % 7;
  int64_t n = (int64_t)size - 1;
  uint8_t *copy = malloc(n ? (size_t)n : 1);
  if (!copy) return 0;
  if (n) memcpy(copy, data + 1, (size_t)n);
  switch (kind) {
  case 0:
    fuzz_descriptor(copy, n);
    break;
  case 1:
    fuzz_info(copy, n);
    break;
  case 2:
    fuzz_single(copy, n);
    break;
  case 3:
    fuzz_action(copy, n);
    break;
  case 4:
    fuzz_handshake(copy, n);
    break;
  case 5:
    fuzz_schema(copy, n);
    break;
  default:
    fuzz_put(copy, n);
    break;
  }
  free(copy);
  return 0;
}
