// otlparrow's SQL engine against DuckDB (@duckdb/node-api) on the same
// spans: `otlparrow gen` makes them, `otlparrow query --format csv` exports
// them, DuckDB loads the CSV, and a set of queries (filters, high-cardinality
// GROUP BY with every aggregate, multi-key ORDER BY with ties and nulls,
// LIMIT/OFFSET, HAVING, date_trunc) must give the same rows in both,
// compared row by row. Then Arrow Flight SQL with a minimal client
// (@grpc/grpc-js + Flight.proto): GetFlightInfo(CommandStatementQuery), DoGet
// of the endpoint's ticket, decoded with apache-arrow, against DuckDB too.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { A, OA_BIN, check, deadline, fail, finish, note, tempDir } from './common.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

deadline(400);
const here = dirname(fileURLToPath(import.meta.url));
const dir = tempDir('oa-query-duckdb-');
const N_SPANS = 20000;

function run(args, opts = {}) {
  const r = spawnSync(OA_BIN, args, { maxBuffer: 1 << 30, ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr ? r.stderr.toString() : '' };
}

// ------------------------------------------------------------ data

const pb = join(dir, 'spans.pb');
let r = run(['gen', '--spans', String(N_SPANS), '--seed', '11', '--batch', '1000', '-q', '-o', pb]);
if (!check('gen', r.code === 0, r.err)) finish();
const pbOne = join(dir, 'one.pb'); // one request, for OTLP/HTTP
r = run(['gen', '--spans', String(N_SPANS), '--seed', '11', '-q', '-o', pbOne]);
if (!check('gen (one request)', r.code === 0, r.err)) finish();

const EXPORT = 'SELECT trace_id, span_id, parent_span_id, name, service_name, kind, '
  + 'start_time, end_time, duration, status_code, status_message FROM spans';
const csvPath = join(dir, 'spans.csv');
r = run(['query', '--input', pb, EXPORT, '--format', 'csv', '--output', csvPath]);
if (!check('export to CSV', r.code === 0, r.err)) finish();

// ------------------------------------------------------------ CSV reader

// RFC 4180; an unquoted empty field is NULL, a quoted one the empty string.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let i = 0;
  while (i < text.length) {
    let v;
    if (text[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error('unterminated quote');
        s += text.slice(i, q);
        if (text[q + 1] === '"') { s += '"'; i = q + 2; } else { i = q + 1; break; }
      }
      v = s;
    } else {
      let e = i;
      while (e < text.length && text[e] !== ',' && text[e] !== '\r' && text[e] !== '\n') e++;
      v = e === i ? null : text.slice(i, e);
      i = e;
    }
    row.push(v);
    if (text[i] === ',') { i++; continue; }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') i++;
    rows.push(row);
    row = [];
  }
  return rows;
}

// ------------------------------------------------------------ DuckDB

const duck = await (await DuckDBInstance.create(':memory:')).connect();
await duck.run(`CREATE TABLE raw AS SELECT * FROM read_csv('${csvPath}', header = true,
  delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, columns = {
    'trace_id': 'VARCHAR', 'span_id': 'VARCHAR', 'parent_span_id': 'VARCHAR',
    'name': 'VARCHAR', 'service_name': 'VARCHAR', 'kind': 'INTEGER',
    'start_time': 'BIGINT', 'end_time': 'BIGINT', 'duration': 'BIGINT',
    'status_code': 'INTEGER', 'status_message': 'VARCHAR'})`);
await duck.run(`CREATE TABLE spans AS SELECT trace_id, span_id, parent_span_id, name,
  service_name, kind, make_timestamp_ns(start_time) AS start_time,
  make_timestamp_ns(end_time) AS end_time, duration, status_code, status_message FROM raw`);
const cnt = await duck.runAndReadAll('SELECT count(*) FROM spans');
check('DuckDB loaded every span', Number(cnt.getRows()[0][0]) === N_SPANS, String(cnt.getRows()[0][0]));

// A DuckDB value as the text our CSV has: ids hex, times integer ns.
function duckText(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return v;
  if (v.nanos !== undefined) return v.nanos.toString();
  if (v.micros !== undefined) return (v.micros * 1000n).toString();
  if (v.millis !== undefined) return (v.millis * 1000000n).toString();
  if (v.value !== undefined && v.scale !== undefined) return String(Number(v.value) / 10 ** v.scale);
  return String(v);
}

async function duckRows(sql) {
  const res = await duck.runAndReadAll(sql);
  return res.getRows().map((row) => row.map(duckText));
}

function sameValue(a, b) {
  if (a === b) return true;
  if (a === null || b === null) return false;
  const x = Number(a), y = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && Number.isFinite(x) && Number.isFinite(y)) {
    // doubles: relative tolerance; integers beyond 2^53 were equal as text
    return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  }
  return false;
}

function compareRows(what, ours, theirs) {
  if (ours.length !== theirs.length) {
    fail(what, `${ours.length} rows != DuckDB's ${theirs.length}`);
    return false;
  }
  for (let i = 0; i < ours.length; i++) {
    const a = ours[i], b = theirs[i];
    if (a.length !== b.length) { fail(what, `row ${i}: ${a.length} columns != ${b.length}`); return false; }
    for (let c = 0; c < a.length; c++) {
      if (!sameValue(a[c], b[c])) {
        fail(what, `row ${i} column ${c}: ${JSON.stringify(a[c])} != DuckDB ${JSON.stringify(b[c])}`);
        return false;
      }
    }
  }
  check(what, true);
  return true;
}

function ourRows(sql) {
  const q = run(['query', '--input', pb, sql, '--format', 'csv']);
  if (q.code !== 0) return { error: q.err };
  const rows = parseCsv(q.out.toString());
  return { rows: rows.slice(1), header: rows[0] };
}

// [name, our SQL, DuckDB SQL (default: the same)]. Every ORDER BY ends in a
// unique key so that the order is deterministic in both.
const QUERIES = [
  ['filter LIKE + comparison',
    "SELECT span_id, name, duration FROM spans WHERE name LIKE 'GET%' AND duration > 10000000 ORDER BY span_id"],
  ['filter NOT LIKE / OR',
    "SELECT span_id FROM spans WHERE name NOT LIKE '%Service%' AND (kind = 3 OR kind = 4) ORDER BY span_id"],
  ['filter IN', "SELECT span_id, service_name FROM spans WHERE service_name IN ('frontend', 'cart', 'checkout') ORDER BY span_id"],
  ['filter NOT IN', "SELECT count(*) FROM spans WHERE kind NOT IN (1, 2)"],
  ['filter BETWEEN', 'SELECT span_id, duration FROM spans WHERE duration BETWEEN 1000000 AND 5000000 ORDER BY span_id'],
  ['filter IS NULL', 'SELECT count(*) FROM spans WHERE parent_span_id IS NULL'],
  ['filter IS NOT NULL + status', 'SELECT span_id, status_message FROM spans WHERE parent_span_id IS NOT NULL AND status_code = 2 ORDER BY span_id'],
  ['filter NOT', 'SELECT count(*) FROM spans WHERE NOT (kind = 2 OR status_code = 2)'],
  ['filter on a trace id',
    `SELECT span_id, name FROM spans WHERE trace_id = X'TRACE' ORDER BY span_id`,
    "SELECT span_id, name FROM spans WHERE trace_id = 'TRACE' ORDER BY span_id"],
  ['GROUP BY trace_id (high cardinality), every aggregate',
    'SELECT trace_id, count(*), count(parent_span_id), count(DISTINCT service_name), sum(duration), '
    + 'avg(duration), min(duration), max(duration), min(name), max(name), min(start_time), max(end_time) '
    + 'FROM spans GROUP BY trace_id ORDER BY trace_id'],
  ['GROUP BY trace_id, top 100 by count',
    'SELECT trace_id, count(*) AS c, avg(duration), max(duration), min(duration) FROM spans '
    + 'GROUP BY trace_id ORDER BY c DESC, trace_id LIMIT 100'],
  ['GROUP BY two keys with HAVING',
    'SELECT service_name, name, count(*) AS n, avg(duration) AS a, count(DISTINCT trace_id) AS t FROM spans '
    + 'GROUP BY service_name, name HAVING count(*) > 5 ORDER BY n DESC, service_name, name'],
  ['GROUP BY with a NULL key',
    'SELECT parent_span_id IS NULL AS root, count(*) FROM spans GROUP BY parent_span_id IS NULL ORDER BY root'],
  ['global aggregates', 'SELECT count(*), count(DISTINCT trace_id), count(DISTINCT name), sum(duration), avg(duration), min(start_time), max(start_time) FROM spans'],
  // on a double: DuckDB's quantile_cont of a BIGINT is a DOUBLE, ours of a
  // duration a duration (rounded to whole nanoseconds)
  ['quantile_cont', 'SELECT service_name, quantile_cont(CAST(duration AS DOUBLE), 0.9), median(CAST(duration AS DOUBLE)) '
    + 'FROM spans GROUP BY service_name ORDER BY service_name'],
  ['ORDER BY with ties and NULLS FIRST, LIMIT/OFFSET',
    'SELECT span_id, status_code, parent_span_id FROM spans ORDER BY status_code DESC, parent_span_id NULLS FIRST, span_id LIMIT 200 OFFSET 50'],
  ['ORDER BY DESC NULLS LAST',
    'SELECT span_id, parent_span_id FROM spans ORDER BY parent_span_id DESC NULLS LAST, span_id LIMIT 300'],
  ['ORDER BY trace_id, start_time, span_id',
    'SELECT trace_id, start_time, span_id FROM spans ORDER BY trace_id, start_time, span_id LIMIT 1000 OFFSET 5000'],
  ['ORDER BY an aggregate alias and a string',
    'SELECT name, sum(duration) AS total FROM spans GROUP BY name ORDER BY total DESC, name LIMIT 20'],
  ['date_trunc buckets',
    "SELECT date_trunc('second', start_time) AS s, count(*) AS n, max(duration) FROM spans GROUP BY date_trunc('second', start_time) ORDER BY s"],
  ['date_trunc minute with a filter',
    "SELECT date_trunc('minute', start_time) AS m, service_name, count(*) FROM spans WHERE status_code = 2 GROUP BY date_trunc('minute', start_time), service_name ORDER BY m, service_name"],
];

const someTrace = (await duckRows('SELECT trace_id FROM spans ORDER BY trace_id LIMIT 1 OFFSET 77'))[0][0];
for (const [name, ours0, theirs0] of QUERIES) {
  const ours = ours0.replaceAll('TRACE', someTrace);
  const theirs = (theirs0 || ours0).replaceAll('TRACE', someTrace);
  const o = ourRows(ours);
  if (o.error !== undefined) { fail(name, `otlparrow: ${o.error.trim()}`); continue; }
  let d;
  try {
    d = await duckRows(theirs);
  } catch (e) {
    fail(name, `DuckDB: ${e.message}`);
    continue;
  }
  if (compareRows(name, o.rows, d) && o.rows.length === 0) note(`note: ${name} returned no rows`);
}

// ------------------------------------------------------------ Flight SQL

const protoPath = join(here, '..', '..', 'proto', 'arrow', 'flight', 'Flight.proto');
const def = protoLoader.loadSync(protoPath, {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
});
const FlightService = grpc.loadPackageDefinition(def).arrow.flight.protocol.FlightService;

// Minimal protobuf: length-delimited fields.
function varint(n) {
  const out = [];
  while (n > 127) { out.push((n & 127) | 128); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}
function bytesField(num, data) {
  const b = Buffer.from(data);
  return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
}
function anyOf(type, value) {
  return Buffer.concat([bytesField(1, `type.googleapis.com/arrow.flight.protocol.sql.${type}`), bytesField(2, value)]);
}
function joinStream(datas) {
  const parts = [];
  for (const d of datas) {
    const h = d.data_header;
    if (!h || h.length === 0) continue;
    const pad = (8 - (h.length % 8)) % 8;
    const prefix = Buffer.alloc(8);
    prefix.writeInt32LE(-1, 0);
    prefix.writeInt32LE(h.length + pad, 4);
    parts.push(prefix, h, Buffer.alloc(pad), d.data_body);
  }
  const eos = Buffer.alloc(8);
  eos.writeInt32LE(-1, 0);
  parts.push(eos);
  return new Uint8Array(Buffer.concat(parts));
}

async function startServer() {
  const srv = spawn(OA_BIN, ['serve', '--flight', '127.0.0.1:0', '--otlp-grpc', 'off',
    '--otlp-http', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => { if (srv.exitCode === null) srv.kill('SIGKILL'); });
  let out = '';
  let errText = '';
  srv.stderr.on('data', (d) => { errText += d; });
  const exited = new Promise((resolve) => srv.on('exit', (code, sig) => resolve({ code, sig })));
  const ports = await new Promise((resolve, reject) => {
    srv.stdout.on('data', (d) => {
      out += d;
      const f = out.match(/Arrow Flight on 127\.0\.0\.1:(\d+)/);
      const h = out.match(/OTLP\/HTTP on 127\.0\.0\.1:(\d+)/);
      if (f && h && out.includes('ready')) resolve({ flight: Number(f[1]), http: Number(h[1]) });
    });
    exited.then(({ code }) => reject(new Error(`serve exited early (${code}): ${errText}`)));
  });
  return { srv, ...ports, exited };
}

function unary(client, method, req) {
  return new Promise((resolve) => {
    client[method](req, (e, res) => resolve({ code: e ? e.code : 0, details: e ? e.details : '', r: res }));
  });
}
function doGet(client, ticket) {
  return new Promise((resolve) => {
    const call = client.DoGet({ ticket });
    const datas = [];
    let err = null;
    call.on('data', (d) => datas.push(d));
    call.on('error', (e) => { err = e; });
    call.on('status', (s) => resolve({ code: err ? err.code : s.code, details: err ? err.details : s.details, datas }));
  });
}

// Arrow JS values as our CSV text (ids hex, times integer ns).
function arrowText(v, type) {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (A.DataType.isTimestamp(type)) {
    // apache-arrow gives milliseconds as a number; the exact value is in the
    // raw int64 data, read below
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  return String(v);
}
function tableRows(table) {
  const rows = [];
  for (let i = 0; i < table.numRows; i++) {
    const row = [];
    for (let c = 0; c < table.numCols; c++) {
      const col = table.getChildAt(c);
      const type = table.schema.fields[c].type;
      if (A.DataType.isTimestamp(type)) {
        // the exact int64: from the chunk's values array
        let k = i;
        let value = null;
        for (const d of col.data) {
          if (k < d.length) {
            const valid = !d.nullBitmap || d.nullBitmap.length === 0
              || (d.nullBitmap[(d.offset + k) >> 3] >> ((d.offset + k) & 7)) & 1;
            value = valid ? BigInt.asIntN(64, BigInt(d.values[d.offset + k])).toString() : null;
            break;
          }
          k -= d.length;
        }
        row.push(value);
      } else {
        row.push(arrowText(col.get(i), type));
      }
    }
    rows.push(row);
  }
  return rows;
}

let server;
try {
  server = await startServer();
} catch (e) {
  fail('serve starts', String(e));
  finish();
}
const post = await fetch(`http://127.0.0.1:${server.http}/v1/traces`, {
  method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: readFileSync(pbOne),
});
check('OTLP/HTTP takes the spans', post.status === 200, `HTTP ${post.status}`);
const client = new FlightService(`127.0.0.1:${server.flight}`, grpc.credentials.createInsecure(), {
  'grpc.max_receive_message_length': -1,
});

const FSQL = 'SELECT trace_id, count(*) AS c, sum(duration) AS total, max(start_time) AS last '
  + 'FROM spans GROUP BY trace_id ORDER BY c DESC, trace_id LIMIT 50';
const cmd = anyOf('CommandStatementQuery', bytesField(1, FSQL));
const info = await unary(client, 'GetFlightInfo', { type: 'CMD', cmd, path: [] });
if (check('Flight SQL: GetFlightInfo(CommandStatementQuery)', info.code === 0, `${info.code}: ${info.details}`)) {
  const fi = info.r;
  check('Flight SQL: one endpoint', fi.endpoint.length === 1, String(fi.endpoint.length));
  check('Flight SQL: total_records', String(fi.total_records) === '50', String(fi.total_records));
  // the FlightInfo schema is an encapsulated IPC schema message
  let infoFields = [];
  try {
    const sch = A.tableFromIPC(joinStream([{ data_header: fi.schema.subarray(8), data_body: Buffer.alloc(0) }]));
    infoFields = sch.schema.fields.map((f) => f.name);
  } catch (e) {
    fail('Flight SQL: FlightInfo.schema decodes', String(e));
  }
  check('Flight SQL: FlightInfo.schema has the result columns',
    infoFields.join(',') === 'trace_id,c,total,last', infoFields.join(','));
  const ticket = fi.endpoint[0].ticket.ticket;
  check('Flight SQL: the ticket is an Any TicketStatementQuery',
    Buffer.from(ticket).includes('arrow.flight.protocol.sql.TicketStatementQuery'), Buffer.from(ticket).toString('latin1'));
  const got = await doGet(client, ticket);
  if (check('Flight SQL: DoGet of the ticket', got.code === 0, `${got.code}: ${got.details}`)) {
    let table = null;
    try {
      table = A.tableFromIPC(joinStream(got.datas));
    } catch (e) {
      fail('Flight SQL: apache-arrow decodes the result', String(e));
    }
    if (table) {
      check('Flight SQL: apache-arrow decodes the result', table.numRows === 50, String(table.numRows));
      compareRows('Flight SQL result == DuckDB', tableRows(table), await duckRows(FSQL));
    }
  }
}
// GetSchema of the same command: the result's schema alone
const gs = await unary(client, 'GetSchema', { type: 'CMD', cmd, path: [] });
if (check('Flight SQL: GetSchema(CommandStatementQuery)', gs.code === 0, `${gs.code}: ${gs.details}`)) {
  let names = '';
  try {
    const t = A.tableFromIPC(joinStream([{ data_header: gs.r.schema.subarray(8), data_body: Buffer.alloc(0) }]));
    names = t.schema.fields.map((f) => f.name).join(',');
  } catch (e) {
    names = String(e);
  }
  check('Flight SQL: GetSchema has the result columns', names === 'trace_id,c,total,last', names);
}
// a plain SQL ticket
const plain = await doGet(client, Buffer.from('  select count(*) AS n FROM spans'));
if (check('DoGet of a SQL ticket', plain.code === 0, `${plain.code}: ${plain.details}`)) {
  const t = A.tableFromIPC(joinStream(plain.datas));
  check('DoGet of a SQL ticket: count', String(t.getChildAt(0).get(0)) === String(N_SPANS), String(t.getChildAt(0).get(0)));
}
// errors
const bad = await unary(client, 'GetFlightInfo', { type: 'CMD', cmd: anyOf('CommandStatementQuery', bytesField(1, 'SELECT FROM WHERE')), path: [] });
check('Flight SQL: bad SQL is INVALID_ARGUMENT', bad.code === grpc.status.INVALID_ARGUMENT, `${bad.code}: ${bad.details}`);
check('Flight SQL: bad SQL names the position', /SQL error at \d+:\d+/.test(bad.details), bad.details);
const missing = await doGet(client, anyOf('TicketStatementQuery', bytesField(1, 'SELECT * FROM no_such_table')));
check('Flight SQL: a missing table is NOT_FOUND', missing.code === grpc.status.NOT_FOUND, `${missing.code}: ${missing.details}`);
const other = await unary(client, 'GetFlightInfo', { type: 'CMD', cmd: anyOf('CommandGetTables', Buffer.alloc(0)), path: [] });
check('Flight SQL: other commands are UNIMPLEMENTED', other.code === grpc.status.UNIMPLEMENTED, `${other.code}: ${other.details}`);
const ds = await doGet(client, Buffer.from('spans'));
check('DoGet of a dataset name still works', ds.code === 0, `${ds.code}: ${ds.details}`);

client.close();
server.srv.kill('SIGTERM');
const ex = await server.exited;
check('serve exits 0', ex.code === 0, `${ex.code} ${ex.sig}`);
finish();
