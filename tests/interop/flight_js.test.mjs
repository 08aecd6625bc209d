// An independent Arrow Flight client (@grpc/grpc-js with our Flight.proto
// loaded by @grpc/proto-loader, apache-arrow to build and decode the data)
// against `otlparrow serve --flight`: tables built by apache-arrow and
// Arrow's gold integration streams go in with DoPut, split into FlightData
// messages here, and come back equal with DoGet. Also GetFlightInfo,
// GetSchema, ListFlights, DoAction, ListActions, malformed FlightData and
// bearer-token auth.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  A, OA_BIN, OA_SHARED_DIR, check, compareJS, deadline, fail, finish, note,
  readWithArrowJS, tempDir,
} from './common.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

deadline(240);
const here = dirname(fileURLToPath(import.meta.url));
const protoPath = join(here, '..', '..', 'proto', 'arrow', 'flight', 'Flight.proto');
const def = protoLoader.loadSync(protoPath, {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
});
const FlightService = grpc.loadPackageDefinition(def).arrow.flight.protocol.FlightService;
const dir = tempDir('oa-flight-js-');

// ------------------------------------------------------------ server

async function startServer(extra = []) {
  const srv = spawn(OA_BIN, ['serve', '--flight', '127.0.0.1:0', '--otlp-grpc', 'off',
    '--otlp-http', 'off', '--data-dir', join(dir, `data${extra.length}`), ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => { if (srv.exitCode === null) srv.kill('SIGKILL'); });
  let out = '';
  let errText = '';
  srv.stderr.on('data', (d) => { errText += d; });
  const exited = new Promise((resolve) => srv.on('exit', (code, sig) => resolve({ code, sig })));
  const port = await new Promise((resolve, reject) => {
    srv.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/Arrow Flight on 127\.0\.0\.1:(\d+)/);
      if (m && out.includes('ready')) resolve(Number(m[1]));
    });
    exited.then(({ code }) => reject(new Error(`serve exited early (${code}): ${errText}`)));
  });
  return { srv, port, exited, stderr: () => errText };
}

function connect(port) {
  return new FlightService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
}

// ------------------------------------------------------------ IPC <-> FlightData

// Splits an IPC stream into messages: {header (Message flatbuffer), body}.
function splitStream(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const msgs = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    let len = buf.readInt32LE(pos);
    pos += 4;
    if (len === -1) { len = buf.readInt32LE(pos); pos += 4; }
    if (len === 0) break; // end of stream
    const header = buf.subarray(pos, pos + len);
    pos += len;
    const m = A.Message.decode(header);
    const bodyLen = Number(m.bodyLength);
    msgs.push({ header, body: buf.subarray(pos, pos + bodyLen), type: m.headerType });
    pos += bodyLen;
  }
  return msgs;
}

// Frames FlightData messages back into an IPC stream for apache-arrow.
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

function pathDescriptor(name) {
  return { type: 'PATH', path: [name], cmd: Buffer.alloc(0) };
}

function withMeta(token) {
  const md = new grpc.Metadata();
  if (token) md.add('authorization', `Bearer ${token}`);
  return md;
}

// DoPut of an IPC stream's messages; resolves {status, acks, details}.
function doPut(client, name, ipcBytes, { token, raw } = {}) {
  return new Promise((resolve) => {
    const call = client.DoPut(withMeta(token));
    const acks = [];
    let status = null;
    call.on('data', (r) => acks.push(r));
    call.on('error', (e) => { status = e; });
    call.on('status', (s) => { resolve({ code: status ? status.code : s.code, details: status ? status.details : s.details, acks }); });
    if (raw) {
      for (const r of raw) call.write(r);
    } else {
      splitStream(ipcBytes).forEach((m, i) => {
        call.write({
          flight_descriptor: i === 0 ? pathDescriptor(name) : null,
          data_header: m.header,
          app_metadata: Buffer.from(`m${i}`),
          data_body: m.body,
        });
      });
    }
    call.end();
  });
}

function doGet(client, ticket, { token } = {}) {
  return new Promise((resolve) => {
    const call = client.DoGet({ ticket: Buffer.from(ticket) }, withMeta(token));
    const datas = [];
    let err = null;
    call.on('data', (d) => datas.push(d));
    call.on('error', (e) => { err = e; });
    call.on('status', (s) => resolve({ code: err ? err.code : s.code, details: err ? err.details : s.details, datas }));
  });
}

function unary(client, method, req, token) {
  return new Promise((resolve) => {
    client[method](req, withMeta(token), (e, r) => resolve({ code: e ? e.code : 0, details: e ? e.details : '', r }));
  });
}

function serverStream(client, method, req, token) {
  return new Promise((resolve) => {
    const call = client[method](req, withMeta(token));
    const items = [];
    let err = null;
    call.on('data', (d) => items.push(d));
    call.on('error', (e) => { err = e; });
    call.on('status', (s) => resolve({ code: err ? err.code : s.code, details: err ? err.details : s.details, items }));
  });
}

// Datasets put by roundTrip: read again by a restarted server, which has
// them in its segments.
const stored = [];

// Reads name back and compares it (batches, rows, values) with ipcBytes.
async function checkGet(client, name, ipcBytes, when = '') {
  const original = readWithArrowJS(ipcBytes);
  const got = await doGet(client, name);
  if (!check(`DoGet ${name}${when}`, got.code === 0, `status ${got.code}: ${got.details}`)) return;
  let back;
  try {
    back = readWithArrowJS(joinStream(got.datas));
  } catch (e) {
    fail(`DoGet ${name}${when}: apache-arrow reads the FlightData`, String(e));
    return;
  }
  const errs = compareJS(original, back);
  check(`DoGet ${name}${when} == DoPut ${name}`, errs.length === 0, errs.slice(0, 5).join('; '));
}

// Puts ipc under name, reads it back, compares with apache-arrow.
async function roundTrip(client, name, ipcBytes) {
  const put = await doPut(client, name, ipcBytes);
  const nBatches = splitStream(ipcBytes).filter((m) => m.type === A.MessageHeader.RecordBatch).length;
  if (!check(`DoPut ${name}`, put.code === 0, `status ${put.code}: ${put.details}`)) return;
  check(`DoPut ${name}: one PutResult per batch`, put.acks.length === nBatches, `${put.acks.length} != ${nBatches}`);
  stored.push({ name, ipcBytes });
  await checkGet(client, name, ipcBytes);
}

// ------------------------------------------------------------ tests

const { srv, port, exited } = await startServer();
check('serve prints the Flight port', port > 0);
const client = connect(port);

// tables built by apache-arrow
{
  const n = 1000;
  const ids = Int32Array.from({ length: n }, (_, i) => i * 7 - 300);
  const vals = Float64Array.from({ length: n }, (_, i) => i / 8);
  const names = Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : `name-${i % 50} ✓`));
  const cats = A.vectorFromArray(Array.from({ length: n }, (_, i) => ['a', 'bb', 'ccc', null][i % 4]),
    new A.Dictionary(new A.Utf8(), new A.Int16()));
  const lists = A.vectorFromArray(Array.from({ length: n }, (_, i) => (i % 5 === 0 ? null : Array.from({ length: i % 4 }, (_, k) => i + k))),
    new A.List(new A.Field('item', new A.Int32(), true)));
  const big = A.vectorFromArray(Array.from({ length: n }, (_, i) => BigInt(i) * 1000000007n - 5n), new A.Int64());
  const ts = A.vectorFromArray(Array.from({ length: n }, (_, i) => 1700000000000 + i), new A.TimestampMillisecond('UTC'));
  const flags = A.vectorFromArray(Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : i % 3 === 0)), new A.Bool());
  const table = new A.Table({
    id: A.makeVector(ids), value: A.makeVector(vals), name: A.vectorFromArray(names, new A.Utf8()),
    cat: cats, list: lists, big, ts, flag: flags,
  });
  await roundTrip(client, 'js-table', A.tableToIPC(table, 'stream'));
  // several batches (concatenated tables keep their batches)
  const t3 = new A.Table([...table.slice(0, 300).batches, ...table.slice(300, 700).batches, ...table.slice(700).batches]);
  await roundTrip(client, 'js-table-3', A.tableToIPC(t3, 'stream'));

  // GetFlightInfo / GetSchema / ListFlights / DoAction
  const info = await unary(client, 'GetFlightInfo', pathDescriptor('js-table'));
  check('GetFlightInfo js-table', info.code === 0, info.details);
  if (info.r) {
    check('FlightInfo.total_records', info.r.total_records === String(n), info.r.total_records);
    check('FlightInfo.total_bytes > 0', Number(info.r.total_bytes) > 0, info.r.total_bytes);
    check('FlightInfo endpoint ticket', info.r.endpoint.length === 1 &&
      Buffer.from(info.r.endpoint[0].ticket.ticket).toString() === 'js-table');
    const sch = readWithArrowJS(new Uint8Array(Buffer.concat([info.r.schema, Buffer.from([255, 255, 255, 255, 0, 0, 0, 0])]))).schema;
    check('FlightInfo.schema read by apache-arrow', sch.fields.map((f) => f.name).join(',') === 'id,value,name,cat,list,big,ts,flag',
      sch.fields.map((f) => f.name).join(','));
  }
  const gs = await unary(client, 'GetSchema', pathDescriptor('js-table'));
  check('GetSchema js-table', gs.code === 0 && gs.r.schema.length > 8, gs.details);
  const nf = await unary(client, 'GetFlightInfo', pathDescriptor('no-such'));
  check('GetFlightInfo unknown -> NOT_FOUND', nf.code === grpc.status.NOT_FOUND, `${nf.code} ${nf.details}`);
  const lf = await serverStream(client, 'ListFlights', { expression: Buffer.alloc(0) });
  const listed = lf.items.map((i) => i.flight_descriptor.path.join('/')).sort();
  check('ListFlights', lf.code === 0 && listed.includes('js-table') && listed.includes('spans'), listed.join(','));
  const la = await serverStream(client, 'ListActions', {});
  check('ListActions', la.code === 0 && la.items.map((a) => a.type).sort().join(',') === 'drop-dataset,list-datasets,stats',
    la.items.map((a) => a.type).join(','));
  const ld = await serverStream(client, 'DoAction', { type: 'list-datasets', body: Buffer.alloc(0) });
  const dsets = ld.items.map((r) => JSON.parse(Buffer.from(r.body).toString()));
  const jt = dsets.find((d) => d.name === 'js-table');
  check('DoAction list-datasets', ld.code === 0 && jt && jt.rows === n && jt.batches === 1, JSON.stringify(dsets));
  const st = await serverStream(client, 'DoAction', { type: 'stats', body: Buffer.alloc(0) });
  const stats = st.items.length ? JSON.parse(Buffer.from(st.items[0].body).toString()) : {};
  check('DoAction stats', st.code === 0 && stats.datasets >= 3 && stats.memory_used > 0, JSON.stringify(stats));
  const dr = await serverStream(client, 'DoAction', { type: 'drop-dataset', body: Buffer.from('js-table-3') });
  check('DoAction drop-dataset', dr.code === 0, dr.details);
  const gone = await doGet(client, 'js-table-3');
  check('DoGet after drop -> NOT_FOUND', gone.code === grpc.status.NOT_FOUND, `${gone.code}`);
  const ex = await unary(client, 'PollFlightInfo', pathDescriptor('js-table'));
  check('PollFlightInfo -> UNIMPLEMENTED', ex.code === grpc.status.UNIMPLEMENTED, `${ex.code}`);
}

// Arrow's gold integration streams
const goldDir = join(OA_SHARED_DIR, 'arrow-testing', 'integration', '1.0.0-littleendian');
const gold = existsSync(goldDir) ? readdirSync(goldDir).filter((f) => f.endsWith('.stream')).sort() : [];
check('gold streams found', gold.length >= 15, `${gold.length} in ${goldDir}`);
for (const f of gold) {
  const bytes = new Uint8Array(readFileSync(join(goldDir, f)));
  try {
    readWithArrowJS(bytes);
  } catch (e) {
    note(`skip ${f}: apache-arrow cannot read it (${e.message})`);
    continue;
  }
  await roundTrip(client, `gold/${f}`, bytes);
}

// malformed FlightData: INVALID_ARGUMENT, and the server keeps serving
{
  const bad1 = await doPut(client, 'bad', null, { raw: [{ flight_descriptor: pathDescriptor('bad'), data_header: Buffer.from('not a flatbuffer'), data_body: Buffer.alloc(0) }] });
  check('DoPut garbage data_header -> INVALID_ARGUMENT', bad1.code === grpc.status.INVALID_ARGUMENT, `${bad1.code} ${bad1.details}`);
  const bad2 = await doPut(client, 'bad', null, { raw: [{ data_header: Buffer.alloc(0), data_body: Buffer.alloc(0) }] });
  check('DoPut without descriptor -> INVALID_ARGUMENT', bad2.code === grpc.status.INVALID_ARGUMENT && /FlightDescriptor/.test(bad2.details), `${bad2.code} ${bad2.details}`);
  // a record batch whose buffers point past its body
  const good = splitStream(A.tableToIPC(A.tableFromArrays({ x: Int32Array.from([1, 2, 3]) }), 'stream'));
  const bad3 = await doPut(client, 'bad3', null, { raw: [
    { flight_descriptor: pathDescriptor('bad3'), data_header: good[0].header, data_body: good[0].body },
    { data_header: good[1].header, data_body: Buffer.alloc(0) },
  ] });
  check('DoPut truncated body -> INVALID_ARGUMENT', bad3.code === grpc.status.INVALID_ARGUMENT, `${bad3.code} ${bad3.details}`);
  // spans only takes the span schema
  const sp = await doPut(client, 'spans', A.tableToIPC(A.tableFromArrays({ x: Int32Array.from([1]) }), 'stream'));
  check('DoPut spans with another schema -> INVALID_ARGUMENT naming the column', sp.code === grpc.status.INVALID_ARGUMENT && /column '/.test(sp.details), `${sp.code} ${sp.details}`);
  const still = await unary(client, 'GetFlightInfo', pathDescriptor('js-table'));
  check('server still serves after bad requests', still.code === 0, still.details);
}
client.close();
srv.kill('SIGTERM');
const ex1 = await exited;
check('serve exits 0 on SIGTERM', ex1.code === 0, `${ex1.code} ${ex1.sig}`);

// The same data directory again: the datasets now come from segments (the
// store flushed them at exit) and must read back as they were put, with
// the same batches in the same order (a flush used to merge them).
{
  const s1 = await startServer();
  const c1 = connect(s1.port);
  for (const { name, ipcBytes } of stored) {
    if (name === 'js-table-3') continue; // dropped above
    await checkGet(c1, name, ipcBytes, ' after a restart');
  }
  c1.close();
  s1.srv.kill('SIGTERM');
  await s1.exited;
}

// bearer-token auth
{
  const s2 = await startServer(['--auth-token', 'tok-123']);
  const c2 = connect(s2.port);
  const noauth = await unary(c2, 'GetFlightInfo', pathDescriptor('spans'));
  check('no token -> UNAUTHENTICATED', noauth.code === grpc.status.UNAUTHENTICATED, `${noauth.code}`);
  const wrong = await unary(c2, 'GetFlightInfo', pathDescriptor('spans'), 'tok-12');
  check('wrong token -> UNAUTHENTICATED', wrong.code === grpc.status.UNAUTHENTICATED, `${wrong.code}`);
  const hs = await new Promise((resolve) => {
    const call = c2.Handshake();
    const got = [];
    let err = null;
    call.on('data', (d) => got.push(d));
    call.on('error', (e) => { err = e; });
    call.on('status', (s) => resolve({ code: err ? err.code : s.code, got }));
    call.write({ protocol_version: '0', payload: Buffer.from('tok-123') });
    call.end();
  });
  check('Handshake with the token', hs.code === 0 && hs.got.length === 1 && Buffer.from(hs.got[0].payload).toString() === 'tok-123', `${hs.code}`);
  const ok = await unary(c2, 'GetFlightInfo', pathDescriptor('spans'), 'tok-123');
  check('right token -> OK', ok.code === 0, ok.details);
  const put = await doPut(c2, 'authed', A.tableToIPC(A.tableFromArrays({ x: Int32Array.from([1, 2]) }), 'stream'), { token: 'tok-123' });
  check('DoPut with the token', put.code === 0, put.details);
  c2.close();
  s2.srv.kill('SIGTERM');
  await s2.exited;
}
finish();
