/* Element formatting as text or JSON (notes/json_format.md). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "otlparrow/format.h"

static int put(oa_bytes *o, const char *s) {
  return oa_bytes_append(o, s, (int64_t)strlen(s));
}

static int putf(oa_bytes *o, const char *fmt, ...) OA_PRINTF(2, 3);
static int putf(oa_bytes *o, const char *fmt, ...) {
  char buf[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return EINVAL;
  return oa_bytes_append(o, buf, n < (int)sizeof buf ? n : (int)sizeof buf - 1);
}

static int put_string(oa_bytes *o, const uint8_t *s, int64_t n, bool json) {
  static const char hex[] = "0123456789abcdef";
  OA_RETURN_NOT_OK(oa_bytes_reserve(o, n + 2));
  if (json) OA_RETURN_NOT_OK(put(o, "\""));
  int64_t i = 0;
  while (i < n) {
    int64_t run = i;
    /* copy runs of plain ASCII in one go */
    while (run < n && s[run] >= 0x20 && s[run] < 0x7f &&
           (!json || (s[run] != '"' && s[run] != '\\')))
      run++;
    if (run > i) {
      OA_RETURN_NOT_OK(oa_bytes_append(o, s + i, run - i));
      i = run;
      continue;
    }
    uint8_t c = s[i];
    if (c < 0x80) {
      /* DEL is not a JSON control char: it stays as is */
      static const char *const named[0x80] = {
          ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r",
          ['\t'] = "\\t", ['\b'] = "\\b",  ['\f'] = "\\f", [0x7f] = "\x7f"};
      const char *e = named[c];
      char esc[8];
      if (!e) {
        snprintf(esc, sizeof esc, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        e = esc;
      }
      OA_RETURN_NOT_OK(put(o, e));
      i++;
      continue;
    }
    int k = oa_utf8_seq_len_(s + i, n - i);
    if (k) {
      OA_RETURN_NOT_OK(oa_bytes_append(o, s + i, k));
      i += k;
    } else {
      OA_RETURN_NOT_OK(put(o, json ? "\\ufffd" : "\xef\xbf\xbd"));
      i++;
    }
  }
  if (json) OA_RETURN_NOT_OK(put(o, "\""));
  return 0;
}

static int put_hex(oa_bytes *o, const uint8_t *s, int64_t n, bool json) {
  static const char hex[] = "0123456789abcdef";
  OA_RETURN_NOT_OK(oa_bytes_reserve(o, 2 * n + 2));
  if (json) o->data[o->size++] = '"';
  for (int64_t i = 0; i < n; i++) {
    o->data[o->size++] = (uint8_t)hex[s[i] >> 4];
    o->data[o->size++] = (uint8_t)hex[s[i] & 15];
  }
  if (json) o->data[o->size++] = '"';
  return 0;
}

static int put_float(oa_bytes *o, double v, bool single, bool json) {
  if (isnan(v)) return put(o, json ? "\"NaN\"" : "NaN");
  if (isinf(v))
    return put(o, v > 0 ? (json ? "\"Infinity\"" : "inf")
                        : (json ? "\"-Infinity\"" : "-inf"));
  return single ? putf(o, "%.9g", v) : putf(o, "%.17g", v);
}

/* Two's-complement little-endian integer of nbytes (16 or 32) with scale. */
static int put_decimal(oa_bytes *o, const uint8_t *p, int nbytes, int32_t scale,
                       bool json) {
  if (scale > 1000 || scale < -1000) return EINVAL;
  uint32_t limbs[8];
  int n = nbytes / 4;
  memcpy(limbs, p, (size_t)nbytes);
  bool neg = (p[nbytes - 1] & 0x80) != 0;
  if (neg) {
    uint64_t carry = 1;
    for (int k = 0; k < n; k++) {
      uint64_t v = (uint64_t)(uint32_t)~limbs[k] + carry;
      limbs[k] = (uint32_t)v;
      carry = v >> 32;
    }
  }
  char digits[96];
  int nd = 0;
  for (;;) {
    bool zero = true;
    for (int k = 0; k < n; k++)
      zero = zero && limbs[k] == 0;
    if (zero) break;
    uint64_t rem = 0;
    for (int k = n - 1; k >= 0; k--) {
      uint64_t cur = (rem << 32) | limbs[k];
      limbs[k] = (uint32_t)(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    for (int d = 0; d < 9; d++) {
      digits[nd++] = (char)('0' + rem % 10);
      rem /= 10;
    }
  }
  while (nd > 0 && digits[nd - 1] == '0')
    nd--;
  bool is_zero = nd == 0;
  if (is_zero) digits[nd++] = '0';
  /* digits are least significant first */
  if (json) OA_RETURN_NOT_OK(put(o, "\""));
  if (neg && !is_zero) OA_RETURN_NOT_OK(put(o, "-"));
  if (scale > 0) {
    if (nd <= scale) {
      OA_RETURN_NOT_OK(put(o, "0."));
      for (int k = 0; k < scale - nd; k++)
        OA_RETURN_NOT_OK(put(o, "0"));
      for (int k = nd - 1; k >= 0; k--)
        OA_RETURN_NOT_OK(oa_bytes_append(o, &digits[k], 1));
    } else {
      for (int k = nd - 1; k >= 0; k--) {
        OA_RETURN_NOT_OK(oa_bytes_append(o, &digits[k], 1));
        if (k == scale) OA_RETURN_NOT_OK(put(o, "."));
      }
    }
  } else {
    for (int k = nd - 1; k >= 0; k--)
      OA_RETURN_NOT_OK(oa_bytes_append(o, &digits[k], 1));
    for (int k = 0; k < -scale; k++)
      OA_RETURN_NOT_OK(put(o, "0"));
  }
  if (json) OA_RETURN_NOT_OK(put(o, "\""));
  return 0;
}

/* floor division and modulo without overflow */
static void floor_divmod(int64_t v, int64_t d, int64_t *q, int64_t *r) {
  *q = v / d;
  *r = v % d;
  if (*r < 0) {
    *r += d;
    *q -= 1;
  }
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int put_date(oa_bytes *o, int64_t days) {
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  return putf(o, "%04lld-%02u-%02u", (long long)y, m, d);
}

static int put_timestamp(oa_bytes *o, int64_t v, oa_time_unit unit) {
  static const int64_t div[] = {1, 1000, 1000000, 1000000000};
  static const int width[] = {0, 3, 6, 9};
  int64_t secs, frac, days, sod;
  floor_divmod(v, div[unit], &secs, &frac);
  floor_divmod(secs, 86400, &days, &sod);
  OA_RETURN_NOT_OK(put_date(o, days));
  OA_RETURN_NOT_OK(putf(o, "T%02d:%02d:%02d", (int)(sod / 3600),
                        (int)(sod / 60 % 60), (int)(sod % 60)));
  if (unit != OA_TIME_UNIT_SECOND)
    OA_RETURN_NOT_OK(putf(o, ".%0*lld", width[unit], (long long)frac));
  return put(o, "Z");
}

static int fmt(const oa_field *f, const oa_array *a, int64_t i, bool json,
               oa_bytes *o, oa_error *err);

static int put_key(oa_bytes *o, const char *name, bool json) {
  if (json) {
    OA_RETURN_NOT_OK(
        put_string(o, (const uint8_t *)name, (int64_t)strlen(name), true));
    return put(o, ":");
  }
  OA_RETURN_NOT_OK(put(o, name));
  return put(o, ": ");
}

static int put_list(const oa_field *cf, const oa_array *ca, int64_t start,
                    int64_t n, bool json, oa_bytes *o, oa_error *err) {
  OA_RETURN_NOT_OK(put(o, "["));
  for (int64_t k = 0; k < n; k++) {
    if (k) OA_RETURN_NOT_OK(put(o, json ? "," : ", "));
    OA_RETURN_NOT_OK(fmt(cf, ca, start + k, json, o, err));
  }
  return put(o, "]");
}

static int fmt(const oa_field *f, const oa_array *a, int64_t i, bool json,
               oa_bytes *o, oa_error *err) {
  if (i < 0 || i >= a->length)
    return oa_error_set(err, EINVAL,
                        "field '%s': row %lld out of bounds of "
                        "length %lld",
                        f->name, (long long)i, (long long)a->length);
  if (oa_array_is_null(f, a, i)) return put(o, "null");
  if (f->dict.encoded) {
    int64_t k = oa_array_get_dict_index(f, a, i);
    if (!a->dictionary || k < 0 || k >= a->dictionary->length)
      return oa_error_set(err, EINVAL,
                          "field '%s': row %lld: dictionary index %lld out of "
                          "bounds",
                          f->name, (long long)i, (long long)k);
    oa_field vf = oa_value_field_(f);
    return fmt(&vf, a->dictionary, k, json, o, err);
  }
  const oa_datatype *t = &f->type;
  int64_t j = a->offset + i;
  /* every layout but these keeps values or offsets in buffer 1, which a
   * non-empty array must have */
  const uint8_t *p = a->buffers[1].data;
  if (!p && t->id != OA_TYPE_NA && t->id != OA_TYPE_STRUCT &&
      t->id != OA_TYPE_FIXED_SIZE_LIST && t->id != OA_TYPE_SPARSE_UNION)
    return oa_error_set(err, EINVAL,
                        "field '%s': array has no values or offsets buffer",
                        f->name);
  switch (t->id) {
  case OA_TYPE_NA:
    return put(o, "null");
  case OA_TYPE_BOOL:
    return put(o, oa_bit_get(p, j) ? "true" : "false");
  case OA_TYPE_INT8:
  case OA_TYPE_INT16:
  case OA_TYPE_INT32:
  case OA_TYPE_UINT8:
  case OA_TYPE_UINT16:
  case OA_TYPE_UINT32:
  case OA_TYPE_DATE32:
    if (t->id == OA_TYPE_DATE32 && !json)
      return put_date(o, oa_array_get_int(f, a, i));
    /* fallthrough */
  case OA_TYPE_TIME32:
  case OA_TYPE_INTERVAL_MONTHS:
    return putf(o, "%lld", (long long)oa_array_get_int(f, a, i));
  case OA_TYPE_UINT64:
    return putf(o, json ? "\"%llu\"" : "%llu",
                (unsigned long long)oa_array_get_uint(f, a, i));
  case OA_TYPE_DATE64:
    if (!json) {
      int64_t days, rem;
      floor_divmod(oa_array_get_int(f, a, i), 86400000, &days, &rem);
      return put_date(o, days);
    }
    /* fallthrough */
  case OA_TYPE_INT64:
  case OA_TYPE_TIME64:
  case OA_TYPE_DURATION:
    return putf(o, json ? "\"%lld\"" : "%lld",
                (long long)oa_array_get_int(f, a, i));
  case OA_TYPE_TIMESTAMP:
    if (json) return putf(o, "\"%lld\"", (long long)oa_array_get_int(f, a, i));
    return put_timestamp(o, oa_array_get_int(f, a, i), t->unit);
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
    return put_float(o, oa_array_get_double(f, a, i), true, json);
  case OA_TYPE_DOUBLE:
    return put_float(o, oa_array_get_double(f, a, i), false, json);
  case OA_TYPE_STRING:
  case OA_TYPE_LARGE_STRING: {
    int64_t n;
    const uint8_t *s = oa_array_get_bytes(f, a, i, &n);
    return put_string(o, s, n, json);
  }
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_BINARY:
  case OA_TYPE_FIXED_SIZE_BINARY: {
    int64_t n;
    const uint8_t *s = oa_array_get_bytes(f, a, i, &n);
    return put_hex(o, s, n, json);
  }
  case OA_TYPE_INTERVAL_DAY_TIME: {
    int32_t v[2];
    memcpy(v, p + j * 8, 8);
    return putf(o,
                json ? "{\"days\":%d,\"milliseconds\":%d}"
                     : "{days: %d, milliseconds: %d}",
                (int)v[0], (int)v[1]);
  }
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO: {
    int32_t md[2];
    int64_t ns;
    memcpy(md, p + j * 16, 8);
    memcpy(&ns, p + j * 16 + 8, 8);
    return putf(o,
                json ? "{\"months\":%d,\"days\":%d,\"nanoseconds\":\"%lld\"}"
                     : "{months: %d, days: %d, nanoseconds: %lld}",
                (int)md[0], (int)md[1], (long long)ns);
  }
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256: {
    int w = t->id == OA_TYPE_DECIMAL128 ? 16 : 32;
    int rc = put_decimal(o, p + j * w, w, t->scale, json);
    if (rc == EINVAL)
      return oa_error_set(err, rc, "field '%s': decimal scale %d out of range",
                          f->name, (int)t->scale);
    return rc;
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST: {
    bool large = t->id == OA_TYPE_LARGE_LIST;
    int64_t s = oa_offset_at_(a, large, j), e = oa_offset_at_(a, large, j + 1);
    return put_list(&f->children[0], &a->children[0], s, e - s, json, o, err);
  }
  case OA_TYPE_FIXED_SIZE_LIST: {
    int64_t n = t->list_size;
    return put_list(&f->children[0], &a->children[0], j * n, n, json, o, err);
  }
  case OA_TYPE_STRUCT:
    OA_RETURN_NOT_OK(put(o, "{"));
    for (int64_t k = 0; k < f->n_children; k++) {
      if (k) OA_RETURN_NOT_OK(put(o, json ? "," : ", "));
      OA_RETURN_NOT_OK(put_key(o, f->children[k].name, json));
      OA_RETURN_NOT_OK(fmt(&f->children[k], &a->children[k], j, json, o, err));
    }
    return put(o, "}");
  case OA_TYPE_MAP: {
    int64_t s = oa_offset_at_(a, false, j), e = oa_offset_at_(a, false, j + 1);
    const oa_field *ef = &f->children[0];
    const oa_array *ea = &a->children[0];
    if (ef->n_children != 2 || ea->n_children != 2)
      return oa_error_set(err, EINVAL, "field '%s': malformed map", f->name);
    OA_RETURN_NOT_OK(put(o, json ? "[" : "{"));
    for (int64_t k = s; k < e; k++) {
      if (k > s) OA_RETURN_NOT_OK(put(o, json ? "," : ", "));
      if (json) OA_RETURN_NOT_OK(put(o, "["));
      OA_RETURN_NOT_OK(fmt(&ef->children[0], &ea->children[0], ea->offset + k,
                           json, o, err));
      OA_RETURN_NOT_OK(put(o, json ? "," : ": "));
      OA_RETURN_NOT_OK(fmt(&ef->children[1], &ea->children[1], ea->offset + k,
                           json, o, err));
      if (json) OA_RETURN_NOT_OK(put(o, "]"));
    }
    return put(o, json ? "]" : "}");
  }
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION: {
    int c;
    int64_t row = oa_union_child_row_(f, a, i, &c);
    if (c < 0 || c >= a->n_children)
      return oa_error_set(err, EINVAL,
                          "field '%s': row %lld: bad union type "
                          "code",
                          f->name, (long long)i);
    return fmt(&f->children[c], &a->children[c], row, json, o, err);
  }
  default:
    return oa_error_set(err, ENOTSUP, "field '%s': cannot format type %s",
                        f->name, oa_type_name(t->id));
  }
}

int oa_format_value(const oa_field *f, const oa_array *a, int64_t i,
                    oa_format_style style, oa_bytes *out, oa_error *err) {
  int rc = fmt(f, a, i, style == OA_FORMAT_JSON, out, err);
  if (rc == ENOMEM) return oa_error_set(err, rc, "format: out of memory");
  return rc;
}

int oa_format_field_json(const oa_field *f, oa_bytes *out, oa_error *err) {
  char small[512];
  char *type = small;
  int n = oa_field_format_type(f, small, sizeof small);
  if (n >= (int)sizeof small) {
    type = malloc((size_t)n + 1);
    if (!type) return oa_error_set(err, ENOMEM, "format: out of memory");
    oa_field_format_type(f, type, (size_t)n + 1);
  }
  int rc = 0;
  const char *name = f->name ? f->name : "";
  OA_GOTO_NOT_OK(rc, put(out, "{\"name\":"), done);
  OA_GOTO_NOT_OK(
      rc, put_string(out, (const uint8_t *)name, (int64_t)strlen(name), true),
      done);
  OA_GOTO_NOT_OK(rc, put(out, ",\"type\":"), done);
  OA_GOTO_NOT_OK(
      rc, put_string(out, (const uint8_t *)type, (int64_t)strlen(type), true),
      done);
  OA_GOTO_NOT_OK(
      rc, put(out, f->nullable ? ",\"nullable\":true" : ",\"nullable\":false"),
      done);
  OA_GOTO_NOT_OK(rc, put(out, ",\"children\":["), done);
  for (int64_t k = 0; k < f->n_children; k++) {
    if (k) OA_GOTO_NOT_OK(rc, put(out, ","), done);
    OA_GOTO_NOT_OK(rc, oa_format_field_json(&f->children[k], out, err), done);
  }
  OA_GOTO_NOT_OK(rc, put(out, "],\"metadata\":{"), done);
  for (int64_t k = 0; k < f->metadata.n; k++) {
    const oa_kv *kv = &f->metadata.items[k];
    if (k) OA_GOTO_NOT_OK(rc, put(out, ","), done);
    OA_GOTO_NOT_OK(
        rc, put_string(out, (const uint8_t *)kv->key, kv->key_len, true), done);
    OA_GOTO_NOT_OK(rc, put(out, ":"), done);
    OA_GOTO_NOT_OK(
        rc, put_string(out, (const uint8_t *)kv->value, kv->value_len, true),
        done);
  }
  OA_GOTO_NOT_OK(rc, put(out, "}}"), done);
done:
  if (type != small) free(type);
  if (rc == ENOMEM) return oa_error_set(err, rc, "format: out of memory");
  return rc;
}
