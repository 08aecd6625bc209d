// An independent Arrow Flight server (@grpc/grpc-js with our Flight.proto,
// apache-arrow to decode) receives the DoPut streams of our exporter, fed
// by `otlparrow forward` with generated OTLP traces. Every FlightData
// stream is put back together as an IPC stream and decoded by apache-arrow:
// the row count, span ids and names must be the ones sent, each batch must
// carry an "oa-batch-id:<32 hex>" app_metadata, and a DoPut answered
// UNAVAILABLE must be retried with the same batch id (so a server can drop
// the duplicate) and arrive once.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { A, OA_BIN, check, deadline, fail, finish, note, runOA, tempDir } from './common.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

deadline(120);
const here = dirname(fileURLToPath(import.meta.url));
const protoPath = join(here, '..', '..', 'proto', 'arrow', 'flight', 'Flight.proto');
const def = protoLoader.loadSync(protoPath, {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
});
const FlightService = grpc.loadPackageDefinition(def).arrow.flight.protocol.FlightService;
const dir = tempDir('oa-flight-srv-js-');

// ------------------------------------------------------------ the server

// FlightData messages -> an IPC stream (continuation, length, header padded
// to 8 bytes, body), the form apache-arrow reads.
function toIpcStream(msgs) {
  const parts = [];
  for (const m of msgs) {
    const header = m.data_header;
    const padded = (header.length + 7) & ~7;
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32LE(0xffffffff, 0);
    prefix.writeInt32LE(padded, 4);
    parts.push(prefix, header, Buffer.alloc(padded - header.length), m.data_body);
  }
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
  return Buffer.concat(parts);
}

const received = []; // {path, ids: [app_metadata per batch], table}
const attempts = new Map(); // batch id -> DoPut attempts seen
let refuseFirst = 1; // answer the first N DoPuts UNAVAILABLE
let decodeErrors = 0;

function doPut(call) {
  const msgs = [];
  const ids = [];
  let path = null;
  call.on('data', (fd) => {
    if (fd.flight_descriptor && fd.flight_descriptor.path && fd.flight_descriptor.path.length)
      path = fd.flight_descriptor.path.join('/');
    if (fd.data_header && fd.data_header.length) msgs.push(fd);
    if (fd.app_metadata && fd.app_metadata.length) ids.push(fd.app_metadata.toString());
  });
  call.on('end', () => {
    for (const id of new Set(ids)) attempts.set(id, (attempts.get(id) || 0) + 1);
    if (refuseFirst > 0) {
      refuseFirst--;
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'test: refused once' });
      return;
    }
    try {
      const table = A.tableFromIPC(toIpcStream(msgs));
      received.push({ path, ids, table });
      for (const id of ids) call.write({ app_metadata: Buffer.from(id) });
      call.end();
    } catch (e) {
      decodeErrors++;
      fail('apache-arrow decodes a DoPut', String(e && e.stack || e));
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: String(e) });
    }
  });
}

const server = new grpc.Server();
server.addService(FlightService.service, {
  doPut: doPut,
  handshake: (call) => { call.on('data', () => {}); call.on('end', () => call.end()); },
});
const port = await new Promise((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
    (e, p) => (e ? reject(e) : resolve(p))));
note(`apache-arrow Flight server on 127.0.0.1:${port}`);

// ------------------------------------------------------------ the input

const N = 3000;
const pb = join(dir, 'in.pb');
const jsonl = join(dir, 'in.jsonl');
let r = runOA(['gen', '--spans', String(N), '--seed', '41', '--batch', '600', '-q', '-o', pb]);
check('gen', r.status === 0, r.stderr);
r = runOA(['convert', pb, jsonl]);
check('convert to OTLP/JSON', r.status === 0, r.stderr);
const sent = new Map(); // spanId hex -> name
const requests = [];
{
  const data = readFileSync(pb);
  for (let i = 0; i < data.length;) {
    const n = data.readUInt32BE(i + 1);
    requests.push(data.subarray(i + 5, i + 5 + n));
    i += 5 + n;
  }
  for (const line of readFileSync(jsonl, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    for (const rs of JSON.parse(line).resourceSpans || [])
      for (const ss of rs.scopeSpans || [])
        for (const s of ss.spans || []) sent.set(s.spanId, s.name);
  }
}
check('input has N spans', sent.size === N, `${sent.size}`);

// ------------------------------------------------------------ forward

const fwd = spawn(OA_BIN, ['forward', '--to', `flight://127.0.0.1:${port}`,
  '--otlp-grpc', 'off', '--otlp-http', '127.0.0.1:0', '--batch-size', '1000',
  '--flush-interval', '100', '--compression', 'zstd'], { stdio: ['ignore', 'pipe', 'pipe'] });
process.on('exit', () => { if (fwd.exitCode === null) fwd.kill('SIGKILL'); });
let fout = '';
let ferr = '';
fwd.stderr.on('data', (d) => { ferr += d; });
const fexit = new Promise((resolve) => fwd.on('exit', (code, sig) => resolve({ code, sig })));
const httpPort = await new Promise((resolve, reject) => {
  fwd.stdout.on('data', (d) => {
    fout += d;
    const m = fout.match(/OTLP\/HTTP on 127\.0\.0\.1:(\d+)/);
    if (m && fout.includes('ready')) resolve(Number(m[1]));
  });
  fexit.then(({ code }) => reject(new Error(`forward exited early (${code}): ${ferr}`)));
});

for (const [i, body] of requests.entries()) {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, {
    method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body,
  });
  check(`request ${i} accepted by forward`, res.status === 200, `HTTP ${res.status}`);
  await res.arrayBuffer();
}

// wait until every span arrived (or 30 s)
const rows = () => received.reduce((n, x) => n + x.table.numRows, 0);
for (let i = 0; i < 300 && rows() < N; i++) await new Promise((res) => setTimeout(res, 100));
fwd.kill('SIGTERM');
const { code } = await fexit;
check('forward exits 0 on SIGTERM', code === 0, `exit ${code}: ${ferr}`);
const final = (ferr.match(/forward: final .*/) || [''])[0];
check('forward final metrics: all exported', /accepted=3000 exported=3000 failed=0/.test(final), final);
check('forward counted a retry', /retries=[1-9]/.test(final), final);

// ------------------------------------------------------------ checks

check('every DoPut decoded', decodeErrors === 0, `${decodeErrors} errors`);
check('rows received == spans sent', rows() === N, `${rows()} != ${N}`);
check('DoPut descriptor path is "spans"', received.every((x) => x.path === 'spans'),
  JSON.stringify(received.map((x) => x.path)));
const allIds = received.flatMap((x) => [...new Set(x.ids)]);
check('each batch carries oa-batch-id:<32 hex>',
  received.every((x) => x.ids.length > 0 && x.ids.every((id) => /^oa-batch-id:[0-9a-f]{32}$/.test(id))),
  JSON.stringify(received.map((x) => x.ids)));
check('batch ids unique across accepted DoPuts', new Set(allIds).size === allIds.length,
  JSON.stringify(allIds));
const retried = [...attempts.entries()].filter(([, n]) => n > 1);
check('the refused DoPut came back with the same batch id', retried.length === 1,
  JSON.stringify([...attempts.entries()]));

const hex = (v) => Buffer.from(v).toString('hex');
const seen = new Map();
let badName = 0;
for (const { table } of received) {
  check('schema has the span columns',
    ['trace_id', 'span_id', 'name', 'service_name', 'attributes', 'start_time'].every(
      (f) => table.schema.fields.some((x) => x.name === f)),
    table.schema.fields.map((x) => x.name).join(','));
  const ids = table.getChild('span_id');
  const names = table.getChild('name');
  for (let i = 0; i < table.numRows; i++) {
    const id = hex(ids.get(i));
    seen.set(id, (seen.get(id) || 0) + 1);
    if (sent.get(id) !== names.get(i)) badName++;
  }
}
check('every sent span id received exactly once',
  [...sent.keys()].every((id) => seen.get(id) === 1) && seen.size === sent.size,
  `${seen.size} distinct received`);
check('span names match the sent ones', badName === 0, `${badName} differ`);
const svc = received[0] && received[0].table.getChild('service_name');
check('service_name decodes to text', svc && typeof svc.get(0) === 'string', String(svc && svc.get(0)));

server.forceShutdown();
finish();
