# protobuf-c code generated at build time from proto/ (target oa_otlp_pbc):
# the independent OTLP decoder of the codec tests, and the protobuf baseline
# of `otlparrow bench` and bench/bench_otlp. One generation for all of them.
find_program(PROTOC_C protoc-c)
pkg_check_modules(PROTOBUF_C IMPORTED_TARGET libprotobuf-c)
if(NOT PROTOC_C OR NOT PROTOBUF_C_FOUND)
  message(WARNING "protoc-c or libprotobuf-c missing: no protobuf-c baseline (OTLP protobuf-c tests, `otlparrow bench`, bench_otlp); run `make deps`")
  return()
endif()

set(OA_PROTO_DIR ${CMAKE_SOURCE_DIR}/proto)
set(OA_PROTOS
  opentelemetry/proto/common/v1/common
  opentelemetry/proto/resource/v1/resource
  opentelemetry/proto/trace/v1/trace
  opentelemetry/proto/collector/trace/v1/trace_service)
set(OA_PBC_OUT ${CMAKE_BINARY_DIR}/pbc)
set(OA_PBC_SOURCES)
set(OA_PBC_INPUTS)
foreach(p ${OA_PROTOS})
  list(APPEND OA_PBC_SOURCES ${OA_PBC_OUT}/${p}.pb-c.c)
  list(APPEND OA_PBC_INPUTS ${OA_PROTO_DIR}/${p}.proto)
endforeach()
set(OA_PBC_ALL ${OA_PBC_SOURCES})
foreach(p ${OA_PROTOS})
  list(APPEND OA_PBC_ALL ${OA_PBC_OUT}/${p}.pb-c.h)
endforeach()
add_custom_command(
  OUTPUT ${OA_PBC_ALL}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${OA_PBC_OUT}
  COMMAND ${PROTOC_C} --c_out=${OA_PBC_OUT} -I${OA_PROTO_DIR} ${OA_PBC_INPUTS}
  DEPENDS ${OA_PBC_INPUTS}
  COMMENT "protoc-c: OTLP trace protos"
  VERBATIM)

# generated code is not ours: no -Werror/-Wmissing-prototypes on it
add_library(oa_otlp_pbc STATIC ${OA_PBC_SOURCES})
target_include_directories(oa_otlp_pbc PUBLIC ${OA_PBC_OUT})
target_compile_options(oa_otlp_pbc PRIVATE -w)
target_link_libraries(oa_otlp_pbc PUBLIC PkgConfig::PROTOBUF_C)
