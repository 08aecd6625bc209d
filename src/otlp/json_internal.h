/* OTLP/JSON <-> protobuf: a table of the OTLP trace messages (field number,
 * JSON names, protobuf type) shared by the JSON decoder (JSON -> wire bytes,
 * then the protobuf decoder) and the JSON encoder (wire bytes -> JSON). Going
 * through the wire format keeps one implementation of the OTLP semantics. */
#ifndef OA_OTLP_JSON_INTERNAL_H
#define OA_OTLP_JSON_INTERNAL_H

#include "otlp/otlp_internal.h"

/* How a field is written in JSON and on the wire. */
typedef enum oa_jtype {
  OA_JT_STRING,  /* string / LEN */
  OA_JT_BYTES,   /* base64 string / LEN */
  OA_JT_HEXID,   /* hex string / LEN (trace and span ids) */
  OA_JT_BOOL,    /* true, false / varint */
  OA_JT_INT64,   /* number or decimal string / varint */
  OA_JT_UINT32,  /* number or decimal string / varint */
  OA_JT_ENUM,    /* number or value name / varint (int32) */
  OA_JT_FIXED32, /* number or decimal string / I32 */
  OA_JT_FIXED64, /* number or decimal string / I64 */
  OA_JT_DOUBLE,  /* number, "NaN", "Infinity", "-Infinity" / I64 */
  OA_JT_MESSAGE  /* object / LEN */
} oa_jtype;

enum { OA_JF_REPEATED = 1, OA_JF_ONEOF = 2 };

/* Messages the JSON decoder keeps track of (partial-success messages name
 * the resource/scope/span by its JSON path). */
enum {
  OA_JM_OTHER = 0,
  OA_JM_RESOURCE_SPANS,
  OA_JM_SCOPE_SPANS,
  OA_JM_SPAN,
  OA_JM_LINK
};

struct oa_jmsg;

typedef struct oa_jfield {
  const char *json;  /* lowerCamelCase name */
  const char *proto; /* the .proto name (also accepted when decoding) */
  uint32_t num;
  uint8_t type;                  /* oa_jtype */
  uint8_t flags;                 /* OA_JF_* */
  const struct oa_jmsg *msg;     /* OA_JT_MESSAGE */
  const char *const *enum_names; /* OA_JT_ENUM: names of 0..n_enum-1 */
  int n_enum;
} oa_jfield;

typedef struct oa_jmsg {
  const char *name;
  int kind; /* OA_JM_* */
  int n_fields;
  const oa_jfield *fields; /* in field number order */
} oa_jmsg;

#define OA_JMSG_MAX_FIELDS 16

/* ExportTraceServiceRequest (the root of both directions). */
extern const oa_jmsg oa_jmsg_request;

#endif
