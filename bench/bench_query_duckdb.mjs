// The field's three standard trace queries on the same generated spans,
// otlparrow's engine side by side with DuckDB (@duckdb/node-api) in one run:
//   1. GROUP BY trace_id (~100K groups) with COUNT/AVG/MAX/MIN, ORDER BY
//      count DESC LIMIT 100
//   2. ORDER BY trace_id, start_time, span_id over every row
//   3. WHERE trace_id = X over every row
// usage: node bench/bench_query_duckdb.mjs OTLPARROW [SPANS] [REPEATS]
// Both sides get the data already loaded: DuckDB in its own table (BLOB ids,
// TIMESTAMP_NS times, loaded from the CSV that `otlparrow query` exports),
// otlparrow from an Arrow IPC file; the time of otlparrow is the engine's
// own (`query --timing --repeat`: parse, plan and run, result batches built,
// excluding the load), DuckDB's the wall time of Connection.run (the result
// materialized natively, not converted to JavaScript). Median of REPEATS
// after one warm-up run each.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const BIN = process.argv[2] || process.env.OA_BIN;
const SPANS = Number(process.argv[3] || 1000000);
const REPEATS = Number(process.argv[4] || 5);
if (!BIN) {
  console.error('usage: node bench/bench_query_duckdb.mjs OTLPARROW [SPANS] [REPEATS]');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'oa-bench-query-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function oa(args) {
  const r = spawnSync(BIN, args, { maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    throw new Error(`otlparrow ${args.slice(0, 2).join(' ')}: ${r.stderr}`);
  }
  return r;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ------------------------------------------------------------ data
const arrow = join(dir, 'spans.arrow');
const csv = join(dir, 'spans.csv');
let t = performance.now();
oa(['gen', '--spans', String(SPANS), '--seed', '1', '--max-trace-spans', '14', '--batch', '65536', '-q', '-o', arrow]);
oa(['query', '--input', arrow, 'SELECT trace_id, span_id, parent_span_id, name, service_name, '
  + 'start_time, duration, status_code FROM spans', '--format', 'csv', '--output', csv]);
const genMs = performance.now() - t;

const duck = await (await DuckDBInstance.create(':memory:')).connect();
t = performance.now();
await duck.run(`CREATE TABLE spans AS SELECT from_hex(trace_id) AS trace_id,
  from_hex(span_id) AS span_id, from_hex(parent_span_id) AS parent_span_id, name,
  service_name, make_timestamp_ns(start_time) AS start_time, duration, status_code
  FROM read_csv('${csv}', header = true, delim = ',', quote = '"', escape = '"',
    allow_quoted_nulls = false, columns = {
    'trace_id': 'VARCHAR', 'span_id': 'VARCHAR', 'parent_span_id': 'VARCHAR',
    'name': 'VARCHAR', 'service_name': 'VARCHAR', 'start_time': 'BIGINT',
    'duration': 'BIGINT', 'status_code': 'INTEGER'})`);
const loadMs = performance.now() - t;
const info = (await duck.runAndReadAll(
  'SELECT count(*), count(DISTINCT trace_id), (SELECT hex(trace_id) FROM spans LIMIT 1 OFFSET 123457) FROM spans',
)).getRows()[0];
const groups = Number(info[1]);
const someTrace = String(info[2]).toLowerCase();
const duckVersion = (await duck.runAndReadAll('SELECT version()')).getRows()[0][0];

// ------------------------------------------------------------ cases
// the columns DuckDB's table has (it holds no attribute maps)
const TRACE_COLS = 'span_id, parent_span_id, name, service_name, start_time, duration, status_code';
const CASES = [
  {
    name: `GROUP BY trace_id (${groups} groups), COUNT/AVG/MAX/MIN, ORDER BY count DESC LIMIT 100`,
    sql: 'SELECT trace_id, count(*) AS n, avg(duration) AS avg_d, max(duration) AS max_d, '
      + 'min(duration) AS min_d FROM spans GROUP BY trace_id ORDER BY n DESC LIMIT 100',
  },
  {
    name: `ORDER BY trace_id, start_time, span_id (${SPANS} rows)`,
    sql: 'SELECT trace_id, start_time, span_id FROM spans ORDER BY trace_id, start_time, span_id',
  },
  {
    name: `WHERE trace_id = X (${SPANS} rows)`,
    sql: `SELECT ${TRACE_COLS} FROM spans WHERE trace_id = X'${someTrace}'`,
    duck: `SELECT ${TRACE_COLS} FROM spans WHERE trace_id = from_hex('${someTrace}')`,
  },
];

// otlparrow's engine time from `query --timing --repeat N`: N runs in one
// process on the loaded data, as DuckDB's runs on its table ("engine 12.345
// ms (median of N runs, first 20.1 ms; ...").
function oaEngineMs(sql, runs) {
  const r = oa(['query', '--input', arrow, sql, '--timing', '--repeat', String(runs),
    '--format', 'arrow', '--output', '/dev/null']);
  const err = r.stderr.toString();
  const m = /engine ([0-9.]+) ms \(median of \d+ runs, first ([0-9.]+) ms/.exec(err);
  if (!m) throw new Error(`no engine time in: ${err}`);
  return { ms: Number(m[1]), first: Number(m[2]), kernel: (/trace-id filter (\w+)/.exec(err) || [])[1] };
}

async function duckMs(sql) {
  const t0 = performance.now();
  await duck.run(sql);
  return performance.now() - t0;
}

console.log(`== SQL: otlparrow vs DuckDB ${duckVersion} (${cpus().length} cores, ${SPANS} spans, `
  + `median of ${REPEATS}; data generated in ${(genMs / 1000).toFixed(1)} s, DuckDB load ${(loadMs / 1000).toFixed(1)} s)`);
console.log('| query | DuckDB ms | otlparrow ms | DuckDB / otlparrow | otlparrow first run ms |');
console.log('|---|---:|---:|---:|---:|');
for (const c of CASES) {
  await duckMs(c.duck || c.sql);
  const d = [];
  for (let i = 0; i < REPEATS; i++) d.push(await duckMs(c.duck || c.sql));
  const dm = median(d);
  // REPEATS + 1 runs: the first one touches the mapped file (page faults),
  // as DuckDB's warm-up run loads its caches
  const r = oaEngineMs(c.sql, REPEATS + 1);
  console.log(`| ${c.name}${r.kernel ? ` [${r.kernel}]` : ''} | ${dm.toFixed(1)} | ${r.ms.toFixed(1)} | `
    + `${(dm / r.ms).toFixed(2)}x | ${r.first.toFixed(1)} |`);
}
