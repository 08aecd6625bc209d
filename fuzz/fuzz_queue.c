/* libFuzzer target: the exporter's queue files (the replay path and what
 * otlparrow inspect opens). The first byte picks: even, the rest is a queue
 * file checked as it stands (header, lengths, checksums); odd, the rest is
 * a payload wrapped in a valid header (bit 1: Arrow, else OTLP), so that the
 * payload readers behind the checksums are reached too. Seeds under
 * fuzz/corpus/queue/. */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "exporter/exporter_internal.h"
#include "fuzz_common.h"
#include "otlparrow/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The payload as the exporter's replay reads it. */
static void read_payload(const oa_exp_queue_entry *e, const uint8_t *p,
                         int64_t n) {
  oa_error err;
  if (e->format == OA_EXP_QUEUE_OTLP) {
    oa_batch b;
    oa_batch_init(&b);
    if (oa_otlp_decode_traces(p, n, NULL, &b, NULL, &err) == 0)
      oa_fuzz_walk(&b);
    oa_batch_reset(&b);
    return;
  }
  oa_ipc_read_options opt;
  oa_fuzz_read_options(&opt);
  oa_buffer all = {p, n, NULL};
  oa_fuzz_read_messages(&all, &opt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  oa_crc32c_table crc;
  oa_crc32c_init(&crc);
  oa_exp_queue_entry e;
  memset(&e, 0, sizeof e);
  oa_error err;
  const uint8_t *p = data + 1;
  int64_t n = (int64_t)size - 1;
  if ((data[0] & 1) == 0) {
    if (oa_exp_queue_parse(&crc, "fuzz", p, n, &e, &err) == 0)
      read_payload(&e, p + 48, n - 48);
    return 0;
  }
  /* a valid header around the payload, as oa_exp_queue_writev makes it */
  oa_exp_queue_format f =
      (data[0] & 2) ? OA_EXP_QUEUE_ARROW : OA_EXP_QUEUE_OTLP;
  uint8_t *file = malloc((size_t)n + 48);
  if (!file) return 0;
  uint32_t pc = oa_crc32c(&crc, 0, p, (size_t)n), hs = 48;
  int64_t spans = 1;
  memcpy(file, f == OA_EXP_QUEUE_ARROW ? "OAQ2" : "OAQ1", 4);
  memcpy(file + 4, &hs, 4);
  memset(file + 8, 0x5a, 16);
  memcpy(file + 24, &spans, 8);
  memcpy(file + 32, &n, 8);
  memcpy(file + 40, &pc, 4);
  uint32_t hc = oa_crc32c(&crc, 0, file, 44);
  memcpy(file + 44, &hc, 4);
  if (n) memcpy(file + 48, p, (size_t)n);
  if (oa_exp_queue_parse(&crc, "fuzz", file, n + 48, &e, &err) == 0) {
    if (e.format != f) abort(); /* the header says what was written */
    read_payload(&e, file + 48, n);
  } else {
    abort(); /* a well-formed file must parse */
  }
  free(file);
  return 0;
}
