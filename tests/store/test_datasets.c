/* The in-memory datasets: references not copies, memory accounting by
 * region, limits, schema checks, listing, dropping, concurrent appends. */
#include <pthread.h>

#include "otlparrow/dataset.h"
#include "test.h"

/* A schema of int64 columns with these names. */
static oa_schema *int_schema(const char *const *names, int n, oa_type_id t) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  for (int i = 0; i < n; i++) {
    oa_field f;
    oa_field_init(&f, names[i], t, NULL);
    oa_schema_add_field(s, &f, NULL);
  }
  return s;
}

/* A batch of `rows` int64 rows per column; every column views one new
 * region of rows*8 bytes (values i*mult). */
static void int_batch(oa_batch *b, oa_schema *s, int64_t rows, int64_t mult) {
  oa_region *r = oa_region_alloc(rows * 8);
  for (int64_t i = 0; i < rows; i++)
    ((int64_t *)r->data)[i] = i * mult;
  oa_array cols[4];
  for (int64_t c = 0; c < s->n_fields; c++) {
    oa_array_init(&cols[c]);
    cols[c].length = rows;
    cols[c].null_count = 0;
    cols[c].n_buffers = 2;
    cols[c].buffers[1].data = r->data;
    cols[c].buffers[1].size = rows * 8;
    cols[c].buffers[1].region = r;
    oa_region_retain(r);
  }
  oa_region_release(r);
  oa_batch_init(b);
  oa_batch_set(b, s, rows, cols, NULL);
}

static const char *const kX[] = {"x"};
static const char *const kXY[] = {"x", "y"};

OA_TEST(test_append_snapshot_zero_copy) {
  oa_error err_, *err = &err_;
  oa_datasets *d;
  CHECK_OK(oa_datasets_new(&d, 0, err), err);
  oa_schema *s = int_schema(kX, 1, OA_TYPE_INT64);
  oa_batch in[3];
  for (int i = 0; i < 3; i++) {
    int_batch(&in[i], s, 100, i + 1);
    CHECK_OK(oa_datasets_append(d, "t", &in[i], err), err);
  }
  int64_t region_size = in[0].columns[0].buffers[1].region->size;
  CHECK(region_size >= 800);
  oa_dataset_info info;
  CHECK_OK(oa_datasets_info(d, "t", &info, err), err);
  CHECK_EQ_STR(info.name, "t");
  CHECK_EQ_INT(info.n_batches, 3);
  CHECK_EQ_INT(info.n_rows, 300);
  CHECK_EQ_INT(info.n_bytes, 3 * region_size);
  CHECK(oa_schema_equals(info.schema, s, true, NULL));
  oa_schema_release(info.schema);
  CHECK_EQ_INT(oa_datasets_memory_used(d), 3 * region_size);
  /* the dataset holds a reference: region refcount 1 (ours) + 1 */
  CHECK_EQ_INT(atomic_load(&in[0].columns[0].buffers[1].region->refcount), 2);

  oa_schema *ss;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(d, "t", &ss, &bs, &n, err), err);
  CHECK_EQ_INT(n, 3);
  for (int i = 0; i < 3 && n == 3; i++) {
    CHECK(oa_batch_equals(&bs[i], &in[i], err));
    CHECK(bs[i].columns[0].buffers[1].data == in[i].columns[0].buffers[1].data);
    CHECK_EQ_INT(oa_array_get_int(&s->fields[0], &bs[i].columns[0], 99),
                 99 * (i + 1));
  }
  /* a snapshot stays valid after the dataset is dropped */
  CHECK_OK(oa_datasets_drop(d, "t", err), err);
  CHECK_EQ_INT(oa_datasets_memory_used(d), 0);
  CHECK_EQ_INT(oa_array_get_int(&s->fields[0], &bs[2].columns[0], 50), 150);
  oa_datasets_snapshot_free(ss, bs, n);
  CHECK_EQ_INT(atomic_load(&in[0].columns[0].buffers[1].region->refcount), 1);
  CHECK_FAILS(oa_datasets_snapshot(d, "t", &ss, &bs, &n, err), ENOENT, err,
              "'t'");
  CHECK_FAILS(oa_datasets_drop(d, "t", err), ENOENT, err, "does not exist");
  CHECK_FAILS(oa_datasets_info(d, "t", &info, err), ENOENT, err, "'t'");
  for (int i = 0; i < 3; i++)
    oa_batch_reset(&in[i]);
  oa_schema_release(s);
  oa_datasets_free(d);
}

OA_TEST(test_shared_region_counted_once) {
  oa_error err_, *err = &err_;
  oa_datasets *d;
  CHECK_OK(oa_datasets_new(&d, 0, err), err);
  oa_schema *s = int_schema(kXY, 2, OA_TYPE_INT64);
  oa_batch b;
  int_batch(&b, s, 64, 1); /* both columns view one region */
  CHECK_OK(oa_datasets_append(d, "two", &b, err), err);
  CHECK_EQ_INT(oa_datasets_memory_used(d),
               b.columns[0].buffers[1].region->size);
  oa_batch_reset(&b);
  oa_schema_release(s);
  oa_datasets_free(d);
}

OA_TEST(test_schema_mismatch) {
  oa_error err_, *err = &err_;
  oa_datasets *d;
  CHECK_OK(oa_datasets_new(&d, 0, err), err);
  oa_schema *s = int_schema(kXY, 2, OA_TYPE_INT64);
  oa_schema *other_type = int_schema(kXY, 2, OA_TYPE_INT32);
  oa_schema *one = int_schema(kX, 1, OA_TYPE_INT64);
  const char *const xz[] = {"x", "z"};
  oa_schema *renamed = int_schema(xz, 2, OA_TYPE_INT64);
  oa_batch b;
  int_batch(&b, s, 10, 1);
  CHECK_OK(oa_datasets_append(d, "t", &b, err), err);
  oa_batch_reset(&b);
  int_batch(&b, other_type, 10, 1);
  CHECK_FAILS(oa_datasets_append(d, "t", &b, err), EINVAL, err, "column 0 'x'");
  oa_batch_reset(&b);
  int_batch(&b, one, 10, 1);
  CHECK_FAILS(oa_datasets_append(d, "t", &b, err), EINVAL, err,
              "column 1 'y' is missing");
  oa_batch_reset(&b);
  int_batch(&b, renamed, 10, 1);
  CHECK_FAILS(oa_datasets_append(d, "t", &b, err), EINVAL, err, "column 1 'y'");
  oa_batch_reset(&b);
  CHECK_FAILS(oa_datasets_create(d, "t", one, err), EINVAL, err, "'y'");
  CHECK_OK(oa_datasets_create(d, "t", s, err), err);
  CHECK_OK(oa_datasets_create(d, "empty", one, err), err);
  oa_dataset_info info;
  CHECK_OK(oa_datasets_info(d, "empty", &info, err), err);
  CHECK_EQ_INT(info.n_rows, 0);
  CHECK_EQ_INT(info.n_batches, 0);
  oa_schema_release(info.schema);
  CHECK_FAILS(oa_datasets_append(d, "", &b, err), EINVAL, err,
              "empty dataset name");
  /* nothing was added by the refused appends */
  CHECK_OK(oa_datasets_info(d, "t", &info, err), err);
  CHECK_EQ_INT(info.n_rows, 10);
  oa_schema_release(info.schema);
  oa_schema_release(s);
  oa_schema_release(other_type);
  oa_schema_release(one);
  oa_schema_release(renamed);
  oa_datasets_free(d);
}

OA_TEST(test_memory_limit) {
  oa_error err_, *err = &err_;
  oa_schema *s = int_schema(kX, 1, OA_TYPE_INT64);
  oa_batch b;
  int_batch(&b, s, 100, 1);
  int64_t size = b.columns[0].buffers[1].region->size;
  oa_datasets *d;
  CHECK_OK(oa_datasets_new(&d, 2 * size + size / 2, err), err);
  CHECK_EQ_INT(oa_datasets_memory_limit(d), 2 * size + size / 2);
  CHECK_OK(oa_datasets_append(d, "a", &b, err), err);
  CHECK_OK(oa_datasets_append(d, "b", &b, err), err);
  CHECK_FAILS(oa_datasets_append(d, "a", &b, err), EAGAIN, err,
              "memory limit reached");
  CHECK_EQ_INT(oa_datasets_memory_used(d), 2 * size);
  /* a batch larger than the whole limit can never fit */
  oa_batch big;
  int_batch(&big, s, 400, 1);
  CHECK_FAILS(oa_datasets_append(d, "a", &big, err), E2BIG, err,
              "exceeds the memory limit");
  oa_batch_reset(&big);
  /* what was accepted is all still there */
  oa_dataset_info *infos;
  int64_t n;
  CHECK_OK(oa_datasets_list(d, &infos, &n, err), err);
  CHECK_EQ_INT(n, 2);
  if (n == 2) {
    CHECK_EQ_STR(infos[0].name, "a");
    CHECK_EQ_STR(infos[1].name, "b");
    CHECK_EQ_INT(infos[0].n_rows, 100);
    CHECK_EQ_INT(infos[1].n_bytes, size);
  }
  oa_dataset_info_free(infos, n);
  CHECK_OK(oa_datasets_drop(d, "a", err), err);
  CHECK_EQ_INT(oa_datasets_memory_used(d), size);
  CHECK_OK(oa_datasets_append(d, "b", &b, err), err);
  CHECK_EQ_INT(oa_datasets_memory_used(d), 2 * size);
  oa_batch_reset(&b);
  oa_schema_release(s);
  oa_datasets_free(d);
  CHECK_FAILS(oa_datasets_new(&d, -1, err), EINVAL, err, "max_memory");
}

typedef struct worker_arg {
  oa_datasets *d;
  oa_schema *s;
  int failures;
} worker_arg;

static void *append_worker(void *p) {
  worker_arg *a = p;
  for (int i = 0; i < 500; i++) {
    oa_batch b;
    int_batch(&b, a->s, 10, i);
    if (oa_datasets_append(a->d, "spans", &b, NULL) != 0) a->failures++;
    oa_batch_reset(&b);
  }
  return NULL;
}

static void *snapshot_worker(void *p) {
  worker_arg *a = p;
  int64_t last = 0;
  for (int i = 0; i < 200; i++) {
    oa_schema *ss;
    oa_batch *bs;
    int64_t n;
    if (oa_datasets_snapshot(a->d, "spans", &ss, &bs, &n, NULL) == 0) {
      if (n < last) a->failures++; /* batches never disappear */
      last = n;
      oa_datasets_snapshot_free(ss, bs, n);
    }
  }
  return NULL;
}

OA_TEST(test_concurrent_appends) {
  oa_error err_, *err = &err_;
  oa_datasets *d;
  CHECK_OK(oa_datasets_new(&d, 0, err), err);
  oa_schema *s = int_schema(kX, 1, OA_TYPE_INT64);
  CHECK_OK(oa_datasets_create(d, "spans", s, err), err);
  pthread_t t[5];
  worker_arg a[5];
  for (int i = 0; i < 5; i++) {
    a[i] = (worker_arg){d, s, 0};
    pthread_create(&t[i], NULL, i < 4 ? append_worker : snapshot_worker, &a[i]);
  }
  for (int i = 0; i < 5; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 5; i++)
    CHECK_EQ_INT(a[i].failures, 0);
  oa_dataset_info info;
  CHECK_OK(oa_datasets_info(d, "spans", &info, err), err);
  CHECK_EQ_INT(info.n_batches, 2000);
  CHECK_EQ_INT(info.n_rows, 20000);
  CHECK_EQ_INT(info.n_bytes, oa_datasets_memory_used(d));
  oa_schema_release(info.schema);
  oa_schema_release(s);
  oa_datasets_free(d);
}

OA_TEST_MAIN(OA_T(test_append_snapshot_zero_copy),
             OA_T(test_shared_region_counted_once), OA_T(test_schema_mismatch),
             OA_T(test_memory_limit), OA_T(test_concurrent_appends))
