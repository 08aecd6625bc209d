/* libFuzzer target: the IPC file reader over the input in memory
 * (zero-copy), reading every batch the footer lists. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  oa_ipc_read_options opt;
  oa_fuzz_read_options(&opt);
  oa_region *region = oa_fuzz_wrap(data, size);
  oa_buffer buf = {data, (int64_t)size, region};
  oa_ipc_file_reader *r = NULL;
  oa_error err;
  if (oa_ipc_file_reader_open_buffer(&r, &buf, &opt, &err) == 0) {
    const int64_t n = oa_ipc_file_reader_n_batches(r);
    for (int64_t i = 0; i < n; i++) {
      oa_batch b;
      oa_batch_init(&b);
      if (oa_ipc_file_reader_read(r, i, &b, &err) == 0) oa_fuzz_walk(&b);
      oa_batch_reset(&b);
    }
    oa_ipc_file_reader_free(r);
  }
  oa_fuzz_release_last(region);
  return 0;
}
