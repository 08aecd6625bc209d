/* Arrow Flight protocol messages (arrow.flight.protocol, Flight.proto):
 * hand-written protobuf encoders and decoders.
 *
 * Decoders never copy: byte and string fields come back as views into the
 * input, which must outlive the decoded struct. Repeated fields are held in
 * fixed arrays; more elements than fit is refused (EINVAL) rather than
 * allocated, so decoding untrusted input never allocates.
 *
 * FlightData is encoded without copying the IPC body: oa_flight_data_encode
 * yields a list of slices, a small head (tags, lengths, data_header) followed
 * by the body segments of the oa_ipc_message, each retaining its region. */
#ifndef OA_FLIGHT_PROTO_H
#define OA_FLIGHT_PROTO_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "otlparrow/ipc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the fixed arrays of repeated fields. */
#define OA_FLIGHT_MAX_PATH 32
#define OA_FLIGHT_MAX_ENDPOINTS 16
#define OA_FLIGHT_MAX_LOCATIONS 8

/* Field numbers of Flight.proto. */
enum {
  OA_FLIGHT_DATA_DESCRIPTOR = 1,
  OA_FLIGHT_DATA_HEADER = 2,
  OA_FLIGHT_DATA_APP_METADATA = 3,
  OA_FLIGHT_DATA_BODY = 1000
};

typedef struct oa_flight_view {
  const uint8_t *data;
  int64_t size;
} oa_flight_view;

typedef enum oa_flight_descriptor_type {
  OA_FLIGHT_DESCRIPTOR_UNKNOWN = 0,
  OA_FLIGHT_DESCRIPTOR_PATH = 1,
  OA_FLIGHT_DESCRIPTOR_CMD = 2
} oa_flight_descriptor_type;

/* FlightDescriptor { DescriptorType type = 1; bytes cmd = 2;
 *                    repeated string path = 3; } */
typedef struct oa_flight_descriptor {
  int32_t type;
  oa_flight_view cmd;
  int32_t n_path;
  oa_flight_view path[OA_FLIGHT_MAX_PATH];
} oa_flight_descriptor;

/* FlightData { FlightDescriptor flight_descriptor = 1; bytes data_header = 2;
 *              bytes app_metadata = 3; bytes data_body = 1000; }
 * body borrows the input buffer (same region, not retained). */
typedef struct oa_flight_data {
  bool has_descriptor;
  oa_flight_descriptor descriptor;
  oa_flight_view data_header;
  oa_flight_view app_metadata;
  oa_buffer body;
} oa_flight_data;

/* FlightEndpoint { Ticket ticket = 1; repeated Location location = 2;
 *   google.protobuf.Timestamp expiration_time = 3; bytes app_metadata = 4; }
 * Ticket { bytes ticket = 1; }  Location { string uri = 1; }
 * Timestamp { int64 seconds = 1; int32 nanos = 2; } */
typedef struct oa_flight_endpoint {
  oa_flight_view ticket;
  int32_t n_locations;
  oa_flight_view locations[OA_FLIGHT_MAX_LOCATIONS];
  bool has_expiration;
  int64_t expiration_seconds;
  int32_t expiration_nanos;
  oa_flight_view app_metadata;
} oa_flight_endpoint;

/* FlightInfo { bytes schema = 1; FlightDescriptor flight_descriptor = 2;
 *   repeated FlightEndpoint endpoint = 3; int64 total_records = 4;
 *   int64 total_bytes = 5; bool ordered = 6; bytes app_metadata = 7; }
 * schema: an encapsulated IPC schema message (continuation, length,
 * flatbuffer). */
typedef struct oa_flight_info {
  oa_flight_view schema;
  bool has_descriptor;
  oa_flight_descriptor descriptor;
  int32_t n_endpoints;
  oa_flight_endpoint endpoints[OA_FLIGHT_MAX_ENDPOINTS];
  int64_t total_records;
  int64_t total_bytes;
  bool ordered;
  oa_flight_view app_metadata;
} oa_flight_info;

/* Action { string type = 1; bytes body = 2; }
 * ActionType { string type = 1; string description = 2; } (same shape)
 * HandshakeRequest/Response { uint64 protocol_version = 1; bytes payload = 2;}
 */
typedef struct oa_flight_action {
  oa_flight_view type;
  oa_flight_view body;
} oa_flight_action;

typedef struct oa_flight_handshake {
  uint64_t protocol_version;
  oa_flight_view payload;
} oa_flight_handshake;

/* ------------------------------------------------------------ low level */

/* Appends a varint / a tag / a length-delimited field / a varint field. */
int oa_pb_put_varint(oa_bytes *out, uint64_t v);
int oa_pb_put_bytes_field(oa_bytes *out, uint32_t field, const void *data,
                          int64_t len);
int oa_pb_put_varint_field(oa_bytes *out, uint32_t field, uint64_t v);
/* Bytes a varint of v takes. */
int oa_pb_varint_size(uint64_t v);

/* A cursor over one message's fields. */
typedef struct oa_pb_reader {
  const uint8_t *p, *end, *start;
} oa_pb_reader;

typedef struct oa_pb_field {
  uint32_t number;
  uint32_t wire;        /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
  uint64_t value;       /* varint and fixed values */
  oa_flight_view bytes; /* length-delimited payload */
  int64_t offset;       /* of the payload (length-delimited) in the input */
} oa_pb_field;

void oa_pb_reader_init(oa_pb_reader *r, const uint8_t *data, int64_t len);
/* Reads the next field into *f (*more = true), or sets *more = false at the
 * end. EINVAL on malformed input; the message names `what` and the offset.
 * Groups (wire types 3, 4), field number 0 and lengths past the end are
 * malformed. */
int oa_pb_next(oa_pb_reader *r, oa_pb_field *f, bool *more, const char *what,
               oa_error *err);

/* ------------------------------------------------------------- messages */

int oa_flight_descriptor_decode(const uint8_t *data, int64_t len,
                                oa_flight_descriptor *out, oa_error *err);
/* Appends the message bytes (without an enclosing tag). */
int oa_flight_descriptor_encode(const oa_flight_descriptor *d, oa_bytes *out,
                                oa_error *err);
/* A PATH descriptor with one element (views name). */
void oa_flight_descriptor_path(oa_flight_descriptor *d, const char *name);

int oa_flight_data_decode(const oa_buffer *in, oa_flight_data *out,
                          oa_error *err);

/* The slices of one encoded message; each retains its region (NULL for
 * static data). */
typedef struct oa_flight_wire {
  oa_buffer *slices;
  int64_t n_slices, cap_slices;
  int64_t size; /* total bytes */
} oa_flight_wire;

void oa_flight_wire_init(oa_flight_wire *w);
void oa_flight_wire_reset(oa_flight_wire *w);
/* Concatenates the slices (copies) into out (appended). */
int oa_flight_wire_flatten(const oa_flight_wire *w, oa_bytes *out,
                           oa_error *err);

/* Encodes a FlightData for msg (descriptor and app_metadata optional: NULL /
 * 0) into w, which is reset first. The body segments are referenced, not
 * copied. msg may be NULL (metadata-only message). */
int oa_flight_data_encode(const oa_flight_descriptor *desc,
                          const oa_ipc_message *msg, const void *app_metadata,
                          int64_t app_len, oa_flight_wire *w, oa_error *err);

int oa_flight_info_decode(const uint8_t *data, int64_t len, oa_flight_info *out,
                          oa_error *err);
int oa_flight_info_encode(const oa_flight_info *info, oa_bytes *out,
                          oa_error *err);

/* Messages made of a single bytes field 1 (Ticket, PutResult, SchemaResult,
 * Criteria, Result, Location): the field's view. */
int oa_flight_single_bytes_decode(const uint8_t *data, int64_t len,
                                  oa_flight_view *out, const char *what,
                                  oa_error *err);
int oa_flight_single_bytes_encode(const void *data, int64_t len, oa_bytes *out,
                                  oa_error *err);

/* Action and ActionType (string/bytes fields 1 and 2). */
int oa_flight_action_decode(const uint8_t *data, int64_t len,
                            oa_flight_action *out, const char *what,
                            oa_error *err);
int oa_flight_action_encode(const oa_flight_action *a, oa_bytes *out,
                            oa_error *err);

int oa_flight_handshake_decode(const uint8_t *data, int64_t len,
                               oa_flight_handshake *out, oa_error *err);
int oa_flight_handshake_encode(const oa_flight_handshake *h, oa_bytes *out,
                               oa_error *err);

/* The encapsulated IPC schema message of schema (0xFFFFFFFF, length,
 * flatbuffer), appended to out. */
int oa_flight_schema_bytes(oa_schema *schema, oa_bytes *out, oa_error *err);
/* Parses an encapsulated schema message (with or without the continuation
 * marker) into a new schema reference. */
int oa_flight_schema_parse(const uint8_t *data, int64_t len, oa_schema **out,
                           oa_error *err);

#ifdef __cplusplus
}
#endif

/* Where data_body's bytes start in a FlightData prefix (e.g. the first
 * slice gRPC hands over), or -1 if not within it. Only the framing is read;
 * oa_flight_data_decode checks everything. */
int64_t oa_flight_data_body_offset(const uint8_t *p, int64_t len);

#endif
