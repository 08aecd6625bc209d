// The real OpenTelemetry JS OTLP/HTTP exporters against our OTLP/HTTP
// receiver.
//
// oa_http_test_server (tests/receiver/oa_http_test_server.c) runs the
// receiver on a free loopback port and, when its stdin closes, writes what
// it stored in the "spans" dataset as an Arrow IPC stream. The SDK's spans are
// sent with @opentelemetry/exporter-trace-otlp-proto (protobuf) and
// @opentelemetry/exporter-trace-otlp-http (JSON), each plain and gzip
// compressed, then the stored rows (read back with `otlparrow inspect
// --json`) are compared field by field with the SDK's spans: ids, names,
// kinds, times, statuses, attributes, events, links, resource and scope.
// Also: HTTPS with a certificate made by openssl now, a bearer token,
// malformed requests that must leave the server serving, and the memory
// limit (503 + Retry-After: the exporter retries, then gives up, and the
// spans accepted before are all kept).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as https from 'node:https';
import { gzipSync } from 'node:zlib';
import { A, check, deadline, finish, note, registerCodecs, runOA, tempDir } from './common.mjs';

deadline(240);
const require = createRequire(import.meta.url);
const api = require('@opentelemetry/api');
const sdk = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { TraceState, ExportResultCode } = require('@opentelemetry/core');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPTraceExporter: JsonExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const protobuf = require('protobufjs');

const here = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.OA_SOURCE_DIR || join(here, '..', '..');
const BUILD_DIR = process.env.OA_BUILD_DIR;
if (!BUILD_DIR) {
  console.error('OA_BUILD_DIR must be set (ctest sets it)');
  process.exit(1);
}
const SERVER = join(BUILD_DIR, 'tests', 'oa_http_test_server');
if (!existsSync(SERVER)) {
  console.error(`${SERVER} missing: build the target oa_http_test_server`);
  process.exit(1);
}
const tmp = tempDir('oa-otlp-http-');
const eq = (what, act, exp) =>
  check(what, Object.is(act, exp), `got ${JSON.stringify(act)}, expected ${JSON.stringify(exp)}`);

// ------------------------------------------------------------ the server

let nServers = 0;
// starts oa_http_test_server; resolves to { port, stop() -> rows }
function startServer(extra = []) {
  const out = join(tmp, `spans-${nServers++}.arrow`);
  const child = spawn(SERVER, [out, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 10000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^port (\d+)$/m.exec(stdout);
      if (m && timer) {
        clearTimeout(timer);
        resolve({
          port: Number(m[1]),
          async stop() {
            child.stdin.end();
            const code = await exited;
            if (code !== 0) throw new Error(`server exited ${code}: ${stderr}`);
            const r = runOA(['inspect', '--json', out], 60000);
            if (r.status !== 0) throw new Error(`inspect --json: ${r.stderr}`);
            return withTypeCodes(rowsOf(JSON.parse(r.stdout)), out);
          },
        });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
}

// inspect --json gives columns per batch: turn them into row objects
function rowsOf(doc) {
  const names = doc.schema.fields.map((f) => f.name);
  const rows = [];
  for (const b of doc.batches)
    for (let i = 0; i < b.length; i++)
      rows.push(Object.fromEntries(names.map((n, c) => [n, b.columns[c][i]])));
  return rows;
}

// inspect --json prints an attribute value as its union child's value (an
// int64 and a string both as JSON strings): the type codes come from the same
// file read with apache-arrow, whose dense union data holds the type ids.
// Adds row.types = { attributes, resource_attributes, events, links }.
registerCodecs();
function withTypeCodes(rows, file) {
  const codes = (m, i) => { // map Data row i -> its values' type ids
    const u = m.children[0].children[1];
    const out = [];
    for (let k = m.valueOffsets[m.offset + i]; k < m.valueOffsets[m.offset + i + 1]; k++)
      out.push(u.typeIds[u.offset + m.children[0].offset + k]);
    return out;
  };
  const dictCodes = (d, i) => {
    let idx = d.values[d.offset + i];
    for (const c of d.dictionary.data) {
      if (idx < c.length) return codes(c, idx);
      idx -= c.length;
    }
    return undefined;
  };
  const listCodes = (l, i, child) => {
    const item = l.children[0];
    const out = [];
    for (let k = l.valueOffsets[l.offset + i]; k < l.valueOffsets[l.offset + i + 1]; k++)
      out.push(codes(item.children[child], item.offset + k));
    return out;
  };
  const hex = (u8) => Buffer.from(u8).toString('hex');
  const byId = new Map();
  const table = A.tableFromIPC(readFileSync(file));
  for (const b of table.batches) {
    const c = (name) => b.data.children[b.schema.fields.findIndex((f) => f.name === name)];
    const ids = b.getChild('span_id');
    for (let i = 0; i < b.numRows; i++) {
      byId.set(hex(ids.get(i)), {
        attributes: codes(c('attributes'), i),
        resource_attributes: dictCodes(c('resource_attributes'), i),
        events: listCodes(c('events'), i, 2),
        links: listCodes(c('links'), i, 4),
      });
    }
  }
  for (const r of rows) r.types = byId.get(r.span_id);
  return rows;
}

// ------------------------------------------------------------ the SDK's spans

const { SpanKind, SpanStatusCode, TraceFlags, trace, context } = api;
const T0 = 1700000000;
const at = (ms, ns = 0) => [T0 + Math.floor(ms / 1000), (ms % 1000) * 1e6 + ns];

// A few traces with every kind, status, attribute type, events and links.
// tag keeps the spans of each exporter apart.
async function makeSpans(tag, n = 6) {
  const mem = new sdk.InMemorySpanExporter();
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': `http-interop-${tag}`,
      'service.version': '1.0.0',
      'process.pid': 4242,
      'deployment.note': 'äöü ✓ 日本',
    }),
    spanProcessors: [new sdk.SimpleSpanProcessor(mem)],
  });
  const tracer = provider.getTracer(`scope.${tag}`, '0.3.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' });
  const remote = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor1=abc,rojo=00f067aa0ba902b7'),
  };
  for (let t = 0; t < n; t++) {
    const root = tracer.startSpan(`${tag} root ${t} ✓`, {
      kind: SpanKind.SERVER,
      startTime: at(t * 100, t),
      attributes: {
        'str': `value ${t}`, 'str.empty': '', 'int': t - 3, 'int.big': 2 ** 53, 'double': t + 0.25,
        'bool': t % 2 === 0, 'arr.str': ['a', 'é🚀'], 'arr.int': [1, -2], 'emoji 🔑': '🚀',
      },
    }, t === 0 ? trace.setSpanContext(context.active(), remote) : undefined);
    root.addEvent('evt', { 'e.str': 'v', 'e.int': t }, at(t * 100 + 5, 7));
    root.addEvent('no attrs', at(t * 100 + 6));
    const ctx = trace.setSpan(context.active(), root);
    [SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER].forEach((kind, i) => {
      const s = tracer.startSpan(`${tag} child ${t}.${i}`, {
        kind, startTime: at(t * 100 + 10 + i), attributes: { 'child.index': i },
        links: i === 3 ? [{ context: root.spanContext(), attributes: { 'link.attr': 'x' } }, { context: remote }] : [],
      }, ctx);
      if (i === 1) s.setStatus({ code: SpanStatusCode.ERROR, message: `boom "${t}"\nline 2` });
      s.end(at(t * 100 + 20 + i, 999999));
    });
    root.setStatus({ code: SpanStatusCode.OK });
    root.end(at(t * 100 + 90));
  }
  await provider.forceFlush();
  return mem.getFinishedSpans();
}

// exporter.export as a promise of the ExportResult
const exportWith = (exporter, spans) =>
  new Promise((resolve) => exporter.export(spans, (r) => resolve(r)));

// ------------------------------------------------------------ comparison

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(SOURCE_DIR, 'proto', target);
root.loadSync('opentelemetry/proto/common/v1/common.proto', { keepCase: false });
const AnyValue = root.lookupType('opentelemetry.proto.common.v1.AnyValue');

const hrNs = (hr) => (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString();
const flagsOf = (traceFlags, isRemote) => (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

// an attribute value: the type code of the union child it went to, and that
// child's value as inspect --json prints it (int64 as a decimal string, the
// AnyValue bytes of an array as hex)
function checkAttr(where, key, act, v, code) {
  eq(`${where} key`, act?.[0], key);
  if (!act) return check(`${where} value`, false, 'missing');
  const t = act[1];
  let type = 0;
  let want = null;
  if (typeof v === 'string') [type, want] = [1, v];
  else if (typeof v === 'boolean') [type, want] = [4, v];
  else if (typeof v === 'number' && Number.isInteger(v)) [type, want] = [2, BigInt(v).toString()];
  else if (typeof v === 'number') [type, want] = [3, v];
  else if (Array.isArray(v)) {
    type = 6;
    // the AnyValue message: decode it independently
    const got = typeof t === 'string' ? AnyValue.toObject(AnyValue.decode(Buffer.from(t, 'hex')), { longs: String }) : null;
    const vals = got?.arrayValue?.values?.map((x) => x.stringValue ?? x.intValue ?? x.doubleValue ?? x.boolValue);
    eq(`${where} array`, JSON.stringify(vals), JSON.stringify(v.map((x) => (Number.isInteger(x) ? String(x) : x))));
    want = typeof t === 'string' ? t : '(hex AnyValue)';
  }
  eq(`${where} type code`, code, type);
  eq(`${where} value`, t, want);
}

function checkAttrs(where, act, obj, codes) {
  const keys = Object.keys(obj);
  eq(`${where} count`, act?.length, keys.length);
  eq(`${where} type codes count`, codes?.length, keys.length);
  keys.forEach((k, i) => checkAttr(`${where}[${JSON.stringify(k)}]`, k, act?.[i], obj[k], codes?.[i]));
}

function checkSpans(label, rows, sdkSpans) {
  const byId = new Map(rows.map((r) => [r.span_id, r]));
  for (const s of sdkSpans) {
    const sc = s.spanContext();
    const r = byId.get(sc.spanId);
    const w = `${label}: span ${JSON.stringify(s.name)}`;
    if (!check(`${w} stored`, !!r, 'missing from the dataset')) continue;
    eq(`${w} trace_id`, r.trace_id, sc.traceId);
    eq(`${w} parent_span_id`, r.parent_span_id, s.parentSpanContext?.spanId ?? null);
    eq(`${w} flags`, r.flags, flagsOf(sc.traceFlags, s.parentSpanContext?.isRemote));
    eq(`${w} name`, r.name, s.name);
    eq(`${w} kind`, r.kind, s.kind + 1);
    eq(`${w} start_time`, r.start_time, hrNs(s.startTime));
    eq(`${w} end_time`, r.end_time, hrNs(s.endTime));
    eq(`${w} status_code`, r.status_code, s.status.code);
    eq(`${w} status_message`, r.status_message, s.status.message ?? '');
    checkAttrs(`${w} attributes`, r.attributes, s.attributes, r.types?.attributes);
    eq(`${w} events`, r.events?.length, s.events.length);
    s.events.forEach((e, i) => {
      const ev = r.events?.[i] ?? {};
      eq(`${w} event ${i} time`, ev.time_unix_nano, hrNs(e.time));
      eq(`${w} event ${i} name`, ev.name, e.name);
      checkAttrs(`${w} event ${i} attributes`, ev.attributes, e.attributes ?? {}, r.types?.events?.[i]);
    });
    eq(`${w} links`, r.links?.length, s.links.length);
    s.links.forEach((l, i) => {
      const lk = r.links?.[i] ?? {};
      eq(`${w} link ${i} trace_id`, lk.trace_id, l.context.traceId);
      eq(`${w} link ${i} span_id`, lk.span_id, l.context.spanId);
      eq(`${w} link ${i} trace_state`, lk.trace_state, l.context.traceState ? l.context.traceState.serialize() : '');
      checkAttrs(`${w} link ${i} attributes`, lk.attributes, l.attributes ?? {}, r.types?.links?.[i]);
    });
    eq(`${w} service_name`, r.service_name, s.resource.attributes['service.name']);
    checkAttrs(`${w} resource_attributes`, r.resource_attributes, s.resource.attributes, r.types?.resource_attributes);
    eq(`${w} scope_name`, r.scope_name, s.instrumentationScope.name);
    eq(`${w} scope_version`, r.scope_version, s.instrumentationScope.version ?? '');
    eq(`${w} scope_schema_url`, r.scope_schema_url, s.instrumentationScope.schemaUrl ?? '');
  }
}

// a raw request with node's fetch: { status, type, body (Buffer) }
async function post(port, path, headers, body, method = 'POST') {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body });
  return { status: r.status, type: r.headers.get('content-type'), headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

// ------------------------------------------------------------ the runs

try {
  // 1. plain HTTP: both exporters, plain and gzip
  const srv = await startServer();
  const url = `http://127.0.0.1:${srv.port}/v1/traces`;
  const sent = [];
  const cases = [
    ['proto', () => new ProtoExporter({ url })],
    ['proto-gzip', () => new ProtoExporter({ url, compression: 'gzip' })],
    ['json', () => new JsonExporter({ url })],
    ['json-gzip', () => new JsonExporter({ url, compression: 'gzip' })],
  ];
  for (const [tag, make] of cases) {
    const spans = await makeSpans(tag);
    const exporter = make();
    const r = await exportWith(exporter, spans);
    eq(`${tag}: export result`, r.code, ExportResultCode.SUCCESS);
    if (r.error) note(`${tag}: ${r.error}`);
    await exporter.shutdown();
    sent.push([tag, spans]);
  }

  // malformed requests get their status and leave the server serving
  let r = await post(srv.port, '/v1/traces', { 'Content-Type': 'application/x-protobuf' }, Buffer.from([0x0a, 0x05, 0x12]));
  eq('bad protobuf: status', r.status, 400);
  eq('bad protobuf: content type', r.type, 'application/x-protobuf');
  r = await post(srv.port, '/v1/traces', { 'Content-Type': 'application/json' }, '{"resourceSpans": [');
  eq('bad JSON: status', r.status, 400);
  const st = JSON.parse(r.body.toString());
  eq('bad JSON: Status.code', st.code, 3);
  check('bad JSON: Status.message', typeof st.message === 'string' && st.message.length > 0, r.body.toString());
  r = await post(srv.port, '/v1/traces', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, Buffer.from('not gzip'));
  eq('bad gzip: status', r.status, 400);
  r = await post(srv.port, '/v1/traces', { 'Content-Type': 'text/plain' }, 'hello');
  eq('wrong content type: status', r.status, 415);
  check('wrong content type: message', r.body.toString().includes('application/x-protobuf'), r.body.toString());
  r = await post(srv.port, '/v1/logs', { 'Content-Type': 'application/json' }, '{}');
  eq('/v1/logs: status', r.status, 404);
  check('/v1/logs: message', JSON.parse(r.body.toString()).message.includes('logs are not supported yet'), r.body.toString());
  r = await post(srv.port, '/v1/traces', {}, undefined, 'GET');
  eq('GET: status', r.status, 405);
  eq('GET: Allow', r.headers.get('allow'), 'POST');
  r = await post(srv.port, '/v1/traces', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    gzipSync(Buffer.from('{"resourceSpans":[]}')));
  eq('empty JSON request, gzip: status', r.status, 200);
  eq('empty JSON request, gzip: body', r.body.toString(), '{}');

  // one more export after the errors: still serving
  const late = await makeSpans('late', 1);
  const lateExp = new ProtoExporter({ url });
  eq('after the errors: export result', (await exportWith(lateExp, late)).code, ExportResultCode.SUCCESS);
  await lateExp.shutdown();
  sent.push(['late', late]);

  const rows = await srv.stop();
  const total = sent.reduce((n, [, s]) => n + s.length, 0);
  eq('stored rows', rows.length, total);
  for (const [tag, spans] of sent) checkSpans(tag, rows, spans);

  // 2. HTTPS with a bearer token
  const key = join(tmp, 'key.pem');
  const cert = join(tmp, 'cert.pem');
  const ossl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8', timeout: 30000 });
  if (ossl.status !== 0) throw new Error(`openssl: ${ossl.stderr}`);
  const tls = await startServer(['--tls-cert', cert, '--tls-key', key, '--token', 'tok-123']);
  const turl = `https://127.0.0.1:${tls.port}/v1/traces`;
  const ca = readFileSync(cert);
  const tlsSpans = await makeSpans('tls', 2);
  let exp = new ProtoExporter({ url: turl, httpAgentOptions: { ca }, headers: { Authorization: 'Bearer tok-123' } });
  eq('HTTPS + token: export result', (await exportWith(exp, tlsSpans)).code, ExportResultCode.SUCCESS);
  await exp.shutdown();
  exp = new JsonExporter({ url: turl, httpAgentOptions: { ca }, headers: { Authorization: 'Bearer wrong' } });
  const denied = await exportWith(exp, await makeSpans('denied', 1));
  eq('HTTPS, wrong token: export fails', denied.code, ExportResultCode.FAILED);
  check('HTTPS, wrong token: 401', String(denied.error).includes('401') || String(denied.error?.code).includes('401'), String(denied.error));
  await exp.shutdown();
  // a client that does not trust the certificate cannot talk to it
  const untrusted = await new Promise((resolve) => {
    const req = https.request(turl, { method: 'POST' }, () => resolve('answered'));
    req.on('error', (e) => resolve(e.code || String(e)));
    req.end();
  });
  check('HTTPS: untrusted certificate refused by the client', untrusted !== 'answered', untrusted);
  const tlsRows = await tls.stop();
  eq('HTTPS: stored rows', tlsRows.length, tlsSpans.length);
  checkSpans('tls', tlsRows, tlsSpans);

  // 3. memory limit: 503 + Retry-After; what was accepted stays
  const small = await startServer(['--max-memory', '100000']);
  const surl = `http://127.0.0.1:${small.port}/v1/traces`;
  const accepted = [];
  let refused = null;
  for (let i = 0; i < 60 && !refused; i++) {
    const spans = await makeSpans(`mem${i}`, 2);
    const e = new ProtoExporter({ url: surl, timeoutMillis: 2500 });
    const res = await exportWith(e, spans);
    await e.shutdown();
    if (res.code === ExportResultCode.SUCCESS) accepted.push(spans);
    else refused = res;
  }
  check('memory limit: some exports accepted', accepted.length > 0, `${accepted.length}`);
  check('memory limit: an export refused', !!refused, 'the limit was never reached');
  r = await post(small.port, '/v1/traces', { 'Content-Type': 'application/x-protobuf' },
    require('@opentelemetry/otlp-transformer').ProtobufTraceSerializer.serializeRequest(await makeSpans('mem-raw', 2)));
  eq('memory limit: status', r.status, 503);
  eq('memory limit: Retry-After', r.headers.get('retry-after'), '1');
  const memRows = await small.stop();
  const memSpans = accepted.flat();
  eq('memory limit: stored rows are the accepted spans', memRows.length, memSpans.length);
  checkSpans('memory limit', memRows, memSpans);
  note(`memory limit: ${accepted.length} exports accepted before 503`);
} catch (e) {
  check(`exception`, false, e.stack || String(e));
}
finish();
