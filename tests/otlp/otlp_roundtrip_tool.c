/* oa_otlp_tool: a test helper for the interop tests.
 *
 *   oa_otlp_tool IN.pb OUT.json OUT.pb
 *       decodes the OTLP protobuf request IN.pb into a span batch, writes the
 *       batch as JSON to OUT.json and the re-encoded OTLP protobuf to OUT.pb.
 *   oa_otlp_tool --json IN.json OUT.json OUT.pb
 *       the same from an OTLP/JSON request.
 *
 * OUT.json: {"accepted":N,"rejected":N,"error":"...","columns":[names],
 * "rows":[[v, ...], ...],"types":[t, ...]} where every value is
 * oa_format_value's JSON form of that column at that row (the form
 * `otlparrow inspect --json` uses: an attribute value is printed as its union
 * child's value, which does not tell an int64 "5" from a string "5"), and
 * types[i] gives row i's attribute value type codes (the dense union's type
 * ids): {"attributes":[c,...],"resource_attributes":[...],
 * "scope_attributes":[...],"events":[[...],...],"links":[[...],...]}.
 * Exit status 0 on success, 1 with a message on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/format.h"
#include "otlparrow/otlp.h"

static uint8_t *slurp(const char *path, int64_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  oa_bytes b;
  oa_bytes_init(&b);
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    if (oa_bytes_append(&b, buf, (int64_t)n)) {
      fclose(f);
      oa_bytes_reset(&b);
      return NULL;
    }
  fclose(f);
  *size = b.size;
  if (oa_bytes_reserve(&b, 1)) return NULL;
  b.data[b.size] = 0;
  return b.data; /* aligned allocation: freed with oa_bytes_reset */
}

static int spill(const char *path, const void *d, int64_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(d, 1, (size_t)n, f) : 0;
  int rc = fclose(f);
  return (w == (size_t)n && rc == 0) ? 0 : -1;
}

static int put(oa_bytes *o, const char *s) {
  return oa_bytes_append(o, s, (int64_t)strlen(s));
}

static int put_json_str(oa_bytes *o, const char *s) {
  int rc = put(o, "\"");
  for (; *s && !rc; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      rc = oa_bytes_append(o, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      rc = put(o, esc);
    } else {
      rc = oa_bytes_append(o, s, 1);
    }
  }
  return rc ? rc : put(o, "\"");
}

/* type codes of map element i ("[c,...]"); m is a map array whose values
 * are the attribute dense union */
static int put_codes(oa_bytes *o, const oa_array *m, int64_t i) {
  const int32_t *lo = (const int32_t *)m->buffers[1].data;
  const oa_array *u = &m->children[0].children[1];
  int rc = put(o, "[");
  for (int32_t k = lo[m->offset + i]; k < lo[m->offset + i + 1] && !rc; k++) {
    char num[16];
    snprintf(num, sizeof num, "%s%d", k > lo[m->offset + i] ? "," : "",
             (int8_t)u->buffers[0].data[u->offset + k]);
    rc = put(o, num);
  }
  return rc ? rc : put(o, "]");
}

/* the same through an int32 dictionary index */
static int put_dict_codes(oa_bytes *o, const oa_array *a, int64_t i) {
  const int32_t *idx = (const int32_t *)a->buffers[1].data;
  return put_codes(o, a->dictionary, idx[a->offset + i]);
}

/* the codes of every item's attributes of list<struct> element i, the
 * attribute map being the struct's child `child` */
static int put_list_codes(oa_bytes *o, const oa_array *l, int64_t i,
                          int child) {
  const int32_t *lo = (const int32_t *)l->buffers[1].data;
  const oa_array *m = &l->children[0].children[child];
  int rc = put(o, "[");
  for (int32_t k = lo[l->offset + i]; k < lo[l->offset + i + 1] && !rc; k++) {
    if (k > lo[l->offset + i]) rc = put(o, ",");
    if (!rc) rc = put_codes(o, m, k);
  }
  return rc ? rc : put(o, "]");
}

static int put_types(oa_bytes *o, const oa_batch *b, int64_t i) {
  const oa_array *c = b->columns;
  int rc = put(o, "{\"attributes\":");
  if (!rc) rc = put_codes(o, &c[OA_SPAN_ATTRIBUTES], i);
  if (!rc) rc = put(o, ",\"resource_attributes\":");
  if (!rc) rc = put_dict_codes(o, &c[OA_SPAN_RESOURCE_ATTRIBUTES], i);
  if (!rc) rc = put(o, ",\"scope_attributes\":");
  if (!rc) rc = put_dict_codes(o, &c[OA_SPAN_SCOPE_ATTRIBUTES], i);
  if (!rc) rc = put(o, ",\"events\":");
  if (!rc) rc = put_list_codes(o, &c[OA_SPAN_EVENTS], i, 2);
  if (!rc) rc = put(o, ",\"links\":");
  if (!rc) rc = put_list_codes(o, &c[OA_SPAN_LINKS], i, 4);
  return rc ? rc : put(o, "}");
}

int main(int argc, char **argv) {
  bool json = argc == 5 && strcmp(argv[1], "--json") == 0;
  if (argc != 4 && !json) {
    fprintf(stderr, "usage: oa_otlp_tool [--json] IN OUT.json OUT.pb\n");
    return 2;
  }
  const char *in = argv[json ? 2 : 1], *out_json = argv[json ? 3 : 2],
             *out_pb = argv[json ? 4 : 3];
  int64_t size = 0;
  uint8_t *data = slurp(in, &size);
  if (!data) {
    fprintf(stderr, "oa_otlp_tool: cannot read %s\n", in);
    return 1;
  }
  oa_error err = {0};
  oa_batch batch;
  oa_batch_init(&batch);
  oa_otlp_result res;
  int rc = json ? oa_otlp_decode_traces_json((const char *)data, size, NULL,
                                             &batch, &res, &err)
                : oa_otlp_decode_traces(data, size, NULL, &batch, &res, &err);
  if (rc) {
    fprintf(stderr, "oa_otlp_tool: decode %s: %s\n", in, err.message);
    return 1;
  }
  oa_bytes o;
  oa_bytes_init(&o);
  char num[64];
  snprintf(num, sizeof num, "{\"accepted\":%lld,\"rejected\":%lld,\"error\":",
           (long long)res.accepted_spans, (long long)res.rejected_spans);
  rc = put(&o, num);
  if (!rc) rc = put_json_str(&o, res.error_message);
  if (!rc) rc = put(&o, ",\"columns\":[");
  for (int64_t c = 0; c < batch.n_columns && !rc; c++) {
    if (c) rc = put(&o, ",");
    if (!rc) rc = put_json_str(&o, batch.schema->fields[c].name);
  }
  if (!rc) rc = put(&o, "],\"rows\":[");
  for (int64_t i = 0; i < batch.length && !rc; i++) {
    rc = put(&o, i ? ",\n[" : "\n[");
    for (int64_t c = 0; c < batch.n_columns && !rc; c++) {
      if (c) rc = put(&o, ",");
      if (!rc)
        rc = oa_format_value(&batch.schema->fields[c], &batch.columns[c], i,
                             OA_FORMAT_JSON, &o, &err);
    }
    if (!rc) rc = put(&o, "]");
  }
  if (!rc) rc = put(&o, "],\"types\":[");
  for (int64_t i = 0; i < batch.length && !rc; i++) {
    rc = put(&o, i ? ",\n" : "\n");
    if (!rc) rc = put_types(&o, &batch, i);
  }
  if (!rc) rc = put(&o, "]}\n");
  if (rc) {
    fprintf(stderr, "oa_otlp_tool: format: %s\n", err.message);
    return 1;
  }
  if (spill(out_json, o.data, o.size)) {
    fprintf(stderr, "oa_otlp_tool: cannot write %s\n", out_json);
    return 1;
  }
  oa_bytes pb;
  oa_bytes_init(&pb);
  if (oa_otlp_encode_traces(&batch, &pb, &err)) {
    fprintf(stderr, "oa_otlp_tool: encode: %s\n", err.message);
    return 1;
  }
  if (spill(out_pb, pb.data, pb.size)) {
    fprintf(stderr, "oa_otlp_tool: cannot write %s\n", out_pb);
    return 1;
  }
  oa_bytes_reset(&pb);
  oa_bytes_reset(&o);
  oa_batch_reset(&batch);
  oa_bytes b = {data, size, size + 1};
  oa_bytes_reset(&b);
  return 0;
}
