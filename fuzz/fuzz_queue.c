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
  oa_ipc_decoder *dec = NULL;
  if (oa_ipc_decoder_new(&dec, &opt, NULL) != 0) return;
  oa_buffer all = {p, n, NULL};
  int64_t pos = 0;
  for (;;) {
    oa_ipc_message m;
    oa_ipc_message_init(&m);
    int rc = oa_ipc_message_read(&all, &pos, opt.max_depth, &m, &err);
    bool end = rc != 0 || m.type == OA_IPC_MSG_NONE;
    if (!end) {
      oa_buffer body = m.n_segments ? m.segments[0] : (oa_buffer){0};
      oa_batch b;
      oa_batch_init(&b);
      oa_ipc_msg_type t;
      rc = oa_ipc_decoder_decode(dec, m.metadata.data, m.metadata.size, &body,
                                 &t, &b, &err);
      if (rc == 0 && t == OA_IPC_MSG_RECORD_BATCH) oa_fuzz_walk(&b);
      oa_batch_reset(&b);
      end = rc != 0;
    }
    oa_ipc_message_reset(&m);
    if (end) break;
  }
  oa_ipc_decoder_free(dec);
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
