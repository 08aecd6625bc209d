/* Helper of tests/store/test_crash.sh.
 *
 *   store_crash_client put HOST:PORT FIRST COUNT
 *     DoPut of batches FIRST.. FIRST+COUNT-1 to dataset "crash", each with
 *     app_metadata "oa-batch-id:b<K>" (ROWS rows, column k = K, column i =
 *     row). Prints "K" for each acknowledged batch as the ack arrives; exits
 *     3 when the server goes away.
 *   store_crash_client check HOST:PORT ACKED_FILE
 *     DoGet "crash": every batch listed in ACKED_FILE must be there with
 *     exactly ROWS rows, and no batch may be there more than once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/flight_client.h"

#define ROWS 100
#define PER_STREAM 10

static oa_schema *schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  const char *names[] = {"k", "i"};
  for (int c = 0; c < 2; c++) {
    oa_field f;
    oa_field_init(&f, names[c], OA_TYPE_INT64, NULL);
    oa_schema_add_field(s, &f, NULL);
  }
  return s;
}

static void make_batch(oa_batch *b, oa_schema *s, int64_t k) {
  oa_array cols[2];
  for (int c = 0; c < 2; c++) {
    oa_region *r = oa_region_alloc(ROWS * 8);
    for (int64_t i = 0; i < ROWS; i++)
      ((int64_t *)r->data)[i] = c == 0 ? k : i;
    oa_array_init(&cols[c]);
    cols[c].length = ROWS;
    cols[c].null_count = 0;
    cols[c].n_buffers = 2;
    cols[c].buffers[1] = (oa_buffer){r->data, ROWS * 8, r};
  }
  oa_batch_init(b);
  oa_batch_set(b, s, ROWS, cols, NULL);
}

static void on_ack(void *ctx, const uint8_t *md, int64_t len) {
  (void)ctx;
  if (len > 13 && memcmp(md, "oa-batch-id:b", 13) == 0) {
    printf("%.*s\n", (int)(len - 13), (const char *)md + 13);
    fflush(stdout);
  }
}

static int put(oa_flight_client *c, long long first, long long count) {
  oa_schema *s = schema();
  int rc = 0;
  for (long long at = first; !rc && at < first + count; at += PER_STREAM) {
    int64_t n =
        first + count - at < PER_STREAM ? first + count - at : PER_STREAM;
    oa_batch bs[PER_STREAM];
    oa_buffer md[PER_STREAM];
    char ids[PER_STREAM][40];
    for (int64_t j = 0; j < n; j++) {
      make_batch(&bs[j], s, at + j);
      int l = snprintf(ids[j], sizeof ids[j], "oa-batch-id:b%lld", at + j);
      md[j] = (oa_buffer){(const uint8_t *)ids[j], l, NULL};
    }
    oa_error err;
    rc = oa_flight_client_do_put(c, "crash", s, bs, n, NULL, md, NULL, &err);
    if (rc) fprintf(stderr, "put: %s\n", err.message);
    for (int64_t j = 0; j < n; j++)
      oa_batch_reset(&bs[j]);
  }
  oa_schema_release(s);
  return rc ? 3 : 0;
}

static int check(oa_flight_client *c, const char *acked_file) {
  oa_schema *s = NULL;
  oa_batch *bs = NULL;
  int64_t n = 0;
  oa_error err;
  if (oa_flight_client_do_get_all(c, "crash", 5, &s, &bs, &n, &err)) {
    fprintf(stderr, "check: DoGet: %s\n", err.message);
    return 1;
  }
  enum { MAXK = 1 << 20 };
  int32_t *rows = calloc(MAXK, sizeof *rows);
  int64_t total = 0;
  int bad = 0;
  for (int64_t b = 0; b < n; b++)
    for (int64_t r = 0; r < bs[b].length; r++) {
      int64_t k = oa_array_get_int(&s->fields[0], &bs[b].columns[0], r);
      if (k < 0 || k >= MAXK) {
        fprintf(stderr, "check: unexpected k %lld\n", (long long)k);
        bad = 1;
        continue;
      }
      rows[k]++;
      total++;
    }
  for (int64_t k = 0; k < MAXK; k++)
    if (rows[k] != 0 && rows[k] != ROWS) {
      fprintf(stderr, "check: batch %lld has %d rows (stored %s)\n",
              (long long)k, rows[k], rows[k] > ROWS ? "twice" : "in part");
      bad = 1;
    }
  FILE *f = fopen(acked_file, "r");
  long long k, acked = 0, missing = 0;
  while (f && fscanf(f, "%lld", &k) == 1) {
    acked++;
    if (k < 0 || k >= MAXK || rows[k] != ROWS) {
      if (missing < 10)
        fprintf(stderr, "check: acknowledged batch %lld is missing\n", k);
      missing++;
      bad = 1;
    }
  }
  if (f) fclose(f);
  printf("check: %lld rows in %lld batches, %lld acknowledged, %lld "
         "missing\n",
         (long long)total, (long long)total / ROWS, acked, missing);
  free(rows);
  oa_flight_batches_free(s, bs, n);
  return bad;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: see the comment at the top of the source\n");
    return 2;
  }
  char uri[300];
  snprintf(uri, sizeof uri, "grpc://%s", argv[2]);
  oa_flight_client_options o;
  oa_flight_client_options_init(&o);
  o.deadline_ms = 20000;
  oa_flight_client *c;
  oa_error err;
  if (oa_flight_client_new(&c, uri, &o, &err)) {
    fprintf(stderr, "%s\n", err.message);
    return 2;
  }
  oa_flight_client_set_ack_handler(c, on_ack, NULL);
  int rc = 2;
  if (strcmp(argv[1], "put") == 0 && argc == 5)
    rc = put(c, atoll(argv[3]), atoll(argv[4]));
  else if (strcmp(argv[1], "check") == 0)
    rc = check(c, argv[3]);
  oa_flight_client_free(c);
  return rc;
}
