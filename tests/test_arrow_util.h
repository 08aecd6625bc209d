/* Helpers shared by the Arrow core and IPC unit tests: field construction
 * and building a batch column by column with the builders. */
#ifndef OA_TEST_SHARED_ARROW_UTIL_H
#define OA_TEST_SHARED_ARROW_UTIL_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "test.h"

static inline oa_field tf(const char *name, oa_type_id id) {
  oa_field f;
  oa_field_init(&f, name, id, NULL);
  return f;
}

static inline void tchild(oa_field *parent, oa_field child) {
  oa_field_add_child(parent, &child, NULL);
}

/* Appends row r of field f to b. */
typedef int (*t_append_fn)(oa_builder *b, const oa_field *f, int64_t r);

/* A batch of n rows of schema s, each column filled row by row with
 * append; on failure err names the field. */
static inline int tbuild_batch(oa_schema *s, int64_t n, t_append_fn append,
                               oa_batch *out, oa_error *err) {
  oa_array *cols = calloc((size_t)s->n_fields, sizeof *cols);
  int rc = 0;
  for (int64_t i = 0; i < s->n_fields && !rc; i++) {
    oa_builder b;
    rc = oa_builder_init(&b, &s->fields[i], 0, err);
    if (rc) break;
    for (int64_t r = 0; r < n && !rc; r++)
      rc = append(&b, &s->fields[i], r);
    if (rc)
      oa_error_set(err, rc, "append to field '%s' failed", s->fields[i].name);
    if (!rc) rc = oa_builder_finish(&b, &cols[i], err);
    oa_builder_reset(&b);
  }
  if (!rc) rc = oa_batch_set(out, s, n, cols, err);
  for (int64_t i = 0; i < s->n_fields; i++)
    oa_array_reset(&cols[i]);
  free(cols);
  return rc;
}

#endif
