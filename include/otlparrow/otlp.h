/* otlparrow: OTLP traces <-> Arrow span batches.
 *
 * The span schema (one row per span) is described in docs/schema.md. The
 * protobuf decoder reads an ExportTraceServiceRequest (or TracesData, which
 * has the same wire layout) straight into column builders; the encoder turns
 * a span batch back into an ExportTraceServiceRequest, regrouping rows into
 * ResourceSpans/ScopeSpans by their resource_id/scope_id columns.
 */
#ifndef OTLPARROW_OTLP_H
#define OTLPARROW_OTLP_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Top-level columns of the span schema, in schema order. */
typedef enum oa_span_column {
  OA_SPAN_TRACE_ID = 0,
  OA_SPAN_SPAN_ID,
  OA_SPAN_PARENT_SPAN_ID,
  OA_SPAN_TRACE_STATE,
  OA_SPAN_FLAGS,
  OA_SPAN_NAME,
  OA_SPAN_KIND,
  OA_SPAN_START_TIME,
  OA_SPAN_END_TIME,
  OA_SPAN_DURATION,
  OA_SPAN_STATUS_CODE,
  OA_SPAN_STATUS_MESSAGE,
  OA_SPAN_ATTRIBUTES,
  OA_SPAN_DROPPED_ATTRIBUTES_COUNT,
  OA_SPAN_EVENTS,
  OA_SPAN_DROPPED_EVENTS_COUNT,
  OA_SPAN_LINKS,
  OA_SPAN_DROPPED_LINKS_COUNT,
  OA_SPAN_SERVICE_NAME,
  OA_SPAN_RESOURCE_ID,
  OA_SPAN_RESOURCE_ATTRIBUTES,
  OA_SPAN_RESOURCE_DROPPED_ATTRIBUTES_COUNT,
  OA_SPAN_RESOURCE_SCHEMA_URL,
  OA_SPAN_RESOURCE_ENTITY_REFS,
  OA_SPAN_SCOPE_ID,
  OA_SPAN_SCOPE_NAME,
  OA_SPAN_SCOPE_VERSION,
  OA_SPAN_SCOPE_ATTRIBUTES,
  OA_SPAN_SCOPE_DROPPED_ATTRIBUTES_COUNT,
  OA_SPAN_SCOPE_SCHEMA_URL,
  OA_SPAN_N_COLUMNS
} oa_span_column;

/* Attribute value type codes: the type ids of the attribute value dense
 * union (the numbering of the OpenTelemetry Arrow data model). */
typedef enum oa_attr_type {
  OA_ATTR_EMPTY = 0,
  OA_ATTR_STR = 1,
  OA_ATTR_INT = 2,
  OA_ATTR_DOUBLE = 3,
  OA_ATTR_BOOL = 4,
  OA_ATTR_KVLIST = 5, /* the AnyValue message bytes */
  OA_ATTR_ARRAY = 6,  /* the AnyValue message bytes */
  OA_ATTR_BYTES = 7
} oa_attr_type;

/* Children of the attribute value dense union, in order: child i has type
 * code i (an oa_attr_type), so a type code is also the child index. */
enum {
  OA_ATTR_VALUE_EMPTY = 0, /* null type: every element null */
  OA_ATTR_VALUE_STR,       /* utf8 */
  OA_ATTR_VALUE_INT,       /* int64 */
  OA_ATTR_VALUE_DOUBLE,    /* float64 */
  OA_ATTR_VALUE_BOOL,      /* bool */
  OA_ATTR_VALUE_KVLIST,    /* binary */
  OA_ATTR_VALUE_ARRAY,     /* binary */
  OA_ATTR_VALUE_BYTES,     /* binary */
  OA_ATTR_VALUE_N
};

/* The span schema (new reference, refcount 1). Every call builds an equal
 * schema. */
int oa_span_schema(oa_schema **out, oa_error *err);

/* The schema metadata that marks span batches: key OA_SPAN_SCHEMA_KEY,
 * value OA_SPAN_SCHEMA_VERSION. The version changes whenever the layout does
 * (spans/2: attribute values are a dense union). */
#define OA_SPAN_SCHEMA_KEY "otlparrow.schema"
#define OA_SPAN_SCHEMA_VERSION "spans/2"

/* Decoder limits. A span that exceeds one is rejected and counted (like an
 * invalid id), the rest of the request is kept; max_spans applies to the
 * whole request (E2BIG). */
typedef struct oa_otlp_options {
  int32_t max_depth;      /* AnyValue array/kvlist nesting, default 32 */
  int64_t max_attributes; /* per attribute list, default 4096 */
  int64_t max_events;     /* per span, default 4096 */
  int64_t max_links;      /* per span, default 4096 */
  int64_t max_spans;      /* per request, default 1 << 24 */
  bool check_utf8;        /* validate string fields, default true */
} oa_otlp_options;

void oa_otlp_options_default(oa_otlp_options *opts);

/* OTLP partial success: how many spans were rejected and why (the first
 * rejection's message, "" when none). */
typedef struct oa_otlp_result {
  int64_t accepted_spans;
  int64_t rejected_spans;
  char error_message[OA_ERROR_SIZE];
} oa_otlp_result;

/* A reusable decoder: keeps its builders (and their memory) between
 * requests. Not thread-safe; use one per thread. */
typedef struct oa_otlp_decoder oa_otlp_decoder;

int oa_otlp_decoder_new(oa_otlp_decoder **out, const oa_otlp_options *opts,
                        oa_error *err);
void oa_otlp_decoder_free(oa_otlp_decoder *dec);

/* Decodes one ExportTraceServiceRequest into out (an initialized batch; its
 * previous content is recycled as by oa_otlp_decoder_recycle). Malformed
 * wire data rejects the whole request (EINVAL, err names the field and byte
 * offset, out is left empty); invalid spans are left out and counted in
 * result (which may be NULL). */
int oa_otlp_decoder_decode(oa_otlp_decoder *dec, const uint8_t *data,
                           int64_t size, oa_batch *out, oa_otlp_result *result,
                           oa_error *err);

/* Hands a batch the caller is done with back to the decoder and leaves it
 * empty (like oa_batch_reset). Heap buffers that only this batch references
 * become the storage of the next decode's builders when their size fits the
 * next request (within 1.5x of what it needs; the decoder holds them until
 * its next decode or free, and frees those that do not fit); every other
 * buffer (shared with another batch, a slice or a dataset, or from
 * elsewhere) is just released. Any batch is accepted, also one this decoder did
 * not make. A receiver calls it where it would call oa_batch_reset after
 * exporting the batch: it saves the allocation and first touch of every buffer.
 * Like decode, not thread-safe: only the thread using the decoder may call it.
 */
void oa_otlp_decoder_recycle(oa_otlp_decoder *dec, oa_batch *batch);

/* One-shot convenience (opts may be NULL for the defaults). */
int oa_otlp_decode_traces(const uint8_t *data, int64_t size,
                          const oa_otlp_options *opts, oa_batch *out,
                          oa_otlp_result *result, oa_error *err);

/* Appends the ExportTraceServiceRequest for a span batch to out. Consecutive
 * rows with equal resource_id form one ResourceSpans (its resource taken from
 * the first of them), and within it consecutive rows with equal scope_id one
 * ScopeSpans. The batch must have the span schema (EINVAL otherwise). */
int oa_otlp_encode_traces(const oa_batch *batch, oa_bytes *out, oa_error *err);

/* ------------------------------------------------------------ generator */

/* A deterministic generator of realistic traces (microservice call trees
 * with semantic-convention attributes, events, links and errors), written
 * as OTLP ExportTraceServiceRequest protobuf. The same options give the same
 * bytes on every machine. */
#define OA_TRACE_GEN_MAX_SERVICES 20

typedef struct oa_trace_gen_options {
  int64_t spans;                /* spans in total (exactly), default 1000 */
  uint64_t seed;                /* default 1 */
  int32_t services;             /* 1..OA_TRACE_GEN_MAX_SERVICES, default 10 */
  int64_t start_time_unix_nano; /* first trace; default 2025-01-01T00:00Z */
  int32_t max_trace_spans;      /* cap of one trace, default 400 */
} oa_trace_gen_options;

void oa_trace_gen_options_default(oa_trace_gen_options *o);

typedef struct oa_trace_gen_state oa_trace_gen_state; /* private */

typedef struct oa_trace_gen {
  oa_trace_gen_options opts;
  int64_t spans_done;  /* spans handed out in requests so far */
  int64_t traces_done; /* traces started so far */
  oa_trace_gen_state *state;
} oa_trace_gen;

int oa_trace_gen_init(oa_trace_gen *g, const oa_trace_gen_options *o,
                      oa_error *err);
/* The next request, of at most max_spans spans (>= 1), replaces the content
 * of out. A trace is split across requests only when it has more than
 * max_spans spans. *n_spans is 0 (and out empty) when all spans were
 * produced. Requests group spans into one ResourceSpans per service
 * instance and one ScopeSpans per instrumentation scope, as an SDK or a
 * collector batch would. */
int oa_trace_gen_next_request(oa_trace_gen *g, int64_t max_spans, oa_bytes *out,
                              int64_t *n_spans, oa_error *err);
void oa_trace_gen_reset(oa_trace_gen *g);

/* ---- OTLP/JSON (the OTLP specification's JSON Protobuf Encoding) */

/* A reusable OTLP/JSON decoder (keeps its parser, scratch buffers and
 * builders between requests). Not thread-safe; use one per thread. */
typedef struct oa_otlp_json_decoder oa_otlp_json_decoder;

int oa_otlp_json_decoder_new(oa_otlp_json_decoder **out,
                             const oa_otlp_options *opts, oa_error *err);
void oa_otlp_json_decoder_free(oa_otlp_json_decoder *dec);

/* Decodes one OTLP/JSON ExportTraceServiceRequest into out: the same batch,
 * validation and partial-success result as oa_otlp_decoder_decode gives for
 * the equivalent protobuf request. Malformed JSON, or a known field with the
 * wrong JSON type or an out-of-range number, rejects the whole request
 * (EINVAL; err names the byte offset or the field path). A span with a bad
 * id (not hex, wrong length), invalid UTF-8 (lone \u surrogates included) or
 * nesting past max_depth is left out and counted in result. */
int oa_otlp_json_decoder_decode(oa_otlp_json_decoder *dec, const char *json,
                                int64_t len, oa_batch *out,
                                oa_otlp_result *result, oa_error *err);

/* One-shot convenience (opts may be NULL for the defaults). */
int oa_otlp_decode_traces_json(const char *json, int64_t len,
                               const oa_otlp_options *opts, oa_batch *out,
                               oa_otlp_result *result, oa_error *err);

/* Appends the OTLP/JSON ExportTraceServiceRequest for a span batch to out
 * (grouped as oa_otlp_encode_traces groups; compact, lowerCamelCase keys,
 * lowercase hex ids, 64-bit integers as strings, enums as integers, bytes
 * as base64, default values left out). */
int oa_otlp_encode_traces_json(const oa_batch *batch, oa_bytes *out,
                               oa_error *err);

/* Appends the OTLP/JSON form of a protobuf ExportTraceServiceRequest (or
 * TracesData) to out. Malformed wire data, invalid UTF-8 in a string or
 * nesting deeper than 1000 messages gives EINVAL and leaves out as it was. */
int oa_otlp_traces_pb_to_json(const uint8_t *data, int64_t size, oa_bytes *out,
                              oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
