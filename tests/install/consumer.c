/* A program outside the tree that uses the installed library: builds a
 * batch, writes it as an IPC stream to memory, reads it back. */
#include <stdio.h>
#include <string.h>

#include <otlparrow/builder.h>
#include <otlparrow/ipc.h>

int main(void) {
  oa_error err = {{0}};
  oa_schema *schema = NULL;
  oa_field f;
  if (oa_schema_new(&schema, &err) ||
      oa_field_init(&f, "x", OA_TYPE_INT64, &err) ||
      oa_schema_add_field(schema, &f, &err))
    goto fail;
  oa_builder b;
  if (oa_builder_init(&b, &schema->fields[0], 0, &err)) goto fail;
  for (int i = 0; i < 1000; i++)
    oa_builder_append_int(&b, i * 3);
  oa_array col;
  oa_array_init(&col);
  oa_batch batch;
  oa_batch_init(&batch);
  if (oa_builder_finish(&b, &col, &err) ||
      oa_batch_set(&batch, schema, 1000, &col, &err))
    goto fail;
  oa_bytes out;
  oa_bytes_init(&out);
  oa_ipc_write_options opt;
  oa_ipc_write_options_init(&opt);
  opt.compression = OA_COMPRESSION_ZSTD;
  oa_ipc_writer *w = NULL;
  if (oa_ipc_writer_new(&w, OA_IPC_STREAM, schema, &opt, oa_sink_bytes(&out),
                        &err) ||
      oa_ipc_writer_write(w, &batch, &err) || oa_ipc_writer_finish(w, &err))
    goto fail;
  oa_ipc_stream_reader *r = NULL;
  oa_batch back;
  oa_batch_init(&back);
  bool got = false;
  if (oa_ipc_stream_reader_new(&r, NULL, &err) ||
      oa_ipc_stream_reader_push(r, out.data, out.size, &err) ||
      oa_ipc_stream_reader_next(r, &back, &got, &err))
    goto fail;
  if (!got || !oa_batch_equals(&batch, &back, &err)) goto fail;
  printf("consumer ok: %s, %lld rows, %lld bytes\n", oa_version(),
         (long long)back.length, (long long)out.size);
  oa_batch_reset(&back);
  oa_batch_reset(&batch);
  oa_ipc_stream_reader_free(r);
  oa_ipc_writer_free(w);
  oa_bytes_reset(&out);
  oa_builder_reset(&b);
  oa_schema_release(schema);
  return 0;
fail:
  fprintf(stderr, "consumer failed: %s\n", err.message);
  return 1;
}
