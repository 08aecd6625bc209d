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

  oa_buffer all = {data, (int64_t)size, region};
  oa_fuzz_read_messages(&all, &opt);
  oa_fuzz_release_last(region);
  return 0;
}
