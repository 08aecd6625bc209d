/* The OTLP trace messages as the JSON codec sees them (field numbers from
 * opentelemetry-proto: trace.proto, common.proto, resource.proto,
 * trace_service.proto). */
#include "otlp/json_internal.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const oa_jmsg kAnyValue, kKeyValue;

static const oa_jfield kArrayValueF[] = {
    {"values", "values", 1, OA_JT_MESSAGE, OA_JF_REPEATED, &kAnyValue, NULL, 0},
};
static const oa_jmsg kArrayValue = {"ArrayValue", OA_JM_OTHER, N(kArrayValueF),
                                    kArrayValueF};

static const oa_jfield kKeyValueListF[] = {
    {"values", "values", 1, OA_JT_MESSAGE, OA_JF_REPEATED, &kKeyValue, NULL, 0},
};
static const oa_jmsg kKeyValueList = {"KeyValueList", OA_JM_OTHER,
                                      N(kKeyValueListF), kKeyValueListF};

static const oa_jfield kAnyValueF[] = {
    {"stringValue", "string_value", 1, OA_JT_STRING, OA_JF_ONEOF, NULL, NULL,
     0},
    {"boolValue", "bool_value", 2, OA_JT_BOOL, OA_JF_ONEOF, NULL, NULL, 0},
    {"intValue", "int_value", 3, OA_JT_INT64, OA_JF_ONEOF, NULL, NULL, 0},
    {"doubleValue", "double_value", 4, OA_JT_DOUBLE, OA_JF_ONEOF, NULL, NULL,
     0},
    {"arrayValue", "array_value", 5, OA_JT_MESSAGE, OA_JF_ONEOF, &kArrayValue,
     NULL, 0},
    {"kvlistValue", "kvlist_value", 6, OA_JT_MESSAGE, OA_JF_ONEOF,
     &kKeyValueList, NULL, 0},
    {"bytesValue", "bytes_value", 7, OA_JT_BYTES, OA_JF_ONEOF, NULL, NULL, 0},
};
static const oa_jmsg kAnyValue = {"AnyValue", OA_JM_OTHER, N(kAnyValueF),
                                  kAnyValueF};

static const oa_jfield kKeyValueF[] = {
    {"key", "key", 1, OA_JT_STRING, 0, NULL, NULL, 0},
    {"value", "value", 2, OA_JT_MESSAGE, 0, &kAnyValue, NULL, 0},
};
static const oa_jmsg kKeyValue = {"KeyValue", OA_JM_OTHER, N(kKeyValueF),
                                  kKeyValueF};

static const oa_jfield kEntityRefF[] = {
    {"schemaUrl", "schema_url", 1, OA_JT_STRING, 0, NULL, NULL, 0},
    {"type", "type", 2, OA_JT_STRING, 0, NULL, NULL, 0},
    {"idKeys", "id_keys", 3, OA_JT_STRING, OA_JF_REPEATED, NULL, NULL, 0},
    {"descriptionKeys", "description_keys", 4, OA_JT_STRING, OA_JF_REPEATED,
     NULL, NULL, 0},
};
static const oa_jmsg kEntityRef = {"EntityRef", OA_JM_OTHER, N(kEntityRefF),
                                   kEntityRefF};

static const oa_jfield kResourceF[] = {
    {"attributes", "attributes", 1, OA_JT_MESSAGE, OA_JF_REPEATED, &kKeyValue,
     NULL, 0},
    {"droppedAttributesCount", "dropped_attributes_count", 2, OA_JT_UINT32, 0,
     NULL, NULL, 0},
    {"entityRefs", "entity_refs", 3, OA_JT_MESSAGE, OA_JF_REPEATED, &kEntityRef,
     NULL, 0},
};
static const oa_jmsg kResource = {"Resource", OA_JM_OTHER, N(kResourceF),
                                  kResourceF};

static const oa_jfield kScopeF[] = {
    {"name", "name", 1, OA_JT_STRING, 0, NULL, NULL, 0},
    {"version", "version", 2, OA_JT_STRING, 0, NULL, NULL, 0},
    {"attributes", "attributes", 3, OA_JT_MESSAGE, OA_JF_REPEATED, &kKeyValue,
     NULL, 0},
    {"droppedAttributesCount", "dropped_attributes_count", 4, OA_JT_UINT32, 0,
     NULL, NULL, 0},
};
static const oa_jmsg kScope = {"InstrumentationScope", OA_JM_OTHER, N(kScopeF),
                               kScopeF};

static const char *const kStatusCodes[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
static const oa_jfield kStatusF[] = {
    {"message", "message", 2, OA_JT_STRING, 0, NULL, NULL, 0},
    {"code", "code", 3, OA_JT_ENUM, 0, NULL, kStatusCodes, N(kStatusCodes)},
};
static const oa_jmsg kStatus = {"Status", OA_JM_OTHER, N(kStatusF), kStatusF};

static const oa_jfield kEventF[] = {
    {"timeUnixNano", "time_unix_nano", 1, OA_JT_FIXED64, 0, NULL, NULL, 0},
    {"name", "name", 2, OA_JT_STRING, 0, NULL, NULL, 0},
    {"attributes", "attributes", 3, OA_JT_MESSAGE, OA_JF_REPEATED, &kKeyValue,
     NULL, 0},
    {"droppedAttributesCount", "dropped_attributes_count", 4, OA_JT_UINT32, 0,
     NULL, NULL, 0},
};
static const oa_jmsg kEvent = {"Span.Event", OA_JM_OTHER, N(kEventF), kEventF};

static const oa_jfield kLinkF[] = {
    {"traceId", "trace_id", 1, OA_JT_HEXID, 0, NULL, NULL, 0},
    {"spanId", "span_id", 2, OA_JT_HEXID, 0, NULL, NULL, 0},
    {"traceState", "trace_state", 3, OA_JT_STRING, 0, NULL, NULL, 0},
    {"attributes", "attributes", 4, OA_JT_MESSAGE, OA_JF_REPEATED, &kKeyValue,
     NULL, 0},
    {"droppedAttributesCount", "dropped_attributes_count", 5, OA_JT_UINT32, 0,
     NULL, NULL, 0},
    {"flags", "flags", 6, OA_JT_FIXED32, 0, NULL, NULL, 0},
};
static const oa_jmsg kLink = {"Span.Link", OA_JM_LINK, N(kLinkF), kLinkF};

static const char *const kSpanKinds[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
static const oa_jfield kSpanF[] = {
    {"traceId", "trace_id", 1, OA_JT_HEXID, 0, NULL, NULL, 0},
    {"spanId", "span_id", 2, OA_JT_HEXID, 0, NULL, NULL, 0},
    {"traceState", "trace_state", 3, OA_JT_STRING, 0, NULL, NULL, 0},
    {"parentSpanId", "parent_span_id", 4, OA_JT_HEXID, 0, NULL, NULL, 0},
    {"name", "name", 5, OA_JT_STRING, 0, NULL, NULL, 0},
    {"kind", "kind", 6, OA_JT_ENUM, 0, NULL, kSpanKinds, N(kSpanKinds)},
    {"startTimeUnixNano", "start_time_unix_nano", 7, OA_JT_FIXED64, 0, NULL,
     NULL, 0},
    {"endTimeUnixNano", "end_time_unix_nano", 8, OA_JT_FIXED64, 0, NULL, NULL,
     0},
    {"attributes", "attributes", 9, OA_JT_MESSAGE, OA_JF_REPEATED, &kKeyValue,
     NULL, 0},
    {"droppedAttributesCount", "dropped_attributes_count", 10, OA_JT_UINT32, 0,
     NULL, NULL, 0},
    {"events", "events", 11, OA_JT_MESSAGE, OA_JF_REPEATED, &kEvent, NULL, 0},
    {"droppedEventsCount", "dropped_events_count", 12, OA_JT_UINT32, 0, NULL,
     NULL, 0},
    {"links", "links", 13, OA_JT_MESSAGE, OA_JF_REPEATED, &kLink, NULL, 0},
    {"droppedLinksCount", "dropped_links_count", 14, OA_JT_UINT32, 0, NULL,
     NULL, 0},
    {"status", "status", 15, OA_JT_MESSAGE, 0, &kStatus, NULL, 0},
    {"flags", "flags", 16, OA_JT_FIXED32, 0, NULL, NULL, 0},
};
static const oa_jmsg kSpan = {"Span", OA_JM_SPAN, N(kSpanF), kSpanF};

static const oa_jfield kScopeSpansF[] = {
    {"scope", "scope", 1, OA_JT_MESSAGE, 0, &kScope, NULL, 0},
    {"spans", "spans", 2, OA_JT_MESSAGE, OA_JF_REPEATED, &kSpan, NULL, 0},
    {"schemaUrl", "schema_url", 3, OA_JT_STRING, 0, NULL, NULL, 0},
};
static const oa_jmsg kScopeSpans = {"ScopeSpans", OA_JM_SCOPE_SPANS,
                                    N(kScopeSpansF), kScopeSpansF};

static const oa_jfield kResourceSpansF[] = {
    {"resource", "resource", 1, OA_JT_MESSAGE, 0, &kResource, NULL, 0},
    {"scopeSpans", "scope_spans", 2, OA_JT_MESSAGE, OA_JF_REPEATED,
     &kScopeSpans, NULL, 0},
    {"schemaUrl", "schema_url", 3, OA_JT_STRING, 0, NULL, NULL, 0},
};
static const oa_jmsg kResourceSpans = {"ResourceSpans", OA_JM_RESOURCE_SPANS,
                                       N(kResourceSpansF), kResourceSpansF};

static const oa_jfield kRequestF[] = {
    {"resourceSpans", "resource_spans", 1, OA_JT_MESSAGE, OA_JF_REPEATED,
     &kResourceSpans, NULL, 0},
};
const oa_jmsg oa_jmsg_request = {"ExportTraceServiceRequest", OA_JM_OTHER,
                                 N(kRequestF), kRequestF};
