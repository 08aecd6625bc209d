/* Private to the query engine: tokens, AST, engine vectors, arena. */
#ifndef OA_QUERY_INTERNAL_H
#define OA_QUERY_INTERNAL_H

#include <stdatomic.h>

#include "otlparrow/builder.h"
#include "otlparrow/query.h"

/* ---------------------------------------------------------------- arena */

/* ---------------------------------------------------------------- memory */

/* The memory budget of one query (oa_query_options.max_memory), shared by
 * its threads. The big structures (group tables, sort keys, collected rows,
 * the result) are charged before they are allocated; the first charge over
 * the limit records what asked (a static string) and fails, and
 * oa_query_run turns the failure into E2BIG with a message saying so. */
typedef struct oa_qmem {
  int64_t limit; /* bytes; 0: none */
  _Atomic int64_t used, peak;
  _Atomic int over;      /* set once, by the first charge over the limit */
  const char *what;      /* what that charge was for */
  int64_t want;          /* bytes it asked for */
  oa_query_cache *cache; /* big blocks come from and go back here; NULL */
} oa_qmem;

void oa_qmem_init(oa_qmem *m, int64_t limit);
/* 0, or E2BIG past the limit (m may be NULL: no limit). */
int oa_qmem_charge(oa_qmem *m, int64_t bytes, const char *what);
void oa_qmem_release(oa_qmem *m, int64_t bytes);
/* A buffer of bytes (huge pages for big ones, so that a query does not take
 * a page fault per 4 KB of fresh memory); free() releases it. */
void *oa_qbig_alloc(size_t size);
/* oa_qbig_alloc through cache c (NULL: none), and the matching free:
 * bytes is at most what was asked of oa_qbig_get/oa_qbig_alloc or
 * oa_qmem_resize for p, or less than 16 KB for a malloc'ed p (just freed).
 * A bigger count would let the cache hand out a block as longer than it
 * is. */
void *oa_qbig_get(oa_query_cache *c, size_t size);
void oa_qbig_put(oa_query_cache *c, void *p, int64_t bytes);
static inline oa_query_cache *oa_qmem_cache(const oa_qmem *m) {
  return m ? m->cache : NULL;
}
/* Resizes *p (malloc'ed or oa_qbig_alloc'ed) from old_bytes to new_bytes,
 * keeping the content and charging the difference: 0, ENOMEM or E2BIG. */
int oa_qmem_resize(oa_qmem *m, const char *what, void **p, int64_t old_bytes,
                   int64_t new_bytes);

/* ---------------------------------------------------------------- arena */

typedef struct oa_qarena_block oa_qarena_block;
typedef struct oa_qarena {
  oa_qarena_block *head;
  oa_qarena_block *spare; /* cleared blocks kept for reuse */
  oa_qmem *mem;           /* charged per block; NULL: not */
  const char *what;       /* named when the budget runs out */
  int64_t total;          /* bytes of its blocks */
  oa_query_cache *cache;  /* big blocks come from and go back here; NULL */
} oa_qarena;

void oa_qarena_init(oa_qarena *a);
/* Frees every block. */
void oa_qarena_reset(oa_qarena *a);
/* Forgets every allocation but keeps the blocks for the next ones. */
void oa_qarena_clear(oa_qarena *a);
/* 16-byte aligned; NULL on allocation failure. */
void *oa_qarena_alloc(oa_qarena *a, int64_t size);
void *oa_qarena_calloc(oa_qarena *a, int64_t size);

/* ---------------------------------------------------------------- values */

/* Engine value types: every Arrow input is read as one of these. */
typedef enum oa_qtype {
  OA_Q_NULL = 0, /* the type of a bare NULL literal */
  OA_Q_BOOL,
  OA_Q_INT,    /* int64 */
  OA_Q_DOUBLE, /* float64 */
  OA_Q_STR,    /* utf8 */
  OA_Q_BIN,    /* binary; fixed_size_binary keeps its width in fsb */
  OA_Q_TS,     /* timestamp, ns since the epoch, UTC */
  OA_Q_DUR     /* duration / interval, ns */
} oa_qtype;

const char *oa_qtype_name(oa_qtype t);

typedef struct oa_qstr {
  const uint8_t *p;
  int64_t len;
} oa_qstr;

/* A column of n values. null[i] != 0 marks a null (null == NULL: none);
 * bool values live in b as 0/1 bytes. */
typedef struct oa_qvec {
  oa_qtype type;
  int64_t n;
  uint8_t *null;
  int64_t *i; /* INT, TS, DUR */
  double *d;
  uint8_t *b;
  oa_qstr *s; /* STR, BIN */
} oa_qvec;

/* ---------------------------------------------------------------- tokens */

typedef enum oa_qtok_kind {
  OA_TK_EOF = 0,
  OA_TK_IDENT,
  OA_TK_QIDENT, /* "quoted" */
  OA_TK_INT,
  OA_TK_FLOAT,
  OA_TK_STRING,
  OA_TK_HEXSTRING, /* X'..' */
  OA_TK_OP         /* punctuation and operators, text in op */
} oa_qtok_kind;

typedef struct oa_qtok {
  oa_qtok_kind kind;
  const char *start; /* into the SQL text */
  int32_t len;
  int32_t line, col;
  char op[3];
} oa_qtok;

/* ---------------------------------------------------------------- AST */

typedef enum oa_qnode_kind {
  OA_N_LIT,
  OA_N_COL,    /* name -> column index at bind */
  OA_N_STAR,   /* only in select list / count(*) */
  OA_N_UNARY,  /* op: '-', 'N'(not) */
  OA_N_BINARY, /* op: + - * / % = <> < <= > >= AND OR || */
  OA_N_IN,
  OA_N_BETWEEN,
  OA_N_LIKE,
  OA_N_ISNULL,
  OA_N_CASE,
  OA_N_FUNC,
  OA_N_AGG,   /* aggregate call */
  OA_N_INDEX, /* attributes['k'] */
  OA_N_SLOT,  /* bound: a column of the intermediate (post-aggregation) */
  OA_N_CAST
} oa_qnode_kind;

typedef enum oa_qagg {
  OA_AGG_COUNT_STAR,
  OA_AGG_COUNT,
  OA_AGG_COUNT_DISTINCT,
  OA_AGG_SUM,
  OA_AGG_AVG,
  OA_AGG_MIN,
  OA_AGG_MAX,
  OA_AGG_QUANTILE_DISC,
  OA_AGG_QUANTILE_CONT
} oa_qagg;

typedef struct oa_qnode oa_qnode;
struct oa_qnode {
  oa_qnode_kind kind;
  int32_t line, col; /* position for errors */
  char op[4];
  bool negated; /* NOT IN, NOT BETWEEN, NOT LIKE, IS NOT NULL */
  /* literal value (after bind: constant of type `type`) */
  oa_qtype lit_type;
  bool lit_null; /* NULL literal (keeps this after a cast gives it a type) */
  int64_t lit_i;
  double lit_d;
  oa_qstr lit_s;
  /* names: column, function, alias */
  const char *name;
  int32_t name_len;
  oa_qnode **args;
  int32_t n_args;
  /* bound */
  oa_qtype type;
  int32_t fsb_width; /* BIN from a fixed_size_binary column */
  int64_t column;    /* COL: table column; SLOT: intermediate column */
  int32_t fn;        /* FUNC id / AGG kind / INDEX mode */
  double quantile;
  int32_t attr_mode; /* INDEX: result type (STR / DOUBLE / BOOL / INT) */
};

typedef struct oa_qorder {
  oa_qnode *expr;
  bool desc;
  int nulls_first; /* -1 default */
} oa_qorder;

typedef struct oa_qselect_item {
  oa_qnode *expr;
  const char *alias;
  int32_t alias_len;
} oa_qselect_item;

typedef struct oa_qstmt {
  bool distinct;
  oa_qselect_item *items;
  int32_t n_items;
  const char *table;
  int32_t table_len;
  int32_t table_line, table_col;
  oa_qnode *where;
  oa_qnode **group;
  int32_t n_group;
  oa_qnode *having;
  oa_qorder *order;
  int32_t n_order;
  int64_t limit; /* -1: none */
  int64_t offset;
} oa_qstmt;

/* Parses one statement into nodes allocated from arena. */
int oa_qparse(const char *sql, size_t len, oa_qarena *arena, oa_qstmt *out,
              oa_error *err);

/* Error "SQL error at L:C: ..." */
int oa_qerr(oa_error *err, int line, int col, const char *fmt, ...)
    OA_PRINTF(4, 5);

/* ---------------------------------------------------------------- kernels */

/* Rows of fsb16 values (data, n values, 16 bytes each) equal to one of the
 * keys (n_keys x 16 bytes) are written to sel (row indices + base); returns
 * how many. level must be a concrete level the CPU has. */
int64_t oa_qkernel_fsb16_in(oa_simd_level level, const uint8_t *data, int64_t n,
                            const uint8_t *keys, int64_t n_keys, int64_t base,
                            int32_t *sel);

/* Sorts n fixed-size records of rec_size bytes (a multiple of 8, 8-byte
 * aligned) by memcmp of their first key_size bytes. */
int oa_qsort_records(uint8_t *recs, int64_t n, int64_t rec_size,
                     int64_t key_size);

/* ---------------------------------------------------------------- plan */

typedef struct oa_qplan {
  oa_qstmt *st;
  const oa_schema *schema; /* NULL: no FROM (one row, no columns) */
  bool aggregate;
  oa_qnode **out; /* bound; post-aggregation form when aggregate */
  const char **out_names;
  int32_t n_out;
  oa_qnode *where; /* pre-aggregation */
  oa_qnode **group;
  int32_t n_group;
  oa_qnode **aggs; /* OA_N_AGG nodes, arguments bound pre-aggregation */
  int32_t n_aggs;
  oa_qnode *having; /* post-aggregation */
  oa_qorder *order; /* exprs bound like out */
  int32_t n_order;
  /* trace-id fast filter: rows whose fsb16 column tid_col is one of the keys
   * (AND-ed with where, which then holds the rest of the predicate) */
  int64_t tid_col;
  uint8_t *tid_keys;
  int64_t n_tid_keys;
  oa_query_scan_hint hint;
} oa_qplan;

typedef struct oa_qeval {
  oa_qarena *tmp;
  const oa_schema *schema;
  const oa_batch *batch;
  const oa_qvec *slots; /* post-aggregation inputs */
  const int32_t *sel;   /* rows of the batch / slots; NULL: 0..n-1 */
  int64_t n;
  int64_t now_ns;
  oa_error *err;
  /* optional per-chunk cache of loaded table columns (n_fields entries) */
  oa_qvec *cache;
  uint8_t *cached;
} oa_qeval;

/* Binds the parsed statement against schema (NULL: no table). */
int oa_qbind(oa_qstmt *st, const oa_schema *schema, oa_qarena *arena,
             int64_t now_ns, oa_qplan *plan, oa_error *err);
int oa_qeval_expr(oa_qeval *ev, const oa_qnode *node, oa_qvec *out);
/* Allocates a vector of type t and n rows in the arena (no nulls). */
int oa_qvec_alloc(oa_qarena *a, oa_qtype t, int64_t n, oa_qvec *out);
/* Engine type of a field; fsb width for fixed_size_binary. */
oa_qtype oa_qtype_of_field(const oa_field *f, int32_t *fsb_width);
/* Formats a value as text (CAST to VARCHAR, render). */
int oa_qformat_value(const oa_qvec *v, int64_t i, char *buf, size_t cap);

#endif
