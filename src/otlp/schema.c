/* The span schema: one row per span (see docs/schema.md). */
#include <string.h>

#include "otlp/otlp_internal.h"

/* Dictionary ids: one per dictionary-encoded field of the schema, nested ones
 * included, so that IPC can tell them apart. */
enum {
  DICT_NAME = 0,
  DICT_SERVICE_NAME,
  DICT_RESOURCE_ATTRIBUTES,
  DICT_RESOURCE_SCHEMA_URL,
  DICT_RESOURCE_ENTITY_REFS,
  DICT_SCOPE_NAME,
  DICT_SCOPE_VERSION,
  DICT_SCOPE_ATTRIBUTES,
  DICT_SCOPE_SCHEMA_URL,
  DICT_ATTR_KEY,
  DICT_EVENT_NAME,
  DICT_EVENT_ATTR_KEY,
  DICT_LINK_ATTR_KEY
};

static int leaf(oa_field *f, const char *name, oa_type_id id, bool nullable,
                oa_error *err) {
  OA_RETURN_NOT_OK(oa_field_init(f, name, id, err));
  f->nullable = nullable;
  return 0;
}

static int add_leaf(oa_field *parent, const char *name, oa_type_id id,
                    bool nullable, oa_error *err) {
  oa_field f;
  int rc = leaf(&f, name, id, nullable, err);
  if (rc == 0) rc = oa_field_add_child(parent, &f, err);
  if (rc) oa_field_reset(&f);
  return rc;
}

static int add_child(oa_field *parent, oa_field *child, oa_error *err) {
  int rc = oa_field_add_child(parent, child, err);
  if (rc) oa_field_reset(child);
  return rc;
}

static int timestamp_field(oa_field *f, const char *name, oa_error *err) {
  OA_RETURN_NOT_OK(leaf(f, name, OA_TYPE_TIMESTAMP, false, err));
  f->type.unit = OA_TIME_UNIT_NANO;
  int rc = oa_field_set_timezone(f, "UTC", err);
  if (rc) oa_field_reset(f);
  return rc;
}

static int fsb_field(oa_field *f, const char *name, int32_t width,
                     bool nullable, oa_error *err) {
  OA_RETURN_NOT_OK(leaf(f, name, OA_TYPE_FIXED_SIZE_BINARY, nullable, err));
  f->type.byte_width = width;
  return 0;
}

/* map<key: utf8 (dictionary key_dict_id, or plain when < 0),
 *     value: dense_union<empty: null, str: utf8, int: int64, double: float64,
 *                        bool: bool, kvlist: binary, array: binary,
 *                        bytes: binary>> (type code i = child i = oa_attr_type)
 * A union holds only the value it has: a struct of all seven typed columns
 * cost every attribute ~34 bytes of offsets, slots and bitmaps. */
int oa_otlp_attributes_field(oa_field *f, const char *name, int64_t key_dict_id,
                             oa_error *err) {
  static const struct {
    const char *name;
    oa_type_id id;
  } kValue[OA_ATTR_VALUE_N] = {
      {"empty", OA_TYPE_NA},     {"str", OA_TYPE_STRING},
      {"int", OA_TYPE_INT64},    {"double", OA_TYPE_DOUBLE},
      {"bool", OA_TYPE_BOOL},    {"kvlist", OA_TYPE_BINARY},
      {"array", OA_TYPE_BINARY}, {"bytes", OA_TYPE_BINARY},
  };
  oa_field entries, key, value;
  memset(&entries, 0, sizeof entries);
  memset(&key, 0, sizeof key);
  memset(&value, 0, sizeof value);
  int rc;
  OA_GOTO_NOT_OK(rc, leaf(f, name, OA_TYPE_MAP, false, err), fail0);
  OA_GOTO_NOT_OK(rc, leaf(&entries, "entries", OA_TYPE_STRUCT, false, err),
                 fail);
  OA_GOTO_NOT_OK(rc, leaf(&key, "key", OA_TYPE_STRING, false, err), fail);
  if (key_dict_id >= 0)
    oa_field_set_dictionary(&key, OA_TYPE_INT32, key_dict_id, false);
  OA_GOTO_NOT_OK(rc, add_child(&entries, &key, err), fail);
  OA_GOTO_NOT_OK(rc, leaf(&value, "value", OA_TYPE_DENSE_UNION, false, err),
                 fail);
  for (int i = 0; i < OA_ATTR_VALUE_N; i++) {
    /* only the null-type child holds nulls */
    OA_GOTO_NOT_OK(rc,
                   add_leaf(&value, kValue[i].name, kValue[i].id,
                            kValue[i].id == OA_TYPE_NA, err),
                   fail);
    value.type.type_codes[i] = (int8_t)i;
  }
  OA_GOTO_NOT_OK(rc, add_child(&entries, &value, err), fail);
  OA_GOTO_NOT_OK(rc, add_child(f, &entries, err), fail);
  return 0;
fail:
  oa_field_reset(&value);
  oa_field_reset(&key);
  oa_field_reset(&entries);
  oa_field_reset(f);
fail0:
  return rc;
}

static int list_of(oa_field *f, const char *name, oa_field *item,
                   oa_error *err) {
  int rc = leaf(f, name, OA_TYPE_LIST, false, err);
  if (rc) {
    oa_field_reset(item);
    return rc;
  }
  rc = add_child(f, item, err);
  if (rc) oa_field_reset(f);
  return rc;
}

static int events_field(oa_field *f, oa_error *err) {
  oa_field item, c;
  int rc;
  OA_RETURN_NOT_OK(leaf(&item, "item", OA_TYPE_STRUCT, false, err));
  OA_GOTO_NOT_OK(rc, timestamp_field(&c, "time_unix_nano", err), fail);
  OA_GOTO_NOT_OK(rc, add_child(&item, &c, err), fail);
  OA_GOTO_NOT_OK(rc, leaf(&c, "name", OA_TYPE_STRING, false, err), fail);
  oa_field_set_dictionary(&c, OA_TYPE_INT32, DICT_EVENT_NAME, false);
  OA_GOTO_NOT_OK(rc, add_child(&item, &c, err), fail);
  OA_GOTO_NOT_OK(
      rc, oa_otlp_attributes_field(&c, "attributes", DICT_EVENT_ATTR_KEY, err),
      fail);
  OA_GOTO_NOT_OK(rc, add_child(&item, &c, err), fail);
  OA_GOTO_NOT_OK(
      rc,
      add_leaf(&item, "dropped_attributes_count", OA_TYPE_UINT32, false, err),
      fail);
  return list_of(f, "events", &item, err);
fail:
  oa_field_reset(&item);
  return rc;
}

static int links_field(oa_field *f, oa_error *err) {
  oa_field item, c;
  int rc;
  OA_RETURN_NOT_OK(leaf(&item, "item", OA_TYPE_STRUCT, false, err));
  OA_GOTO_NOT_OK(rc, fsb_field(&c, "trace_id", 16, false, err), fail);
  OA_GOTO_NOT_OK(rc, add_child(&item, &c, err), fail);
  OA_GOTO_NOT_OK(rc, fsb_field(&c, "span_id", 8, false, err), fail);
  OA_GOTO_NOT_OK(rc, add_child(&item, &c, err), fail);
  OA_GOTO_NOT_OK(rc, add_leaf(&item, "trace_state", OA_TYPE_STRING, false, err),
                 fail);
  OA_GOTO_NOT_OK(rc, add_leaf(&item, "flags", OA_TYPE_UINT32, false, err),
                 fail);
  OA_GOTO_NOT_OK(
      rc, oa_otlp_attributes_field(&c, "attributes", DICT_LINK_ATTR_KEY, err),
      fail);
  OA_GOTO_NOT_OK(rc, add_child(&item, &c, err), fail);
  OA_GOTO_NOT_OK(
      rc,
      add_leaf(&item, "dropped_attributes_count", OA_TYPE_UINT32, false, err),
      fail);
  return list_of(f, "links", &item, err);
fail:
  oa_field_reset(&item);
  return rc;
}

/* list<binary>: each EntityRef message as received */
static int entity_refs_field(oa_field *f, oa_error *err) {
  oa_field item;
  OA_RETURN_NOT_OK(leaf(&item, "item", OA_TYPE_BINARY, false, err));
  return list_of(f, "resource_entity_refs", &item, err);
}

static void dict(oa_field *f, int64_t id) {
  oa_field_set_dictionary(f, OA_TYPE_INT32, id, false);
}

static int make_column(int col, oa_field *f, oa_error *err) {
  switch ((oa_span_column)col) {
  case OA_SPAN_TRACE_ID:
    return fsb_field(f, "trace_id", 16, false, err);
  case OA_SPAN_SPAN_ID:
    return fsb_field(f, "span_id", 8, false, err);
  case OA_SPAN_PARENT_SPAN_ID:
    return fsb_field(f, "parent_span_id", 8, true, err);
  case OA_SPAN_TRACE_STATE:
    return leaf(f, "trace_state", OA_TYPE_STRING, false, err);
  case OA_SPAN_FLAGS:
    return leaf(f, "flags", OA_TYPE_UINT32, false, err);
  case OA_SPAN_NAME:
    OA_RETURN_NOT_OK(leaf(f, "name", OA_TYPE_STRING, false, err));
    dict(f, DICT_NAME);
    return 0;
  case OA_SPAN_KIND:
    return leaf(f, "kind", OA_TYPE_INT32, false, err);
  case OA_SPAN_START_TIME:
    return timestamp_field(f, "start_time", err);
  case OA_SPAN_END_TIME:
    return timestamp_field(f, "end_time", err);
  case OA_SPAN_DURATION:
    OA_RETURN_NOT_OK(leaf(f, "duration", OA_TYPE_DURATION, false, err));
    f->type.unit = OA_TIME_UNIT_NANO;
    return 0;
  case OA_SPAN_STATUS_CODE:
    return leaf(f, "status_code", OA_TYPE_INT32, false, err);
  case OA_SPAN_STATUS_MESSAGE:
    return leaf(f, "status_message", OA_TYPE_STRING, false, err);
  case OA_SPAN_ATTRIBUTES:
    return oa_otlp_attributes_field(f, "attributes", DICT_ATTR_KEY, err);
  case OA_SPAN_DROPPED_ATTRIBUTES_COUNT:
    return leaf(f, "dropped_attributes_count", OA_TYPE_UINT32, false, err);
  case OA_SPAN_EVENTS:
    return events_field(f, err);
  case OA_SPAN_DROPPED_EVENTS_COUNT:
    return leaf(f, "dropped_events_count", OA_TYPE_UINT32, false, err);
  case OA_SPAN_LINKS:
    return links_field(f, err);
  case OA_SPAN_DROPPED_LINKS_COUNT:
    return leaf(f, "dropped_links_count", OA_TYPE_UINT32, false, err);
  case OA_SPAN_SERVICE_NAME:
    OA_RETURN_NOT_OK(leaf(f, "service_name", OA_TYPE_STRING, true, err));
    dict(f, DICT_SERVICE_NAME);
    return 0;
  case OA_SPAN_RESOURCE_ID:
    return leaf(f, "resource_id", OA_TYPE_INT32, false, err);
  case OA_SPAN_RESOURCE_ATTRIBUTES:
    /* dictionary values hold plain keys: no dictionary inside a dictionary */
    OA_RETURN_NOT_OK(
        oa_otlp_attributes_field(f, "resource_attributes", -1, err));
    dict(f, DICT_RESOURCE_ATTRIBUTES);
    return 0;
  case OA_SPAN_RESOURCE_DROPPED_ATTRIBUTES_COUNT:
    return leaf(f, "resource_dropped_attributes_count", OA_TYPE_UINT32, false,
                err);
  case OA_SPAN_RESOURCE_SCHEMA_URL:
    OA_RETURN_NOT_OK(
        leaf(f, "resource_schema_url", OA_TYPE_STRING, false, err));
    dict(f, DICT_RESOURCE_SCHEMA_URL);
    return 0;
  case OA_SPAN_RESOURCE_ENTITY_REFS:
    OA_RETURN_NOT_OK(entity_refs_field(f, err));
    dict(f, DICT_RESOURCE_ENTITY_REFS);
    return 0;
  case OA_SPAN_SCOPE_ID:
    return leaf(f, "scope_id", OA_TYPE_INT32, false, err);
  case OA_SPAN_SCOPE_NAME:
    OA_RETURN_NOT_OK(leaf(f, "scope_name", OA_TYPE_STRING, false, err));
    dict(f, DICT_SCOPE_NAME);
    return 0;
  case OA_SPAN_SCOPE_VERSION:
    OA_RETURN_NOT_OK(leaf(f, "scope_version", OA_TYPE_STRING, false, err));
    dict(f, DICT_SCOPE_VERSION);
    return 0;
  case OA_SPAN_SCOPE_ATTRIBUTES:
    OA_RETURN_NOT_OK(oa_otlp_attributes_field(f, "scope_attributes", -1, err));
    dict(f, DICT_SCOPE_ATTRIBUTES);
    return 0;
  case OA_SPAN_SCOPE_DROPPED_ATTRIBUTES_COUNT:
    return leaf(f, "scope_dropped_attributes_count", OA_TYPE_UINT32, false,
                err);
  case OA_SPAN_SCOPE_SCHEMA_URL:
    OA_RETURN_NOT_OK(leaf(f, "scope_schema_url", OA_TYPE_STRING, false, err));
    dict(f, DICT_SCOPE_SCHEMA_URL);
    return 0;
  case OA_SPAN_N_COLUMNS:
    break;
  }
  return oa_error_set(err, EINVAL, "span schema: no column %d", col);
}

int oa_span_schema(oa_schema **out, oa_error *err) {
  oa_schema *s = NULL;
  OA_RETURN_NOT_OK(oa_schema_new(&s, err));
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++) {
    oa_field f;
    memset(&f, 0, sizeof f);
    int rc = make_column(c, &f, err);
    if (rc == 0) {
      rc = oa_schema_add_field(s, &f, err);
      if (rc) oa_field_reset(&f);
    }
    if (rc) {
      oa_schema_release(s);
      return rc;
    }
  }
  int rc = oa_metadata_add(
      &s->metadata, OA_SPAN_SCHEMA_KEY, (int64_t)strlen(OA_SPAN_SCHEMA_KEY),
      OA_SPAN_SCHEMA_VERSION, (int64_t)strlen(OA_SPAN_SCHEMA_VERSION), err);
  if (rc) {
    oa_schema_release(s);
    return rc;
  }
  *out = s;
  return 0;
}
