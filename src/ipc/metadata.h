/* Internal: Arrow IPC metadata (Message.fbs, Schema.fbs, File.fbs) as plain C
 * structs, and their flatbuffer encoding/decoding. The decoder verifies the
 * flatbuffer completely (every offset, vtable, vector and string bounds-
 * checked) before it reads anything, and never trusts a count without
 * checking it against the buffer. */
#ifndef OA_IPC_METADATA_H
#define OA_IPC_METADATA_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "otlparrow/ipc.h"

/* MetadataVersion: V1..V5 are 0..4 in the flatbuffer enum. */
#define OA_IPC_METADATA_V4 3
#define OA_IPC_METADATA_V5 4

/* MessageHeader union tags */
#define OA_IPC_HEADER_SCHEMA 1
#define OA_IPC_HEADER_DICTIONARY_BATCH 2
#define OA_IPC_HEADER_RECORD_BATCH 3
#define OA_IPC_HEADER_TENSOR 4
#define OA_IPC_HEADER_SPARSE_TENSOR 5

typedef struct oa_ipc_field_node {
  int64_t length;
  int64_t null_count;
} oa_ipc_field_node;

typedef struct oa_ipc_buffer_spec {
  int64_t offset;
  int64_t length;
} oa_ipc_buffer_spec;

typedef struct oa_ipc_batch_meta {
  int64_t length;
  int64_t n_nodes;
  oa_ipc_field_node *nodes; /* owned */
  int64_t n_buffers;
  oa_ipc_buffer_spec *buffers; /* owned */
  /* OA_COMPRESSION_NONE when the message has no BodyCompression */
  oa_compression compression;
} oa_ipc_batch_meta;

typedef struct oa_ipc_message_meta {
  int16_t version; /* MetadataVersion enum value */
  int header_type; /* OA_IPC_HEADER_* */
  int64_t body_length;
  oa_schema *schema; /* header Schema (owned reference) */
  int64_t dict_id;   /* header DictionaryBatch */
  bool is_delta;
  oa_ipc_batch_meta batch; /* RecordBatch, or DictionaryBatch.data */
  oa_metadata custom_metadata;
} oa_ipc_message_meta;

typedef struct oa_ipc_block {
  int64_t offset;
  int32_t metadata_length; /* includes the 8-byte prefix and padding */
  int64_t body_length;
} oa_ipc_block;

typedef struct oa_ipc_footer {
  int16_t version;
  oa_schema *schema; /* owned reference */
  int64_t n_dictionaries;
  oa_ipc_block *dictionaries; /* owned */
  int64_t n_batches;
  oa_ipc_block *batches; /* owned */
  oa_metadata custom_metadata;
} oa_ipc_footer;

void oa_ipc_message_meta_init(oa_ipc_message_meta *m);
void oa_ipc_message_meta_reset(oa_ipc_message_meta *m);
void oa_ipc_footer_init(oa_ipc_footer *f);
void oa_ipc_footer_reset(oa_ipc_footer *f);

/* Verifies and decodes a Message flatbuffer. max_depth bounds field nesting
 * (deeper: E2BIG). out must be initialized; what it held is released first,
 * and it is left reset when decoding fails. Buffers must lie inside
 * bodyLength (EINVAL otherwise). The footer decoder works the same way.
 * Tensor and SparseTensor messages give ENOTSUP; unknown types (views,
 * run-end encoded) give ENOTSUP naming the type. */
int oa_ipc_message_meta_decode(const uint8_t *buf, int64_t len,
                               int32_t max_depth, oa_ipc_message_meta *out,
                               oa_error *err);

/* Verifies and decodes a Footer flatbuffer. */
int oa_ipc_footer_decode(const uint8_t *buf, int64_t len, int32_t max_depth,
                         oa_ipc_footer *out, oa_error *err);

/* Appends a complete Message flatbuffer with a Schema header (version V5) to
 * out, then zero padding to a multiple of 8 bytes. */
int oa_ipc_encode_schema_message(const oa_schema *schema, oa_bytes *out,
                                 oa_error *err);

/* Appends a Message with a RecordBatch header (is_dictionary false) or a
 * DictionaryBatch header (dict_id, is_delta), padded to 8 bytes. */
int oa_ipc_encode_batch_message(const oa_ipc_batch_meta *batch,
                                int64_t body_length, bool is_dictionary,
                                int64_t dict_id, bool is_delta, oa_bytes *out,
                                oa_error *err);

/* Appends a Footer flatbuffer (no padding, no length, no magic). */
int oa_ipc_encode_footer(const oa_ipc_footer *footer, oa_bytes *out,
                         oa_error *err);

#endif
