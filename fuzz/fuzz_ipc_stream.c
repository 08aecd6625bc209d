/* libFuzzer target: the IPC stream reader, fed in up to three pieces so that
 * messages straddle pushes. Odd-sized inputs are copied in with push, even
 * ones are handed over zero-copy with push_buffer. Then the same bytes
 * message by message with oa_ipc_message_read and a decoder, as the
 * exporter replays its queue files. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  oa_ipc_read_options opt;
  oa_fuzz_read_options(&opt);
  oa_ipc_stream_reader *r = NULL;
  if (oa_ipc_stream_reader_new(&r, &opt, NULL) != 0) return 0;
  oa_region *region = oa_fuzz_wrap(data, size);
  const bool copy = size & 1;
  const size_t cuts[4] = {0, size / 3, size - size / 4, size};
  oa_error err;
  int rc = 0;
  for (int p = 0; p < 3 && rc == 0; p++) {
    const size_t off = cuts[p], len = cuts[p + 1] - cuts[p];
    if (copy) {
      rc = oa_ipc_stream_reader_push(r, data + off, (int64_t)len, &err);
    } else {
      oa_buffer piece = {data + off, (int64_t)len, region};
      rc = oa_ipc_stream_reader_push_buffer(r, &piece, &err);
    }
    for (;;) {
      if (rc != 0) break;
      oa_batch b;
      oa_batch_init(&b);
      bool got = false;
      rc = oa_ipc_stream_reader_next(r, &b, &got, &err);
      if (rc == 0 && got) oa_fuzz_walk(&b);
      oa_batch_reset(&b);
      if (!got) break;
    }
  }
  if (rc == 0) (void)oa_ipc_stream_reader_close(r, &err);
  oa_ipc_stream_reader_free(r);

  oa_ipc_decoder *dec = NULL;
  if (oa_ipc_decoder_new(&dec, &opt, NULL) == 0) {
    oa_buffer all = {data, (int64_t)size, region};
    int64_t pos = 0;
    for (rc = 0; rc == 0;) {
      oa_ipc_message m;
      oa_ipc_message_init(&m);
      rc = oa_ipc_message_read(&all, &pos, opt.max_depth, &m, &err);
      bool end = rc == 0 && m.type == OA_IPC_MSG_NONE;
      if (rc == 0 && !end) {
        oa_buffer body = m.n_segments ? m.segments[0] : (oa_buffer){0};
        oa_batch b;
        oa_batch_init(&b);
        oa_ipc_msg_type t;
        rc = oa_ipc_decoder_decode(dec, m.metadata.data, m.metadata.size, &body,
                                   &t, &b, &err);
        if (rc == 0 && t == OA_IPC_MSG_RECORD_BATCH) oa_fuzz_walk(&b);
        oa_batch_reset(&b);
      }
      oa_ipc_message_reset(&m);
      if (end) break;
    }
    oa_ipc_decoder_free(dec);
  }
  oa_fuzz_release_last(region);
  return 0;
}
