// The real OpenTelemetry JS SDK against our OTLP codec.
//
// @opentelemetry/sdk-trace-base (in-memory exporter) makes spans with every
// attribute type (string, bool, int, double, arrays of each, bytes, kvlist,
// empty values, unicode and emoji, empty strings and keys, ints at +-2^53),
// events with attributes, links (with trace state), statuses, all kinds, two
// scopes and a resource. @opentelemetry/otlp-transformer's
// ProtobufTraceSerializer and JsonTraceSerializer write the OTLP requests.
// Our side (oa_otlp_tool, built from tests/otlp/otlp_roundtrip_tool.c)
// decodes them into a span batch, prints it as JSON and re-encodes it:
// 1. the batch is compared field by field with what the SDK held;
// 2. our re-encoded protobuf and the SDK's request, both decoded by
//    protobufjs from the project's proto/ files, must be equal;
// 3. the SDK's OTLP/JSON decodes to the same batch as its protobuf.
// A 1,000-span SDK request is also checked the same way and left in
// $OA_BUILD_DIR/interop/otel_sdk_1000.pb for bench_otlp.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const api = require('@opentelemetry/api');
const sdk = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { TraceState } = require('@opentelemetry/core');
const { ProtobufTraceSerializer, JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
const protobuf = require('protobufjs');

const here = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.OA_SOURCE_DIR || join(here, '..', '..');
const BUILD_DIR = process.env.OA_BUILD_DIR;
if (!BUILD_DIR) {
  console.error('OA_BUILD_DIR must be set (ctest sets it)');
  process.exit(1);
}
const TOOL = join(BUILD_DIR, 'tests', 'otlp', 'oa_otlp_tool');
if (!existsSync(TOOL)) {
  console.error(`${TOOL} missing: build the target oa_otlp_tool`);
  process.exit(1);
}

// ------------------------------------------------------------ harness

let passed = 0;
let failed = 0;
const failures = [];
function check(what, cond, why = '') {
  if (cond) {
    passed++;
  } else {
    failed++;
    if (failures.length < 40) failures.push(`${what}${why ? ': ' + why : ''}`);
  }
}
function eq(what, act, exp) {
  const ok = Object.is(act, exp) || (act === exp);
  check(what, ok, ok ? '' : `got ${JSON.stringify(act)}, expected ${JSON.stringify(exp)}`);
}
function note(msg) {
  console.log(`note: ${msg}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'oa-otel-sdk-'));

function runTool(args) {
  const r = spawnSync(TOOL, args, { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`oa_otlp_tool ${args.join(' ')}: ${r.stderr || r.error}`);
}

// decodes a request with our tool: { doc (the batch JSON), reencoded }
function ours(name, bytes, json = false) {
  const inp = join(tmp, name + (json ? '.json' : '.pb'));
  writeFileSync(inp, bytes);
  const outJson = join(tmp, name + '.batch.json');
  const outPb = join(tmp, name + '.re.pb');
  runTool(json ? ['--json', inp, outJson, outPb] : [inp, outJson, outPb]);
  return { doc: JSON.parse(readFileSync(outJson, 'utf8')), reencoded: readFileSync(outPb) };
}

// ------------------------------------------------------------ protobufjs

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(SOURCE_DIR, 'proto', target);
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const AnyValue = root.lookupType('opentelemetry.proto.common.v1.AnyValue');
const toObj = (T, bytes) =>
  T.toObject(T.decode(bytes), { longs: String, enums: Number, bytes: String, defaults: true, arrays: true });

// ------------------------------------------------------------ the SDK's spans

const exporter = new sdk.InMemorySpanExporter();
const resource = resourceFromAttributes({
  'service.name': 'interop-svc 🚀',
  'service.version': '1.2.3',
  'host.arch': 'amd64',
  'process.pid': 4242,
  'deployment.note': 'äöü ✓ 日本',
  'empty.string': '',
});
const provider = new sdk.BasicTracerProvider({
  resource,
  spanProcessors: [new sdk.SimpleSpanProcessor(exporter)],
});
const tracerA = provider.getTracer('interop.scope.a', '0.9.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' });
const tracerB = provider.getTracer('interop.scope.b ✨');

const { SpanKind, SpanStatusCode, TraceFlags, trace, context } = api;
const T0 = 1700000000;
const at = (ms, ns = 0) => [T0 + Math.floor(ms / 1000), (ms % 1000) * 1e6 + ns];

const ALL_TYPES = {
  'str': 'hello',
  'str.empty': '',
  'str.unicode': 'héllo wörld ✓ 日本語 🚀👩‍💻',
  'bool.true': true,
  'bool.false': false,
  'int.zero': 0,
  'int.pos': 42,
  'int.neg': -7,
  'int.max_safe': Number.MAX_SAFE_INTEGER,
  'int.min_safe': Number.MIN_SAFE_INTEGER,
  'int.2p53': 2 ** 53,
  'int.-2p53': -(2 ** 53),
  'double': 3.14159,
  'double.neg': -0.5,
  'double.tiny': 5e-324,
  'double.big': 1e15 + 0.5,
  'arr.str': ['a', '', 'é🚀'],
  'arr.bool': [true, false, true],
  'arr.int': [1, -2, 2 ** 53],
  'arr.double': [1.5, -2.25, 1e-10],
  'arr.empty': [],
  '': 'empty key',
  'ключ🔑': 'unicode key',
};

const remote = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
  traceState: new TraceState('vendor1=abc,rojo=00f067aa0ba902b7'),
};
const remoteCtx = trace.setSpanContext(context.active(), remote);

const root1 = tracerA.startSpan('root ✓', { kind: SpanKind.SERVER, startTime: at(0, 123), attributes: ALL_TYPES });
root1.addEvent('event.with.attrs', { 'e.str': 'v', 'e.int': 5, 'e.dbl': 0.25, 'e.bool': false, 'e.arr': ['x', 'y'] }, at(5, 7));
root1.addEvent('no attrs', at(6));
root1.addEvent('émoji 🎉', { '': '', 'k🔑': 'v🚀' }, at(7));
root1.setStatus({ code: SpanStatusCode.OK });
const ctx1 = trace.setSpan(context.active(), root1);
const kinds = [SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER];
const children = kinds.map((kind, i) => {
  const s = tracerA.startSpan(`child ${i}`, { kind, startTime: at(10 + i), attributes: { 'child.index': i } }, ctx1);
  if (i === 1) s.setStatus({ code: SpanStatusCode.ERROR, message: 'boom 💥 "quoted"\nnewline' });
  if (i === 2) s.setStatus({ code: SpanStatusCode.ERROR });
  s.end(at(20 + i, 999999));
  return s;
});
const linked = tracerB.startSpan('linked', {
  kind: SpanKind.CONSUMER,
  startTime: at(30),
  links: [
    { context: root1.spanContext(), attributes: { 'link.str': 'l', 'link.int': -1, 'link.arr': [1, 2] } },
    { context: remote },
    { context: children[0].spanContext(), attributes: { 'link.unicode': '🔗' } },
  ],
}, ctx1);
linked.end(at(31));
const fromRemote = tracerB.startSpan('child of remote', { kind: SpanKind.SERVER, startTime: at(40) }, remoteCtx);
fromRemote.setAttribute('pi', Math.PI);
fromRemote.end(at(40));
const emptyName = tracerB.startSpan('', { startTime: at(50) });
emptyName.end(at(51));
root1.end(at(100));
await provider.forceFlush();

const spans = exporter.getFinishedSpans();
// values the SDK's attribute API refuses, but the serializers accept:
// bytes, key-value lists and an empty value
spans[spans.length - 1].attributes['bytes'] = new Uint8Array([0, 1, 2, 254, 255]);
spans[spans.length - 1].attributes['kvlist'] = { a: 'x', b: 2, nested: { c: [true, 1.5] } };
spans[spans.length - 1].attributes['empty.value'] = null;
note('BigInt attribute values are not supported by the SDK (they serialize as an empty AnyValue), and it writes integer-valued doubles as intValue (wrapping past 2^63): int64 extremes are checked at +-2^53');

// ------------------------------------------------------------ expectations

const hex = (u8) => Buffer.from(u8).toString('hex');
const hrNs = (hr) => (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString();

// the AnyValue a JS value becomes (the transformer's rules), as protobufjs
// toObject gives it with our options
function expectAny(v) {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(expectAny) } };
  if (v !== null && typeof v === 'object')
    return { kvlistValue: { values: Object.keys(v).map((k) => ({ key: k, value: expectAny(v[k]) })) } };
  return {};
}

// the attribute value our batch holds for a JS value: the type code of the
// union child it went to (from the tool's "types") and that child's value as
// oa_format_value prints it (int64 as a decimal string, bytes and the
// AnyValue bytes of arrays and kvlists as hex, empty as null)
function checkAttr(where, key, act, v, code) {
  eq(`${where} key`, act?.[0], key);
  if (!act) return check(`${where} value`, false, 'missing');
  const t = act[1];
  let type = 0;
  let want = null;
  if (typeof v === 'string') [type, want] = [1, v];
  else if (typeof v === 'boolean') [type, want] = [4, v];
  else if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 63)
    [type, want] = [2, BigInt(v).toString()];
  else if (typeof v === 'number') [type, want] = [3, v];
  else if (v instanceof Uint8Array) [type, want] = [7, hex(v)];
  else if (Array.isArray(v) || (v !== null && typeof v === 'object')) {
    type = Array.isArray(v) ? 6 : 5;
    // the AnyValue message; decode it independently
    const got = typeof t === 'string' ? toObj(AnyValue, Buffer.from(t, 'hex')) : null;
    eq(`${where} AnyValue`, JSON.stringify(stripAny(got)), JSON.stringify(expectAny(v)));
    want = typeof t === 'string' ? t : '(hex AnyValue)';
  }
  eq(`${where} type code`, code, type);
  eq(`${where} value`, t, want);
}

// protobufjs toObject(defaults) also lists unset oneof members in some
// versions: keep only the member that is set
function stripAny(a) {
  if (a === null || typeof a !== 'object') return a;
  if (Array.isArray(a)) return a.map(stripAny);
  const out = {};
  for (const [k, v] of Object.entries(a)) {
    if (k === 'value' && typeof v === 'string' && ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'].includes(v)) continue;
    out[k] = stripAny(v);
  }
  if ('stringValue' in out || 'boolValue' in out || 'intValue' in out || 'doubleValue' in out ||
      'arrayValue' in out || 'kvlistValue' in out || 'bytesValue' in out) {
    for (const m of ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'])
      if (out[m] === undefined || out[m] === null) delete out[m];
  }
  return out;
}

function checkAttrs(where, act, obj, codes) {
  const keys = Object.keys(obj);
  eq(`${where} count`, act?.length, keys.length);
  eq(`${where} type codes count`, codes?.length, keys.length);
  keys.forEach((k, i) => checkAttr(`${where}[${JSON.stringify(k)}]`, k, act?.[i], obj[k], codes?.[i]));
}

const flagsOf = (traceFlags, isRemote) => (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

function checkBatch(label, doc, sdkSpans) {
  eq(`${label}: accepted`, doc.accepted, sdkSpans.length);
  eq(`${label}: rejected`, doc.rejected, 0);
  const col = Object.fromEntries(doc.columns.map((c, i) => [c, i]));
  const byId = new Map(doc.rows.map((r, i) => [r[col.span_id], i]));
  eq(`${label}: type code rows`, doc.types?.length, doc.rows.length);
  eq(`${label}: rows`, doc.rows.length, sdkSpans.length);
  for (const s of sdkSpans) {
    const sc = s.spanContext();
    const ri = byId.get(sc.spanId);
    const w = `${label}: span ${JSON.stringify(s.name)}`;
    if (ri === undefined) {
      check(w, false, 'missing from the batch');
      continue;
    }
    const r = doc.rows[ri];
    const ty = doc.types?.[ri] ?? {};
    const get = (c) => r[col[c]];
    eq(`${w} trace_id`, get('trace_id'), sc.traceId);
    eq(`${w} parent_span_id`, get('parent_span_id'), s.parentSpanContext?.spanId ?? null);
    eq(`${w} trace_state`, get('trace_state'), sc.traceState ? sc.traceState.serialize() : '');
    eq(`${w} flags`, get('flags'), flagsOf(sc.traceFlags, s.parentSpanContext?.isRemote));
    eq(`${w} name`, get('name'), s.name);
    eq(`${w} kind`, get('kind'), s.kind + 1);
    eq(`${w} start_time`, get('start_time'), hrNs(s.startTime));
    eq(`${w} end_time`, get('end_time'), hrNs(s.endTime));
    eq(`${w} duration`, get('duration'), (BigInt(hrNs(s.endTime)) - BigInt(hrNs(s.startTime))).toString());
    eq(`${w} status_code`, get('status_code'), s.status.code);
    eq(`${w} status_message`, get('status_message'), s.status.message ?? '');
    checkAttrs(`${w} attributes`, get('attributes'), s.attributes, ty.attributes);
    eq(`${w} dropped_attributes_count`, get('dropped_attributes_count'), s.droppedAttributesCount ?? 0);
    const evs = get('events');
    eq(`${w} events`, evs?.length, s.events.length);
    s.events.forEach((e, i) => {
      const ev = evs?.[i] ?? {};
      eq(`${w} event ${i} time`, ev.time_unix_nano, hrNs(e.time));
      eq(`${w} event ${i} name`, ev.name, e.name);
      checkAttrs(`${w} event ${i} attributes`, ev.attributes, e.attributes ?? {}, ty.events?.[i]);
      eq(`${w} event ${i} dropped`, ev.dropped_attributes_count, e.droppedAttributesCount ?? 0);
    });
    eq(`${w} dropped_events_count`, get('dropped_events_count'), s.droppedEventsCount ?? 0);
    const lks = get('links');
    eq(`${w} links`, lks?.length, s.links.length);
    s.links.forEach((l, i) => {
      const lk = lks?.[i] ?? {};
      eq(`${w} link ${i} trace_id`, lk.trace_id, l.context.traceId);
      eq(`${w} link ${i} span_id`, lk.span_id, l.context.spanId);
      eq(`${w} link ${i} trace_state`, lk.trace_state, l.context.traceState ? l.context.traceState.serialize() : '');
      eq(`${w} link ${i} flags`, lk.flags, flagsOf(l.context.traceFlags, l.context.isRemote));
      checkAttrs(`${w} link ${i} attributes`, lk.attributes, l.attributes ?? {}, ty.links?.[i]);
      eq(`${w} link ${i} dropped`, lk.dropped_attributes_count, l.droppedAttributesCount ?? 0);
    });
    eq(`${w} dropped_links_count`, get('dropped_links_count'), s.droppedLinksCount ?? 0);
    const ra = s.resource.attributes;
    eq(`${w} service_name`, get('service_name'), typeof ra['service.name'] === 'string' ? ra['service.name'] : null);
    checkAttrs(`${w} resource_attributes`, get('resource_attributes'), ra, ty.resource_attributes);
    eq(`${w} resource_schema_url`, get('resource_schema_url'), s.resource.schemaUrl ?? '');
    eq(`${w} resource_dropped`, get('resource_dropped_attributes_count'), 0);
    eq(`${w} scope_name`, get('scope_name'), s.instrumentationScope.name);
    eq(`${w} scope_version`, get('scope_version'), s.instrumentationScope.version ?? '');
    eq(`${w} scope_schema_url`, get('scope_schema_url'), s.instrumentationScope.schemaUrl ?? '');
    checkAttrs(`${w} scope_attributes`, get('scope_attributes'), {}, ty.scope_attributes);
  }
}

// proto3 normalisation: an absent message field reads as its empty message
function normRequest(obj) {
  const emptyStatus = { message: '', code: 0 };
  for (const rs of obj.resourceSpans) {
    rs.resource ??= { attributes: [], droppedAttributesCount: 0, entityRefs: [] };
    for (const ss of rs.scopeSpans) {
      ss.scope ??= { name: '', version: '', attributes: [], droppedAttributesCount: 0 };
      for (const sp of ss.spans) sp.status ??= { ...emptyStatus };
    }
  }
  return stripAny(obj);
}

function diffPath(a, b, path = '') {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = diffPath(a[k], b[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: ${JSON.stringify(a)?.slice(0, 200)} vs ${JSON.stringify(b)?.slice(0, 200)}`;
}

function checkRoundTrip(label, sdkBytes, reencoded) {
  const want = normRequest(toObj(Request, sdkBytes));
  const got = normRequest(toObj(Request, reencoded));
  const d = diffPath(got, want);
  check(`${label}: our re-encoded protobuf equals the SDK's request (protobufjs)`, d === null, d ?? '');
}

function checkJson(label, jsonBytes, pbDoc) {
  const j = ours(label + '-json', jsonBytes, true).doc;
  eq(`${label}: JSON accepted`, j.accepted, pbDoc.accepted);
  eq(`${label}: JSON rejected`, j.rejected, pbDoc.rejected);
  const d = diffPath({ rows: j.rows, types: j.types }, { rows: pbDoc.rows, types: pbDoc.types });
  check(`${label}: the SDK's OTLP/JSON decodes to the same batch as its protobuf`, d === null, d ?? '');
}

function runCase(label, sdkSpans) {
  const pb = ProtobufTraceSerializer.serializeRequest(sdkSpans);
  const json = JsonTraceSerializer.serializeRequest(sdkSpans);
  check(`${label}: the SDK serialized`, pb && pb.length > 0 && json && json.length > 0);
  const { doc, reencoded } = ours(label, pb);
  checkBatch(label, doc, sdkSpans);
  checkRoundTrip(label, pb, reencoded);
  // our output decodes again to the same batch
  const again = ours(label + '-again', reencoded).doc;
  check(`${label}: decode(encode(decode(x))) == decode(x)`, diffPath(again, doc) === null, diffPath(again, doc) ?? '');
  checkJson(label, json, doc);
  return pb;
}

try {
  const allTypesPb = runCase('all-types', spans);
  mkdirSync(join(BUILD_DIR, 'interop'), { recursive: true });
  writeFileSync(join(BUILD_DIR, 'interop', 'otel_sdk_all_types.pb'), allTypesPb);

  // a bulk request of realistic spans (kept for bench_otlp)
  const bulkExporter = new sdk.InMemorySpanExporter();
  const services = [];
  for (let k = 0; k < 5; k++) {
    const p = new sdk.BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': `svc-${k}`, 'service.version': '2.0.' + k, 'host.name': `host-${k}` }),
      spanProcessors: [new sdk.SimpleSpanProcessor(bulkExporter)],
    });
    services.push(p);
  }
  for (let i = 0; i < 1000; i++) {
    const p = services[i % 5];
    const tr = p.getTracer(i % 2 ? '@opentelemetry/instrumentation-http' : '@opentelemetry/instrumentation-pg', '0.52.0');
    const route = i % 300;
    const s = tr.startSpan(`GET /api/v1/resource${route}`, {
      kind: SpanKind.SERVER,
      startTime: at(i, i),
      attributes: {
        'http.request.method': 'GET',
        'http.route': `/api/v1/resource${route}/:id`,
        'url.path': `/api/v1/resource${route}/${i * 7919 % 100000}`,
        'http.response.status_code': i % 10 ? 200 : 503,
        'server.address': `svc-${i % 5}.internal`,
        'server.port': 8080,
        'network.protocol.version': '1.1',
        'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
        'client.address': `10.1.${i % 255}.${(i * 13) % 255}`,
        'http.server.duration_ms': (i % 9999) / 7,
      },
    });
    if (i % 10 === 0) {
      s.addEvent('exception', { 'exception.type': 'TimeoutError', 'exception.message': 'upstream timed out', 'exception.stacktrace': `TimeoutError: upstream timed out\n    at connect (net.js:${route}:10)` }, at(i, 500));
      s.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream unavailable' });
    }
    s.end(at(i + 3, i));
  }
  await Promise.all(services.map((p) => p.forceFlush()));
  const bulkSpans = bulkExporter.getFinishedSpans();
  const bulkPb = runCase('sdk-1000', bulkSpans);
  const benchDir = join(BUILD_DIR, 'interop');
  mkdirSync(benchDir, { recursive: true });
  writeFileSync(join(benchDir, 'otel_sdk_1000.pb'), bulkPb);
  note(`SDK request of ${bulkSpans.length} spans: ${bulkPb.length} bytes (${(bulkPb.length / bulkSpans.length).toFixed(1)} per span), kept in ${benchDir}/otel_sdk_1000.pb`);
} catch (e) {
  failed++;
  failures.push(`exception: ${e.stack || e}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

for (const f of failures) console.log(`FAIL ${f}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
