// The real OpenTelemetry JS gRPC exporter (@opentelemetry/exporter-trace-otlp-grpc,
// over @grpc/grpc-js) sends spans to `otlparrow serve`, plainly and with
// gzip message compression. On SIGTERM the server drains, writes the
// 'spans' dataset as an Arrow IPC file (--dump-on-exit) and exits 0; the
// file is read back with apache-arrow and compared span by span with what
// the SDK held.
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { A, OA_BIN, check, deadline, finish, tempDir } from './common.mjs';

const require = createRequire(import.meta.url);
const api = require('@opentelemetry/api');
const sdk = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');

deadline(120);
const dir = tempDir('oa-grpc-sdk-');
const dump = join(dir, 'spans.arrow');

// ---- start the server on free loopback ports
const srv = spawn(OA_BIN, ['serve', '--otlp-grpc', '127.0.0.1:0', '--otlp-http', 'off',
  '--flight', 'off', '--data-dir', join(dir, 'data'), '--dump-on-exit', dump],
  { stdio: ['ignore', 'pipe', 'pipe'] });
process.on('exit', () => { if (srv.exitCode === null) srv.kill('SIGKILL'); });
let out = '';
let errText = '';
srv.stderr.on('data', (d) => { errText += d; });
const exited = new Promise((resolve) => srv.on('exit', (code, sig) => resolve({ code, sig })));
const port = await new Promise((resolve, reject) => {
  srv.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/OTLP\/gRPC on 127\.0\.0\.1:(\d+)/);
    if (m && out.includes('ready')) resolve(Number(m[1]));
  });
  exited.then(({ code }) => reject(new Error(`serve exited early (${code}): ${errText}`)));
});
check('serve prints its gRPC port', port > 0);
check('serve binds loopback', /OTLP\/gRPC on 127\.0\.0\.1:/.test(out));

// ---- make spans with the SDK
const memory = new sdk.InMemorySpanExporter();
const provider = new sdk.BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'grpc-sdk-test', 'service.version': '1.2.3' }),
  spanProcessors: [new sdk.SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('interop-scope', '0.9.0');
const kinds = [api.SpanKind.INTERNAL, api.SpanKind.SERVER, api.SpanKind.CLIENT,
  api.SpanKind.PRODUCER, api.SpanKind.CONSUMER];
for (let t = 0; t < 10; t++) {
  tracer.startActiveSpan(`root ${t}`, { kind: api.SpanKind.SERVER }, (root) => {
    root.setAttribute('http.route', `/items/${t}`);
    root.setAttribute('http.status_code', 200 + t);
    for (let c = 0; c < 9; c++) {
      const child = tracer.startSpan(`child ${t}.${c} ✓`, {
        kind: kinds[c % kinds.length],
        attributes: { 'db.system': 'postgresql', ratio: c / 3, ok: c % 2 === 0 },
      });
      child.addEvent('step', { n: c });
      if (c === 4) child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'boom' });
      child.end();
    }
    root.end();
  });
}
await provider.forceFlush();
const spans = memory.getFinishedSpans();
check('SDK made 100 spans', spans.length === 100, `${spans.length}`);

function exportWith(exporter, batch) {
  return new Promise((resolve) => exporter.export(batch, (r) => resolve(r)));
}
const plain = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}` });
const gzip = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}`, compression: 'gzip' });
const r1 = await exportWith(plain, spans.slice(0, 60));
check('plain export succeeds', r1.code === 0, r1.error && String(r1.error));
const r2 = await exportWith(plain, spans.slice(60));
check('second export succeeds', r2.code === 0, r2.error && String(r2.error));
const r3 = await exportWith(gzip, spans);
check('gzip export succeeds', r3.code === 0, r3.error && String(r3.error));
await plain.shutdown();
await gzip.shutdown();

// ---- stop: SIGTERM drains and exits 0
srv.kill('SIGTERM');
const { code, sig } = await exited;
check('serve exits 0 on SIGTERM', code === 0, `code ${code} signal ${sig}: ${errText}`);
check('serve reports the spans it accepted', /200 spans accepted/.test(errText), errText);
check('dump written', existsSync(dump));

// ---- compare what the server holds with what the SDK sent
const table = A.tableFromIPC(readFileSync(dump));
check('dump holds every span twice', table.numRows === 200, `${table.numRows}`);
const hex = (u8) => Buffer.from(u8).toString('hex');
const col = (name) => table.getChild(name);
const rows = new Map();
for (let i = 0; i < table.numRows; i++) {
  const key = hex(col('span_id').get(i));
  rows.set(key, (rows.get(key) || []).concat([i]));
}
let compared = 0;
for (const s of spans) {
  const ctx = s.spanContext();
  const at = rows.get(ctx.spanId) || [];
  check(`span ${s.name} received twice`, at.length === 2, `${at.length}`);
  for (const i of at) {
    const where = `span ${s.name} row ${i}`;
    const eq = (what, act, exp) => check(`${where} ${what}`, act === exp, `got ${act}, expected ${exp}`);
    eq('trace_id', hex(col('trace_id').get(i)), ctx.traceId);
    eq('name', col('name').get(i), s.name);
    eq('kind', col('kind').get(i), s.kind + 1); // OTLP kinds are the SDK's + 1
    const parent = col('parent_span_id').get(i);
    eq('parent_span_id', parent ? hex(parent) : undefined, s.parentSpanContext?.spanId);
    eq('status_code', col('status_code').get(i), s.status.code);
    eq('status_message', col('status_message').get(i) || '', s.status.message || '');
    eq('service_name', col('service_name').get(i), 'grpc-sdk-test');
    eq('scope_name', col('scope_name').get(i), 'interop-scope');
    eq('scope_version', col('scope_version').get(i), '0.9.0');
    eq('events', col('events').get(i).length, s.events.length);
    eq('attributes', col('attributes').get(i).size, Object.keys(s.attributes).length);
    compared++;
  }
}
check('compared 200 rows', compared === 200, `${compared}`);
finish();
