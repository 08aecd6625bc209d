/* otlparrow: formatting array elements as text or JSON
 * (see notes/json_format.md for the exact contract). */
#ifndef OTLPARROW_FORMAT_H
#define OTLPARROW_FORMAT_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OA_FORMAT_TEXT, OA_FORMAT_JSON } oa_format_style;

/* Appends element i (relative to the array's offset) of a to out. */
int oa_format_value(const oa_field *f, const oa_array *a, int64_t i,
                    oa_format_style style, oa_bytes *out, oa_error *err);

/* Appends a JSON description of the field:
 * {"name":..,"type":"<oa_field_format_type>","nullable":true,
 *  "children":[...],"metadata":{...}} */
int oa_format_field_json(const oa_field *f, oa_bytes *out, oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
