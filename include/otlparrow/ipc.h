/* otlparrow: Arrow IPC (encapsulated messages, stream and file formats,
 * dictionaries, LZ4_FRAME/ZSTD body compression).
 *
 * Layers
 * - oa_ipc_encoder turns a schema and batches into messages: a Message
 *   flatbuffer plus a body made of segments that point into the batch's own
 *   buffers (nothing copied unless compressed), dictionaries first.
 * - oa_ipc_decoder turns one message (flatbuffer bytes + body buffer) back
 *   into a schema, a dictionary update or a record batch whose buffers point
 *   into the body (zero-copy unless decompressed or realigned).
 * - Stream reader/writer and file reader/writer frame messages on top.
 *
 * Untrusted input: every reader verifies the flatbuffer before reading it,
 * checks every buffer against the body, validates offsets and dictionary
 * indices, and bounds decompressed sizes (oa_ipc_read_options).
 */
#ifndef OTLPARROW_IPC_H
#define OTLPARROW_IPC_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum oa_compression {
  OA_COMPRESSION_NONE = 0,
  OA_COMPRESSION_LZ4_FRAME = 1,
  OA_COMPRESSION_ZSTD = 2
} oa_compression;

/* Parses "none", "lz4", "lz4_frame", "zstd"; EINVAL otherwise. */
int oa_compression_parse(const char *s, oa_compression *out, oa_error *err);
const char *oa_compression_name(oa_compression c);

typedef enum oa_ipc_format { OA_IPC_STREAM = 0, OA_IPC_FILE = 1 } oa_ipc_format;

/* Defaults (oa_ipc_write_options_init): no compression, the codec's default
 * level, dictionary_deltas and skip_incompressible on. */
typedef struct oa_ipc_write_options {
  oa_compression compression;
  int compression_level; /* 0: the codec's default */
  /* When a dictionary grows (the previous one is a prefix of the new one),
   * send only the new values as a delta instead of a replacement. */
  bool dictionary_deltas;
  /* Buffers that compression shrinks by less than a tenth are written
   * uncompressed (-1 prefix). */
  bool skip_incompressible;
} oa_ipc_write_options;

void oa_ipc_write_options_init(oa_ipc_write_options *opt);

typedef struct oa_ipc_read_options {
  int64_t max_metadata_size;     /* default 64 MiB */
  int64_t max_body_size;         /* default 4 GiB */
  int64_t max_decompressed_size; /* per message body; default 4 GiB */
  int32_t max_depth;             /* nesting of fields; default 64 */
  int64_t max_dictionary_size;   /* values in one dictionary; default 2^31 */
  /* full array validation (offsets, union codes, dictionary indices);
   * default true. Off, only O(1) checks per buffer remain (sizes and the
   * last offset), so reading a mapped uncompressed batch costs the same
   * whatever its size. */
  bool validate;
  bool check_utf8; /* UTF-8 of string columns; default true */
} oa_ipc_read_options;

void oa_ipc_read_options_init(oa_ipc_read_options *opt);

/* ------------------------------------------------------------- messages */

typedef enum oa_ipc_msg_type {
  OA_IPC_MSG_NONE = 0,
  OA_IPC_MSG_SCHEMA = 1,
  OA_IPC_MSG_DICTIONARY = 2,
  OA_IPC_MSG_RECORD_BATCH = 3
} oa_ipc_msg_type;

/* One encoded message. metadata holds the Message flatbuffer padded to a
 * multiple of 8 bytes (no continuation marker or length prefix). The body is
 * the concatenation of segments (each retaining its region), body_length
 * bytes in total, a multiple of 8. */
typedef struct oa_ipc_message {
  oa_ipc_msg_type type;
  oa_bytes metadata;
  int64_t body_length;
  int64_t n_segments;
  int64_t cap_segments;
  oa_buffer *segments;
  /* owned scratch regions (compressed buffers) are retained in segments */
} oa_ipc_message;

void oa_ipc_message_init(oa_ipc_message *m);
void oa_ipc_message_reset(oa_ipc_message *m);
/* Copies the framed message (0xFFFFFFFF, length, metadata, body) to out. */
int oa_ipc_message_frame(const oa_ipc_message *m, oa_bytes *out, oa_error *err);

/* -------------------------------------------------------------- encoder */

typedef struct oa_ipc_encoder oa_ipc_encoder;

/* The schema is retained. Dictionary ids come from the fields. */
int oa_ipc_encoder_new(oa_ipc_encoder **out, oa_schema *schema,
                       const oa_ipc_write_options *opt, oa_error *err);
void oa_ipc_encoder_free(oa_ipc_encoder *enc);
int oa_ipc_encoder_schema(oa_ipc_encoder *enc, oa_ipc_message *out,
                          oa_error *err);

typedef int (*oa_ipc_emit_fn)(void *ctx, const oa_ipc_message *msg,
                              oa_error *err);
/* Emits the dictionary batches this batch needs (first sight, delta or
 * replacement; nothing when unchanged) and then the record batch. For the
 * file format replacements are refused (EINVAL) when forbid_replacement. */
int oa_ipc_encoder_batch(oa_ipc_encoder *enc, const oa_batch *batch,
                         oa_ipc_emit_fn emit, void *ctx, oa_error *err);
void oa_ipc_encoder_forbid_replacement(oa_ipc_encoder *enc, bool forbid);
/* Starts a new stream: dictionaries count as never sent, so the next batch
 * emits them whole. Keeps the schema and the codec contexts (cheaper than a
 * new encoder per stream). */
void oa_ipc_encoder_restart(oa_ipc_encoder *enc);
/* The encoder's schema (borrowed). */
const oa_schema *oa_ipc_encoder_schema_of(const oa_ipc_encoder *enc);

/* As oa_ipc_encoder_batch, but a record batch whose body would exceed
 * max_body bytes is emitted as consecutive row slices instead, each under
 * the bound (or of one row). max_body <= 0: no bound. */
int oa_ipc_encoder_batch_bounded(oa_ipc_encoder *enc, const oa_batch *batch,
                                 int64_t max_body, oa_ipc_emit_fn emit,
                                 void *ctx, oa_error *err);

/* dst (initialized; replaced) becomes a copy of src that outlives it: the
 * metadata is copied, body segments with a region are shared (retained, no
 * copy), borrowed ones are copied. For keeping what an emit callback got. */
int oa_ipc_message_share(oa_ipc_message *dst, const oa_ipc_message *src,
                         oa_error *err);

/* Reads the framed message at stream[*pos] into out (initialized; replaced)
 * and advances *pos past it. The metadata flatbuffer is verified (nesting up
 * to max_depth) and copied; the body is one segment that points into stream
 * and retains its region (with no region it borrows: keep stream alive). At
 * the end of the bytes or at an end-of-stream marker out->type is
 * OA_IPC_MSG_NONE. Truncated or malformed framing: EINVAL naming the
 * offset; tensor messages: ENOTSUP. Bodies are not decoded (use a decoder). */
int oa_ipc_message_read(const oa_buffer *stream, int64_t *pos,
                        int32_t max_depth, oa_ipc_message *out, oa_error *err);

/* -------------------------------------------------------------- decoder */

typedef struct oa_ipc_decoder oa_ipc_decoder;

int oa_ipc_decoder_new(oa_ipc_decoder **out, const oa_ipc_read_options *opt,
                       oa_error *err);
void oa_ipc_decoder_free(oa_ipc_decoder *dec);
/* Decodes one message. meta/meta_len is the Message flatbuffer; body is the
 * message body (may be empty). A schema message sets the decoder's schema; a
 * dictionary batch updates its dictionaries; a record batch fills *out.
 * *type says which it was. */
int oa_ipc_decoder_decode(oa_ipc_decoder *dec, const uint8_t *meta,
                          int64_t meta_len, const oa_buffer *body,
                          oa_ipc_msg_type *type, oa_batch *out, oa_error *err);
/* Borrowed; NULL before a schema was decoded or set. */
oa_schema *oa_ipc_decoder_schema(const oa_ipc_decoder *dec);
/* Sets the schema from elsewhere (file footer, Flight's FlightInfo). */
int oa_ipc_decoder_set_schema(oa_ipc_decoder *dec, oa_schema *schema,
                              oa_error *err);

/* ---------------------------------------------------------------- sinks */

typedef int (*oa_sink_write_fn)(void *ctx, const void *data, int64_t len,
                                oa_error *err);
typedef struct oa_sink {
  oa_sink_write_fn write;
  void *ctx;
} oa_sink;

/* Writes to a file descriptor (retrying short writes and EINTR). The fd is
 * read through the pointer at each write. */
oa_sink oa_sink_fd(int *fd);
/* Appends to an oa_bytes. */
oa_sink oa_sink_bytes(oa_bytes *out);

/* --------------------------------------------------------------- writer */

typedef struct oa_ipc_writer oa_ipc_writer;

int oa_ipc_writer_new(oa_ipc_writer **out, oa_ipc_format format,
                      oa_schema *schema, const oa_ipc_write_options *opt,
                      oa_sink sink, oa_error *err);
int oa_ipc_writer_write(oa_ipc_writer *w, const oa_batch *batch, oa_error *err);
/* Writes the end-of-stream marker (and for files the footer and magic). */
int oa_ipc_writer_finish(oa_ipc_writer *w, oa_error *err);
void oa_ipc_writer_free(oa_ipc_writer *w);
/* Bytes written so far. */
int64_t oa_ipc_writer_bytes_written(const oa_ipc_writer *w);

/* --------------------------------------------------- stream reader */

typedef struct oa_ipc_stream_reader oa_ipc_stream_reader;

int oa_ipc_stream_reader_new(oa_ipc_stream_reader **out,
                             const oa_ipc_read_options *opt, oa_error *err);
void oa_ipc_stream_reader_free(oa_ipc_stream_reader *r);
/* Feeds bytes as they arrive (copied into the reader). */
int oa_ipc_stream_reader_push(oa_ipc_stream_reader *r, const void *data,
                              int64_t len, oa_error *err);
/* Feeds a buffer without copying (its region is retained): messages that
 * lie wholly inside it are decoded in place. */
int oa_ipc_stream_reader_push_buffer(oa_ipc_stream_reader *r,
                                     const oa_buffer *buf, oa_error *err);
/* Next record batch. Returns 0 with *got = false when more input is needed
 * or the end-of-stream marker was seen (oa_ipc_stream_reader_done). */
int oa_ipc_stream_reader_next(oa_ipc_stream_reader *r, oa_batch *out, bool *got,
                              oa_error *err);
bool oa_ipc_stream_reader_done(const oa_ipc_stream_reader *r);
/* Call when the input ended: EINVAL if a message was cut short or no schema
 * was seen. A stream that ends without the end-of-stream marker is accepted
 * at a message boundary. */
int oa_ipc_stream_reader_close(oa_ipc_stream_reader *r, oa_error *err);
/* Borrowed; NULL until the schema message was read. */
oa_schema *oa_ipc_stream_reader_schema(const oa_ipc_stream_reader *r);

/* ----------------------------------------------------- file reader */

typedef struct oa_ipc_file_reader oa_ipc_file_reader;

/* Maps the file read-only: batches reference the mapping (zero-copy). The
 * footer is verified, its schema checked against the stream's schema
 * message, and the dictionaries of the footer's blocks are read (deltas
 * applied in order; a replacement is refused). */
int oa_ipc_file_reader_open(oa_ipc_file_reader **out, const char *path,
                            const oa_ipc_read_options *opt, oa_error *err);
/* Reads from bytes in memory (the buffer's region is retained). */
int oa_ipc_file_reader_open_buffer(oa_ipc_file_reader **out,
                                   const oa_buffer *data,
                                   const oa_ipc_read_options *opt,
                                   oa_error *err);
void oa_ipc_file_reader_free(oa_ipc_file_reader *r);
oa_schema *oa_ipc_file_reader_schema(const oa_ipc_file_reader *r);
int64_t oa_ipc_file_reader_n_batches(const oa_ipc_file_reader *r);
int oa_ipc_file_reader_read(oa_ipc_file_reader *r, int64_t i, oa_batch *out,
                            oa_error *err);

/* ----------------------------------------------------------- helpers */

/* Looks at the first bytes: OA_IPC_FILE if they are "ARROW1", else
 * OA_IPC_STREAM. */
oa_ipc_format oa_ipc_detect_format(const uint8_t *data, int64_t len);

/* Maps (or reads) a whole file into a region. */
int oa_file_map(const char *path, oa_buffer *out, oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
