/* Private to the query engine: scalar function ids and time helpers. */
#ifndef OA_QUERY_QFUNC_H
#define OA_QUERY_QFUNC_H

#include <stdint.h>

enum {
  OA_QF_HEX = 1,
  OA_QF_UNHEX,
  OA_QF_LENGTH,
  OA_QF_LOWER,
  OA_QF_UPPER,
  OA_QF_ABS,
  OA_QF_COALESCE,
  OA_QF_NULLIF,
  OA_QF_NOW,
  OA_QF_DATE_TRUNC,
  OA_QF_EPOCH_NS,
  OA_QF_EPOCH_US,
  OA_QF_EPOCH_MS,
  OA_QF_EPOCH,
  OA_QF_TO_TIMESTAMP,
  OA_QF_TS_FROM_NS,
  OA_QF_ROUND,
  OA_QF_CONCAT
};

/* What attributes['k'] yields. */
enum {
  OA_QATTR_RENDER = 0, /* any value as text (select lists) */
  OA_QATTR_STR,        /* string values only, others NULL */
  OA_QATTR_NUM,        /* int and double values as double */
  OA_QATTR_BOOL        /* bool values */
};

int64_t oa_qdays_from_civil(int64_t y, int64_t m, int64_t d);
void oa_qcivil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d);
int oa_qparse_timestamp(const char *s, int64_t len, int64_t *ns);
int oa_qparse_interval(const char *s, int64_t len, int64_t *ns);
int oa_qunhex(const uint8_t *s, int64_t len, uint8_t *out, int64_t *out_len);

#endif
