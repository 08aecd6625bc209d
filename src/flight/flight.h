/* otlparrow: the Arrow Flight service (arrow.flight.protocol.FlightService)
 * over the gRPC event-loop layer, serving the in-memory datasets.
 *
 * - DoPut: the first FlightData carries a PATH descriptor naming the dataset
 *   (path elements joined with '/'); then the schema, dictionaries and
 *   record batches. Each batch is appended (zero-copy: its buffers point
 *   into the received message) and acknowledged with a PutResult that
 *   echoes the message's app_metadata. "spans" only takes the span schema.
 * - DoGet: the ticket is the dataset name; the schema, dictionaries and
 *   batches go out as FlightData whose bodies reference the batches'
 *   buffers. Batches larger than max_message_size are sent as row slices.
 * - GetFlightInfo / GetSchema (PATH descriptor), ListFlights, DoAction
 *   (list-datasets, drop-dataset, stats), ListActions, Handshake.
 * - PollFlightInfo and DoExchange answer UNIMPLEMENTED.
 * - With auth_token, every call must carry "authorization: Bearer <token>"
 *   (UNAUTHENTICATED otherwise); Handshake accepts the token either as its
 *   payload or in that header and answers with the token as payload.
 */
#ifndef OA_FLIGHT_H
#define OA_FLIGHT_H

#include "grpc/oa_grpc.h"
#include "otlparrow/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oa_flight_options {
  const char *auth_token; /* NULL or "": no auth (copied) */
  /* A DoPut message's buffers after decompression (a few KiB of zstd can
   * claim gigabytes): larger is refused (INVALID_ARGUMENT). Default
   * 256 MiB; -1: the IPC reader's own (4 GiB). */
  int64_t max_decompressed_size;
  /* A DoPut/DoExchange message: larger is refused (RESOURCE_EXHAUSTED,
   * naming recv_limit_hint when set). Default 256 MiB (a 100,000-span batch
   * is about 35 MB); -1: what gRPC allows (2 GiB - 1). */
  int64_t max_recv_message_size;
  int64_t max_message_size; /* DoGet target per message; default 2 MiB */
  /* URI put in FlightEndpoint.location, e.g. "grpc+tcp://127.0.0.1:8815";
   * NULL: no location (the ticket is redeemed on this service). Copied. */
  const char *location;
  /* Named in the RESOURCE_EXHAUSTED message of a DoPut/DoExchange message
   * over max_recv_message_size as the setting to change (e.g.
   * "--max-flight-recv-size"); NULL: none. Copied. */
  const char *recv_limit_hint;
  /* Values in one DoPut dictionary batch; larger is refused
   * (INVALID_ARGUMENT). 0: the IPC reader's default (2^31). */
  int64_t max_dictionary_size;
} oa_flight_options;

void oa_flight_options_init(oa_flight_options *o);

/* The service state. Register it on a server before the server's first
 * listener is added (the receive limit is fixed then); free it after the
 * server was freed. */
typedef struct oa_flight_service oa_flight_service;

int oa_flight_service_new(oa_flight_service **out, oa_datasets *d,
                          const oa_flight_options *o, oa_error *err);
int oa_flight_service_register(oa_flight_service *svc, oa_grpc_server *srv,
                               oa_error *err);
void oa_flight_service_free(oa_flight_service *svc);

/* SQL over Flight. A DoGet ticket that is a statement (SELECT or WITH
 * first, case-insensitive) or a Flight SQL TicketStatementQuery (packed in
 * google.protobuf.Any) runs through fn and its result is streamed;
 * GetFlightInfo / GetSchema of a CMD descriptor holding a Flight SQL
 * CommandStatementQuery runs the query for its schema and answers with one
 * endpoint whose ticket is the TicketStatementQuery. fn fills *schema (a new
 * reference) and a malloc'ed array of *n batches, released with
 * oa_datasets_snapshot_free. Its errors map to gRPC statuses: EINVAL
 * INVALID_ARGUMENT (bad SQL, with the message), ENOENT NOT_FOUND. Without a
 * handler such requests answer UNIMPLEMENTED. Set it before serving. */
typedef int (*oa_flight_query_fn)(void *ctx, const char *sql,
                                  oa_schema **schema, oa_batch **batches,
                                  int64_t *n, oa_error *err);
int oa_flight_service_set_query_handler(oa_flight_service *svc,
                                        oa_flight_query_fn fn, void *ctx,
                                        oa_error *err);

/* new + register. The service state lives until the process exits (the
 * gRPC layer has no hook to free it with the server); use the functions
 * above to control its lifetime. o may be NULL (defaults). */
int oa_flight_server_register(oa_grpc_server *srv, oa_datasets *d,
                              const oa_flight_options *o, oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
