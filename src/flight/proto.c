/* Arrow Flight protobuf messages, encoded and decoded by hand (see
 * flight_proto.h). Decoding validates every tag, wire type and length against
 * the input; nothing is read past the end and nothing is allocated. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "flight/flight_proto.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static const uint8_t zeros8[8];

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "out of memory encoding a Flight message");
}

/* ------------------------------------------------------------ low level */

int oa_pb_varint_size(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int oa_pb_put_varint(oa_bytes *out, uint64_t v) {
  uint8_t b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  return oa_bytes_append(out, b, n);
}

static int put_tag(oa_bytes *out, uint32_t field, uint32_t wire) {
  return oa_pb_put_varint(out, ((uint64_t)field << 3) | wire);
}

int oa_pb_put_bytes_field(oa_bytes *out, uint32_t field, const void *data,
                          int64_t len) {
  if (put_tag(out, field, WT_LEN) || oa_pb_put_varint(out, (uint64_t)len) ||
      oa_bytes_append(out, data, len))
    return ENOMEM;
  return 0;
}

int oa_pb_put_varint_field(oa_bytes *out, uint32_t field, uint64_t v) {
  if (put_tag(out, field, WT_VARINT) || oa_pb_put_varint(out, v)) return ENOMEM;
  return 0;
}

void oa_pb_reader_init(oa_pb_reader *r, const uint8_t *data, int64_t len) {
  /* an empty message may come as NULL (e.g. an empty oa_bytes): NULL + 0 is
   * undefined behaviour */
  if (!data) {
    data = zeros8;
    len = 0;
  }
  r->start = data;
  r->p = data;
  r->end = data + (len > 0 ? len : 0);
}

static int get_varint(oa_pb_reader *r, uint64_t *v, const char *what,
                      const char *which, oa_error *err) {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end)
      return oa_error_set(err, EINVAL, "%s: %s varint truncated at offset %lld",
                          what, which, (long long)(r->p - r->start));
    uint8_t b = *r->p++;
    if (shift == 63 && b > 1)
      return oa_error_set(err, EINVAL,
                          "%s: %s varint overflows 64 bits at offset %lld",
                          what, which, (long long)(r->p - 1 - r->start));
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return oa_error_set(err, EINVAL, "%s: %s varint longer than 10 bytes", what,
                      which);
}

int oa_pb_next(oa_pb_reader *r, oa_pb_field *f, bool *more, const char *what,
               oa_error *err) {
  *more = false;
  if (r->p >= r->end) return 0;
  int64_t at = r->p - r->start;
  uint64_t key = 0; /* get_varint sets it unless it fails */
  OA_RETURN_NOT_OK(get_varint(r, &key, what, "tag", err));
  if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
    return oa_error_set(err, EINVAL,
                        "%s: invalid field number %llu at offset "
                        "%lld",
                        what, (unsigned long long)(key >> 3), (long long)at);
  memset(f, 0, sizeof *f);
  f->number = (uint32_t)(key >> 3);
  f->wire = (uint32_t)(key & 7);
  switch (f->wire) {
  case WT_VARINT:
    OA_RETURN_NOT_OK(get_varint(r, &f->value, what, "field value", err));
    break;
  case WT_I64:
  case WT_I32: {
    int64_t n = f->wire == WT_I64 ? 8 : 4;
    if (r->end - r->p < n)
      return oa_error_set(err, EINVAL,
                          "%s: field %u: fixed%d value truncated at offset "
                          "%lld",
                          what, f->number, (int)(n * 8), (long long)at);
    uint64_t v = 0;
    for (int64_t i = 0; i < n; i++)
      v |= (uint64_t)r->p[i] << (8 * i);
    f->value = v;
    r->p += n;
    break;
  }
  case WT_LEN: {
    uint64_t len = 0;
    OA_RETURN_NOT_OK(get_varint(r, &len, what, "length", err));
    if (len > (uint64_t)(r->end - r->p))
      return oa_error_set(err, EINVAL,
                          "%s: field %u: length %llu at offset %lld runs past "
                          "the end (%lld bytes left)",
                          what, f->number, (unsigned long long)len,
                          (long long)at, (long long)(r->end - r->p));
    f->bytes.data = r->p;
    f->bytes.size = (int64_t)len;
    f->offset = r->p - r->start;
    r->p += len;
    break;
  }
  default:
    return oa_error_set(err, EINVAL,
                        "%s: field %u: unsupported wire type %u at offset %lld",
                        what, f->number, f->wire, (long long)at);
  }
  *more = true;
  return 0;
}

static int want_wire(const oa_pb_field *f, uint32_t wire, const char *what,
                     const char *name, oa_error *err) {
  if (f->wire == wire) return 0;
  return oa_error_set(err, EINVAL,
                      "%s: field %u (%s) has wire type %u, "
                      "expected %u",
                      what, f->number, name, f->wire, wire);
}

static int check_utf8(oa_flight_view v, const char *what, const char *name,
                      oa_error *err) {
  int64_t bad = 0;
  if (!oa_utf8_validate(v.data, v.size, &bad))
    return oa_error_set(err, EINVAL, "%s: %s is not valid UTF-8 (byte %lld)",
                        what, name, (long long)bad);
  return 0;
}

/* One loop decodes every small Flight message: a table says, per field
 * number, its wire type, how to check it and where it goes in the output
 * struct. Unknown fields are skipped, as protobuf requires. */
typedef int (*pb_sub_fn)(oa_flight_view v, void *out, oa_error *err);

typedef enum pb_kind {
  PB_BYTES,   /* oa_flight_view */
  PB_STRING,  /* oa_flight_view, UTF-8 checked */
  PB_STRINGS, /* repeated string: oa_flight_view[max] + int32_t count */
  PB_U64,
  PB_I64,
  PB_I32,
  PB_BOOL,
  PB_SUB /* length-delimited, handed to sub(payload, out) */
} pb_kind;

typedef struct pb_field_desc {
  uint32_t number;
  pb_kind kind;
  const char *name;
  size_t offset;       /* of the value in the output struct */
  size_t count_offset; /* PB_STRINGS: of the int32_t count */
  int32_t max;         /* PB_STRINGS: capacity */
  pb_sub_fn sub;
} pb_field_desc;

static int decode_fields(const uint8_t *data, int64_t len, const char *what,
                         const pb_field_desc *fields, size_t n_fields,
                         void *out, oa_error *err) {
  char *base = out;
  oa_pb_reader r;
  oa_pb_reader_init(&r, data, len);
  oa_pb_field f;
  bool more;
  for (;;) {
    OA_RETURN_NOT_OK(oa_pb_next(&r, &f, &more, what, err));
    if (!more) break;
    const pb_field_desc *d = NULL;
    for (size_t i = 0; i < n_fields && !d; i++)
      if (fields[i].number == f.number) d = &fields[i];
    if (!d) continue;
    bool varint = d->kind >= PB_U64 && d->kind <= PB_BOOL;
    OA_RETURN_NOT_OK(
        want_wire(&f, varint ? WT_VARINT : WT_LEN, what, d->name, err));
    void *dst = base + d->offset;
    switch (d->kind) {
    case PB_STRING:
      OA_RETURN_NOT_OK(check_utf8(f.bytes, what, d->name, err));
      /* fall through */
    case PB_BYTES:
      memcpy(dst, &f.bytes, sizeof f.bytes);
      break;
    case PB_STRINGS: {
      int32_t *count = (int32_t *)(void *)(base + d->count_offset);
      if (*count == d->max)
        return oa_error_set(err, EINVAL, "%s: more than %d %s elements", what,
                            d->max, d->name);
      OA_RETURN_NOT_OK(check_utf8(f.bytes, what, d->name, err));
      memcpy((oa_flight_view *)dst + *count, &f.bytes, sizeof f.bytes);
      (*count)++;
      break;
    }
    case PB_U64:
      memcpy(dst, &f.value, sizeof f.value);
      break;
    case PB_I64: {
      int64_t v = (int64_t)f.value;
      memcpy(dst, &v, sizeof v);
      break;
    }
    case PB_I32: {
      int32_t v = (int32_t)f.value;
      memcpy(dst, &v, sizeof v);
      break;
    }
    case PB_BOOL: {
      bool v = f.value != 0;
      memcpy(dst, &v, sizeof v);
      break;
    }
    case PB_SUB:
      OA_RETURN_NOT_OK(d->sub(f.bytes, out, err));
      break;
    }
  }
  return 0;
}

#define PB_FIELD(num, kind, type, member)                                      \
  { num, kind, #member, offsetof(type, member), 0, 0, NULL }
#define PB_REPEATED(num, type, member, count, cap)                             \
  {                                                                            \
    num, PB_STRINGS, #member, offsetof(type, member), offsetof(type, count),   \
        cap, NULL                                                              \
  }
#define PB_MESSAGE(num, name, fn)                                              \
  { num, PB_SUB, name, 0, 0, 0, fn }
#define PB_DECODE(data, len, what, table, out, err)                            \
  decode_fields(data, len, what, table, sizeof table / sizeof table[0], out,   \
                err)

/* --------------------------------------------------------- descriptor */

static const pb_field_desc descriptor_fields[] = {
    PB_FIELD(1, PB_I32, oa_flight_descriptor, type),
    PB_FIELD(2, PB_BYTES, oa_flight_descriptor, cmd),
    PB_REPEATED(3, oa_flight_descriptor, path, n_path, OA_FLIGHT_MAX_PATH),
};

int oa_flight_descriptor_decode(const uint8_t *data, int64_t len,
                                oa_flight_descriptor *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  return PB_DECODE(data, len, "FlightDescriptor", descriptor_fields, out, err);
}

int oa_flight_descriptor_encode(const oa_flight_descriptor *d, oa_bytes *out,
                                oa_error *err) {
  if (d->type && oa_pb_put_varint_field(out, 1, (uint64_t)(int64_t)d->type))
    return oom(err);
  if (d->cmd.size && oa_pb_put_bytes_field(out, 2, d->cmd.data, d->cmd.size))
    return oom(err);
  for (int32_t i = 0; i < d->n_path; i++)
    if (oa_pb_put_bytes_field(out, 3, d->path[i].data, d->path[i].size))
      return oom(err);
  return 0;
}

void oa_flight_descriptor_path(oa_flight_descriptor *d, const char *name) {
  memset(d, 0, sizeof *d);
  d->type = OA_FLIGHT_DESCRIPTOR_PATH;
  d->n_path = 1;
  d->path[0].data = (const uint8_t *)name;
  d->path[0].size = (int64_t)strlen(name);
}

/* Encodes a nested message with the tag of field: the message is written
 * after a reserved length and the length is fixed up (shifting when the
 * varint takes more than one byte). */
typedef int (*encode_fn)(const void *msg, oa_bytes *out, oa_error *err);

static int put_message_field(oa_bytes *out, uint32_t field, encode_fn fn,
                             const void *msg, oa_error *err) {
  oa_bytes tmp;
  oa_bytes_init(&tmp);
  int rc = fn(msg, &tmp, err);
  if (rc == 0 && oa_pb_put_bytes_field(out, field, tmp.data, tmp.size))
    rc = oom(err);
  oa_bytes_reset(&tmp);
  return rc;
}

static int encode_descriptor_fn(const void *msg, oa_bytes *out, oa_error *err) {
  return oa_flight_descriptor_encode(msg, out, err);
}

/* -------------------------------------------------------- FlightData */

int oa_flight_data_decode(const oa_buffer *in, oa_flight_data *out,
                          oa_error *err) {
  static const char what[] = "FlightData";
  memset(out, 0, sizeof *out);
  oa_pb_reader r;
  oa_pb_reader_init(&r, in->data, in->size);
  oa_pb_field f;
  bool more;
  for (;;) {
    OA_RETURN_NOT_OK(oa_pb_next(&r, &f, &more, what, err));
    if (!more) break;
    switch (f.number) {
    case OA_FLIGHT_DATA_DESCRIPTOR:
      OA_RETURN_NOT_OK(want_wire(&f, WT_LEN, what, "flight_descriptor", err));
      OA_RETURN_NOT_OK(oa_flight_descriptor_decode(f.bytes.data, f.bytes.size,
                                                   &out->descriptor, err));
      out->has_descriptor = true;
      break;
    case OA_FLIGHT_DATA_HEADER:
      OA_RETURN_NOT_OK(want_wire(&f, WT_LEN, what, "data_header", err));
      out->data_header = f.bytes;
      break;
    case OA_FLIGHT_DATA_APP_METADATA:
      OA_RETURN_NOT_OK(want_wire(&f, WT_LEN, what, "app_metadata", err));
      out->app_metadata = f.bytes;
      break;
    case OA_FLIGHT_DATA_BODY:
      OA_RETURN_NOT_OK(want_wire(&f, WT_LEN, what, "data_body", err));
      out->body.data = f.bytes.data;
      out->body.size = f.bytes.size;
      out->body.region = in->region;
      break;
    default:
      break;
    }
  }
  return 0;
}

void oa_flight_wire_init(oa_flight_wire *w) { memset(w, 0, sizeof *w); }

void oa_flight_wire_reset(oa_flight_wire *w) {
  for (int64_t i = 0; i < w->n_slices; i++)
    oa_region_release(w->slices[i].region);
  free(w->slices);
  memset(w, 0, sizeof *w);
}

static int wire_add(oa_flight_wire *w, const uint8_t *data, int64_t size,
                    oa_region *region, oa_error *err) {
  if (size == 0) return 0;
  if (w->n_slices == w->cap_slices) {
    int64_t cap = w->cap_slices ? w->cap_slices * 2 : 16;
    oa_buffer *s = realloc(w->slices, (size_t)cap * sizeof *s);
    if (!s) return oom(err);
    w->slices = s;
    w->cap_slices = cap;
  }
  oa_buffer *b = &w->slices[w->n_slices++];
  b->data = data;
  b->size = size;
  b->region = region;
  if (region) oa_region_retain(region);
  w->size += size;
  return 0;
}

int oa_flight_wire_flatten(const oa_flight_wire *w, oa_bytes *out,
                           oa_error *err) {
  if (oa_bytes_reserve(out, w->size)) return oom(err);
  for (int64_t i = 0; i < w->n_slices; i++)
    oa_bytes_append(out, w->slices[i].data, w->slices[i].size);
  return 0;
}

int oa_flight_data_encode(const oa_flight_descriptor *desc,
                          const oa_ipc_message *msg, const void *app_metadata,
                          int64_t app_len, oa_flight_wire *w, oa_error *err) {
  oa_flight_wire_reset(w);
  oa_bytes head;
  oa_bytes_init(&head);
  int rc = 0;
  if (desc)
    OA_GOTO_NOT_OK(rc,
                   put_message_field(&head, OA_FLIGHT_DATA_DESCRIPTOR,
                                     encode_descriptor_fn, desc, err),
                   fail);
  if (msg && msg->metadata.size &&
      oa_pb_put_bytes_field(&head, OA_FLIGHT_DATA_HEADER, msg->metadata.data,
                            msg->metadata.size)) {
    rc = oom(err);
    goto fail;
  }
  if (app_len && oa_pb_put_bytes_field(&head, OA_FLIGHT_DATA_APP_METADATA,
                                       app_metadata, app_len)) {
    rc = oom(err);
    goto fail;
  }
  /* The body must be a multiple of 8 bytes; segments normally are, but pad
   * whatever a message lacks rather than trust it. */
  int64_t body = 0, pad = 0;
  if (msg) {
    for (int64_t i = 0; i < msg->n_segments; i++)
      body += msg->segments[i].size;
    pad = ((body + 7) & ~(int64_t)7) - body;
  }
  if (body + pad > 0 && (put_tag(&head, OA_FLIGHT_DATA_BODY, WT_LEN) ||
                         oa_pb_put_varint(&head, (uint64_t)(body + pad)))) {
    rc = oom(err);
    goto fail;
  }
  oa_buffer hb = {0};
  if (oa_bytes_finish(&head, &hb)) {
    rc = oom(err);
    goto fail;
  }
  rc = wire_add(w, hb.data, hb.size, hb.region, err);
  oa_region_release(hb.region); /* the wire holds its own reference */
  if (rc) goto fail;
  if (msg) {
    for (int64_t i = 0; i < msg->n_segments; i++)
      OA_GOTO_NOT_OK(rc,
                     wire_add(w, msg->segments[i].data, msg->segments[i].size,
                              msg->segments[i].region, err),
                     fail);
    OA_GOTO_NOT_OK(rc, wire_add(w, zeros8, pad, NULL, err), fail);
  }
  return 0;
fail:
  oa_bytes_reset(&head);
  oa_flight_wire_reset(w);
  return rc;
}

/* --------------------------------------------------------- FlightInfo */

static const pb_field_desc timestamp_fields[] = {
    PB_FIELD(1, PB_I64, oa_flight_endpoint, expiration_seconds),
    PB_FIELD(2, PB_I32, oa_flight_endpoint, expiration_nanos),
};

static int decode_ticket(oa_flight_view v, void *out, oa_error *err) {
  oa_flight_endpoint *e = out;
  return oa_flight_single_bytes_decode(v.data, v.size, &e->ticket, "Ticket",
                                       err);
}

static int decode_location(oa_flight_view v, void *out, oa_error *err) {
  oa_flight_endpoint *e = out;
  if (e->n_locations == OA_FLIGHT_MAX_LOCATIONS)
    return oa_error_set(err, EINVAL, "FlightEndpoint: more than %d locations",
                        OA_FLIGHT_MAX_LOCATIONS);
  oa_flight_view uri;
  OA_RETURN_NOT_OK(
      oa_flight_single_bytes_decode(v.data, v.size, &uri, "Location", err));
  OA_RETURN_NOT_OK(check_utf8(uri, "Location", "uri", err));
  e->locations[e->n_locations++] = uri;
  return 0;
}

static int decode_timestamp(oa_flight_view v, void *out, oa_error *err) {
  oa_flight_endpoint *e = out;
  e->has_expiration = true;
  return PB_DECODE(v.data, v.size, "FlightEndpoint.expiration_time",
                   timestamp_fields, e, err);
}

static const pb_field_desc endpoint_fields[] = {
    PB_MESSAGE(1, "ticket", decode_ticket),
    PB_MESSAGE(2, "location", decode_location),
    PB_MESSAGE(3, "expiration_time", decode_timestamp),
    PB_FIELD(4, PB_BYTES, oa_flight_endpoint, app_metadata),
};

static int decode_info_descriptor(oa_flight_view v, void *out, oa_error *err) {
  oa_flight_info *info = out;
  info->has_descriptor = true;
  return oa_flight_descriptor_decode(v.data, v.size, &info->descriptor, err);
}

static int decode_info_endpoint(oa_flight_view v, void *out, oa_error *err) {
  oa_flight_info *info = out;
  if (info->n_endpoints == OA_FLIGHT_MAX_ENDPOINTS)
    return oa_error_set(err, EINVAL, "FlightInfo: more than %d endpoints",
                        OA_FLIGHT_MAX_ENDPOINTS);
  oa_flight_endpoint *e = &info->endpoints[info->n_endpoints];
  memset(e, 0, sizeof *e);
  OA_RETURN_NOT_OK(
      PB_DECODE(v.data, v.size, "FlightEndpoint", endpoint_fields, e, err));
  info->n_endpoints++;
  return 0;
}

static const pb_field_desc info_fields[] = {
    PB_FIELD(1, PB_BYTES, oa_flight_info, schema),
    PB_MESSAGE(2, "flight_descriptor", decode_info_descriptor),
    PB_MESSAGE(3, "endpoint", decode_info_endpoint),
    PB_FIELD(4, PB_I64, oa_flight_info, total_records),
    PB_FIELD(5, PB_I64, oa_flight_info, total_bytes),
    PB_FIELD(6, PB_BOOL, oa_flight_info, ordered),
    PB_FIELD(7, PB_BYTES, oa_flight_info, app_metadata),
};

int oa_flight_info_decode(const uint8_t *data, int64_t len, oa_flight_info *out,
                          oa_error *err) {
  memset(out, 0, sizeof *out);
  return PB_DECODE(data, len, "FlightInfo", info_fields, out, err);
}

static int encode_endpoint_fn(const void *msg, oa_bytes *out, oa_error *err) {
  const oa_flight_endpoint *e = msg;
  oa_bytes tmp;
  oa_bytes_init(&tmp);
  int rc = 0;
  /* Ticket is a message: field 1 inside field 1. */
  if (oa_flight_single_bytes_encode(e->ticket.data, e->ticket.size, &tmp,
                                    err) ||
      oa_pb_put_bytes_field(out, 1, tmp.data, tmp.size))
    rc = oom(err);
  for (int32_t i = 0; rc == 0 && i < e->n_locations; i++) {
    tmp.size = 0;
    if (oa_flight_single_bytes_encode(e->locations[i].data,
                                      e->locations[i].size, &tmp, err) ||
        oa_pb_put_bytes_field(out, 2, tmp.data, tmp.size))
      rc = oom(err);
  }
  if (rc == 0 && e->has_expiration) {
    tmp.size = 0;
    if ((e->expiration_seconds &&
         oa_pb_put_varint_field(&tmp, 1, (uint64_t)e->expiration_seconds)) ||
        (e->expiration_nanos &&
         oa_pb_put_varint_field(&tmp, 2,
                                (uint64_t)(int64_t)e->expiration_nanos)) ||
        oa_pb_put_bytes_field(out, 3, tmp.data, tmp.size))
      rc = oom(err);
  }
  if (rc == 0 && e->app_metadata.size &&
      oa_pb_put_bytes_field(out, 4, e->app_metadata.data, e->app_metadata.size))
    rc = oom(err);
  oa_bytes_reset(&tmp);
  return rc;
}

int oa_flight_info_encode(const oa_flight_info *info, oa_bytes *out,
                          oa_error *err) {
  if (info->schema.size &&
      oa_pb_put_bytes_field(out, 1, info->schema.data, info->schema.size))
    return oom(err);
  if (info->has_descriptor)
    OA_RETURN_NOT_OK(put_message_field(out, 2, encode_descriptor_fn,
                                       &info->descriptor, err));
  for (int32_t i = 0; i < info->n_endpoints; i++)
    OA_RETURN_NOT_OK(put_message_field(out, 3, encode_endpoint_fn,
                                       &info->endpoints[i], err));
  /* total_records/total_bytes: -1 (unknown) is a 10-byte varint */
  if (info->total_records &&
      oa_pb_put_varint_field(out, 4, (uint64_t)info->total_records))
    return oom(err);
  if (info->total_bytes &&
      oa_pb_put_varint_field(out, 5, (uint64_t)info->total_bytes))
    return oom(err);
  if (info->ordered && oa_pb_put_varint_field(out, 6, 1)) return oom(err);
  if (info->app_metadata.size &&
      oa_pb_put_bytes_field(out, 7, info->app_metadata.data,
                            info->app_metadata.size))
    return oom(err);
  return 0;
}

/* ------------------------------------------------------ small messages */

static const pb_field_desc single_bytes_fields[] = {
    {1, PB_BYTES, "field 1", 0, 0, 0, NULL},
};

int oa_flight_single_bytes_decode(const uint8_t *data, int64_t len,
                                  oa_flight_view *out, const char *what,
                                  oa_error *err) {
  out->data = NULL;
  out->size = 0;
  return PB_DECODE(data, len, what, single_bytes_fields, out, err);
}

int oa_flight_single_bytes_encode(const void *data, int64_t len, oa_bytes *out,
                                  oa_error *err) {
  if (len && oa_pb_put_bytes_field(out, 1, data, len)) return oom(err);
  return 0;
}

static const pb_field_desc action_fields[] = {
    PB_FIELD(1, PB_STRING, oa_flight_action, type),
    PB_FIELD(2, PB_BYTES, oa_flight_action, body),
};

int oa_flight_action_decode(const uint8_t *data, int64_t len,
                            oa_flight_action *out, const char *what,
                            oa_error *err) {
  memset(out, 0, sizeof *out);
  return PB_DECODE(data, len, what, action_fields, out, err);
}

int oa_flight_action_encode(const oa_flight_action *a, oa_bytes *out,
                            oa_error *err) {
  if (a->type.size && oa_pb_put_bytes_field(out, 1, a->type.data, a->type.size))
    return oom(err);
  if (a->body.size && oa_pb_put_bytes_field(out, 2, a->body.data, a->body.size))
    return oom(err);
  return 0;
}

static const pb_field_desc handshake_fields[] = {
    PB_FIELD(1, PB_U64, oa_flight_handshake, protocol_version),
    PB_FIELD(2, PB_BYTES, oa_flight_handshake, payload),
};

int oa_flight_handshake_decode(const uint8_t *data, int64_t len,
                               oa_flight_handshake *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  return PB_DECODE(data, len, "HandshakeRequest", handshake_fields, out, err);
}

int oa_flight_handshake_encode(const oa_flight_handshake *h, oa_bytes *out,
                               oa_error *err) {
  if (h->protocol_version &&
      oa_pb_put_varint_field(out, 1, h->protocol_version))
    return oom(err);
  if (h->payload.size &&
      oa_pb_put_bytes_field(out, 2, h->payload.data, h->payload.size))
    return oom(err);
  return 0;
}

/* ------------------------------------------------------------- schema */

int oa_flight_schema_bytes(oa_schema *schema, oa_bytes *out, oa_error *err) {
  oa_ipc_encoder *enc = NULL;
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  int rc;
  OA_GOTO_NOT_OK(rc, oa_ipc_encoder_new(&enc, schema, NULL, err), done);
  OA_GOTO_NOT_OK(rc, oa_ipc_encoder_schema(enc, &m, err), done);
  OA_GOTO_NOT_OK(rc, oa_ipc_message_frame(&m, out, err), done);
done:
  oa_ipc_message_reset(&m);
  oa_ipc_encoder_free(enc);
  return rc;
}

int oa_flight_schema_parse(const uint8_t *data, int64_t len, oa_schema **out,
                           oa_error *err) {
  *out = NULL;
  int64_t off = 0;
  if (len >= 4 && memcmp(data, "\xff\xff\xff\xff", 4) == 0) off = 4;
  if (len - off < 4)
    return oa_error_set(err, EINVAL,
                        "schema message: %lld bytes, too short for a length",
                        (long long)len);
  uint32_t ml = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
                (uint32_t)data[off + 2] << 16 | (uint32_t)data[off + 3] << 24;
  off += 4;
  if ((int64_t)ml > len - off || (int32_t)ml <= 0)
    return oa_error_set(err, EINVAL,
                        "schema message: metadata length %u exceeds the %lld "
                        "bytes present",
                        ml, (long long)(len - off));
  oa_ipc_decoder *dec = NULL;
  OA_RETURN_NOT_OK(oa_ipc_decoder_new(&dec, NULL, err));
  oa_ipc_msg_type type = OA_IPC_MSG_NONE;
  oa_batch dummy;
  oa_batch_init(&dummy);
  oa_buffer empty = {0};
  int rc =
      oa_ipc_decoder_decode(dec, data + off, ml, &empty, &type, &dummy, err);
  if (rc == 0 && type != OA_IPC_MSG_SCHEMA)
    rc = oa_error_set(err, EINVAL,
                      "schema message: message type %d is not a "
                      "schema",
                      (int)type);
  if (rc == 0) {
    *out = oa_ipc_decoder_schema(dec);
    oa_schema_retain(*out);
  }
  oa_batch_reset(&dummy);
  oa_ipc_decoder_free(dec);
  return rc;
}

/* Where data_body's bytes start in a FlightData prefix (the first slice
 * gRPC hands over), or -1 if not within it: the gRPC layer then copies a
 * multi-slice message once with the body 64-byte aligned, and the decoder
 * needs no second copy. Only framing is read here; oa_flight_data_decode
 * checks everything. */
int64_t oa_flight_data_body_offset(const uint8_t *p, int64_t len) {
  int64_t i = 0;
  while (i < len) {
    uint64_t key = 0, v = 0;
    int shift = 0;
    bool more = true;
    while (more) {
      if (i >= len || shift > 63) return -1;
      key |= (uint64_t)(p[i] & 0x7f) << shift;
      more = (p[i++] & 0x80) != 0;
      shift += 7;
    }
    uint32_t wire = (uint32_t)(key & 7);
    if (wire == 0 || wire == 2) {
      shift = 0;
      more = true;
      while (more) {
        if (i >= len || shift > 63) return -1;
        v |= (uint64_t)(p[i] & 0x7f) << shift;
        more = (p[i++] & 0x80) != 0;
        shift += 7;
      }
      if (wire == 2) {
        if ((key >> 3) == OA_FLIGHT_DATA_BODY) return i;
        if (v > (uint64_t)(len - i)) return -1;
        i += (int64_t)v;
      }
    } else if (wire == 1) {
      i += 8;
    } else if (wire == 5) {
      i += 4;
    } else {
      return -1;
    }
  }
  return -1;
}
