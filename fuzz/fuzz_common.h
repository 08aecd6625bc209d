/* Shared by the libFuzzer targets: tight read limits so that a hostile
 * input cannot make a target allocate gigabytes (libFuzzer's -rss_limit_mb
 * would report that as a finding), and a region over the fuzzer's own input
 * so that AddressSanitizer sees any read past its end. */
#ifndef OA_FUZZ_COMMON_H
#define OA_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "otlparrow/ipc.h"

static inline void oa_fuzz_read_options(oa_ipc_read_options *opt) {
  oa_ipc_read_options_init(opt);
  opt->max_metadata_size = 1 << 20;
  opt->max_body_size = 64 << 20;
  opt->max_decompressed_size = 64 << 20;
  opt->max_dictionary_size = 1 << 20;
  opt->max_depth = 32;
  opt->validate = true;
  opt->check_utf8 = true;
}

static void oa_fuzz_no_release(void *p) { (void)p; }

/* A region that borrows [data, data+size): no copy, no padding. */
static inline oa_region *oa_fuzz_wrap(const uint8_t *data, size_t size) {
  oa_region *r =
      oa_region_wrap((void *)data, (int64_t)size, oa_fuzz_no_release, NULL);
  if (!r) abort();
  return r;
}

/* Every reference the library took must be gone once everything it
 * returned was freed: a leftover one is a reference leak. */
static inline void oa_fuzz_release_last(oa_region *r) {
  long refs = atomic_load(&r->refcount);
  if (refs != 1) {
    fprintf(stderr,
            "oa fuzz: reference leak: the input's region still has "
            "%ld references after everything was freed (expected 1)\n",
            refs);
    abort();
  }
  oa_region_release(r);
}

/* Touches every element of a batch the way a consumer would. */
static inline void oa_fuzz_walk(const oa_batch *b) {
  volatile int64_t sink = 0;
  for (int64_t c = 0; c < b->n_columns; c++) {
    const oa_field *f = &b->schema->fields[c];
    oa_array *a = &b->columns[c];
    sink += oa_array_null_count(f, a);
    for (int64_t i = 0; i < a->length; i++)
      sink += oa_array_is_null(f, a, i);
  }
  (void)sink;
}

/* Reads all as framed messages one by one (oa_ipc_message_read) and decodes
 * each, walking every record batch: how the exporter replays an Arrow queue
 * file. Stops at the end or at the first error. */
static inline void oa_fuzz_read_messages(const oa_buffer *all,
                                         const oa_ipc_read_options *opt) {
  oa_ipc_decoder *dec = NULL;
  if (oa_ipc_decoder_new(&dec, opt, NULL) != 0) return;
  oa_error err;
  int64_t pos = 0;
  for (int rc = 0; rc == 0;) {
    oa_ipc_message m;
    oa_ipc_message_init(&m);
    rc = oa_ipc_message_read(all, &pos, opt->max_depth, &m, &err);
    if (rc == 0 && m.type == OA_IPC_MSG_NONE) rc = -1; /* the end */
    if (rc == 0) {
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
  }
  oa_ipc_decoder_free(dec);
}

#endif
