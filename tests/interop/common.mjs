// Shared helpers for the interop tests: codecs for apache-arrow, a
// normalizer from apache-arrow's Data to the JSON style of
// notes/json_format.md, a duplicate-key-preserving JSON parser for our
// `inspect --json` output, type-directed comparison and a tiny harness.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from 'apache-arrow';
import * as lz4 from 'lz4js';
import * as fzstd from 'fzstd';
import zstdCodec from 'zstd-codec';

export { A };

// ------------------------------------------------------------ environment

export const OA_BIN = process.env.OA_BIN;
export const OA_SHARED_DIR = process.env.OA_SHARED_DIR;
if (!OA_BIN || !OA_SHARED_DIR) {
  console.error('OA_BIN and OA_SHARED_DIR must be set (ctest sets them)');
  process.exit(1);
}

// ------------------------------------------------------------ codecs

// LZ4 frame: lz4js decodes one frame per call; apache-arrow and our writer
// emit one frame per buffer.
// ZSTD: fzstd decodes, zstd-codec (emscripten build of libzstd) encodes.
const zstdSimple = await new Promise((resolve) =>
  zstdCodec.ZstdCodec.run((z) => resolve(new z.Simple())));

export function registerCodecs() {
  A.compressionRegistry.set(A.CompressionType.LZ4_FRAME, {
    encode: (data) => lz4.compress(data),
    decode: (data) => lz4.decompress(data),
  });
  A.compressionRegistry.set(A.CompressionType.ZSTD, {
    encode: (data) => zstdSimple.compress(data, 3),
    // apache-arrow views the result as BigInt64Array etc.: keep it aligned
    decode: (data) => {
      const out = fzstd.decompress(data);
      return out.byteOffset % 8 ? out.slice() : out;
    },
  });
}
registerCodecs();

// ------------------------------------------------------------ harness

let passed = 0;
let failed = 0;
const failures = [];

export function pass(what) {
  passed++;
  if (process.env.OA_VERBOSE) console.log(`ok   ${what}`);
}
export function fail(what, why) {
  failed++;
  const line = `FAIL ${what}: ${why}`;
  failures.push(line);
  console.log(line);
}
export function check(what, cond, why) {
  if (cond) pass(what);
  else fail(what, why || 'condition false');
  return cond;
}
export function note(msg) {
  console.log(msg);
}
export function finish() {
  if (failures.length) {
    console.log(`\n${failures.length} failure(s):`);
    for (const f of failures.slice(0, 50)) console.log(`  ${f}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// Whole-test time bound: ctest also has a TIMEOUT, this one says why.
export function deadline(seconds) {
  const t = setTimeout(() => {
    console.log(`FAIL test exceeded its ${seconds}s budget`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  }, seconds * 1000);
  t.unref();
}

export function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}

// Runs our binary with a time bound; returns {status, stdout, stderr}.
export function runOA(args, timeoutMs = 30000) {
  const r = spawnSync(OA_BIN, args, {
    encoding: 'utf8', timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024,
  });
  if (r.error) return { status: -1, stdout: '', stderr: String(r.error) };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

// ------------------------------------------------------------ JSON parsing

// Objects become {__pairs: [[k, v], ...]} so that duplicate keys (Arrow
// allows duplicate struct field names) and order survive; numbers keep
// their literal text in __num so that "int64 printed as a number" is caught.
export class Num {
  constructor(text) { this.text = text; this.value = Number(text); }
}
export class Obj {
  constructor(pairs) { this.pairs = pairs; }
  get(k) { const p = this.pairs.find((x) => x[0] === k); return p ? p[1] : undefined; }
  has(k) { return this.pairs.some((x) => x[0] === k); }
}

export function parseJSON(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const err = (m) => { throw new Error(`JSON: ${m} at offset ${i}: ${JSON.stringify(text.slice(i, i + 40))}`); };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; const pairs = []; ws();
      if (text[i] === '}') { i++; return new Obj(pairs); }
      for (;;) {
        ws(); if (text[i] !== '"') err('expected key');
        const k = str(); ws(); if (text[i] !== ':') err('expected :'); i++;
        pairs.push([k, value()]); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return new Obj(pairs); }
        err('expected , or }');
      }
    }
    if (c === '[') {
      i++; const arr = []; ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value()); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        err('expected , or ]');
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (!m) err('unexpected character');
    i += m[0].length;
    return new Num(m[0]);
  }
  function str() {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) err('raw control character in string');
      i++;
    }
    if (i >= text.length) err('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i));
  }
  const v = value(); ws();
  if (i !== text.length) err('trailing data');
  return v;
}

// ------------------------------------------------------------ types

const UNIT = ['s', 'ms', 'us', 'ns'];

// The type string of oa_field_format_type (include/otlparrow/arrow.h).
export function typeString(type) {
  if (A.DataType.isDictionary(type)) {
    const idx = `${type.indices.isSigned ? 'int' : 'uint'}${type.indices.bitWidth}`;
    return `dictionary<values=${typeString(type.dictionary)}, indices=${idx}${type.isOrdered ? ', ordered' : ''}>`;
  }
  const inner = () => (type.children || []).map((c) => `${c.name}: ${typeString(c.type)}`).join(', ');
  switch (type.typeId) {
    case A.Type.Null: return 'null';
    case A.Type.Bool: return 'bool';
    case A.Type.Int: return `${type.isSigned ? 'int' : 'uint'}${type.bitWidth}`;
    case A.Type.Float: return ['float16', 'float32', 'float64'][type.precision];
    case A.Type.Utf8: return 'utf8';
    case A.Type.LargeUtf8: return 'large_utf8';
    case A.Type.Binary: return 'binary';
    case A.Type.LargeBinary: return 'large_binary';
    case A.Type.FixedSizeBinary: return `fixed_size_binary[${type.byteWidth}]`;
    case A.Type.Date: return type.unit === A.DateUnit.DAY ? 'date32' : 'date64';
    case A.Type.Time: return `time${type.bitWidth}[${UNIT[type.unit]}]`;
    case A.Type.Timestamp:
      return type.timezone ? `timestamp[${UNIT[type.unit]}, tz=${type.timezone}]` : `timestamp[${UNIT[type.unit]}]`;
    case A.Type.Duration: return `duration[${UNIT[type.unit]}]`;
    case A.Type.Interval:
      return ['interval_months', 'interval_day_time', 'interval_month_day_nano'][type.unit];
    case A.Type.Decimal: return `decimal${type.bitWidth}(${type.precision}, ${type.scale})`;
    case A.Type.List: return `list<${inner()}>`;
    case A.Type.LargeList: return `large_list<${inner()}>`;
    case A.Type.FixedSizeList: return `fixed_size_list<${inner()}>[${type.listSize}]`;
    case A.Type.Struct: return `struct<${inner()}>`;
    case A.Type.Map: return `map<${inner()}>`;
    case A.Type.Union: return `${type.mode === A.UnionMode.Dense ? 'dense' : 'sparse'}_union<${inner()}>`;
    default: return `unknown(${type.typeId})`;
  }
}

// ------------------------------------------------------------ values

const hex = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex');
const utf8 = new TextDecoder('utf-8', { fatal: false });

function floatJSON(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

// Two's complement little-endian 32-bit words -> BigInt.
function wordsToBigInt(words, start, n) {
  let v = 0n;
  for (let k = n - 1; k >= 0; k--) v = (v << 32n) | BigInt(words[start + k] >>> 0);
  const bits = BigInt(32 * n);
  if (v >> (bits - 1n)) v -= 1n << bits;
  return v;
}

export function decimalString(unscaled, scale) {
  const neg = unscaled < 0n;
  let digits = (neg ? -unscaled : unscaled).toString();
  if (scale <= 0) {
    if (scale < 0 && digits !== '0') digits += '0'.repeat(-scale);
    return (neg ? '-' : '') + digits;
  }
  if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits;
  const s = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  return (neg ? '-' : '') + s;
}

function isValid(data, i) {
  const t = data.type.typeId;
  if (t === A.Type.Null) return false;
  if (t === A.Type.Union) return true;
  const bm = data.nullBitmap;
  if (!bm || bm.length === 0) return true;
  const j = data.offset + i;
  return ((bm[j >> 3] >> (j & 7)) & 1) === 1;
}

// Element i of a Vector that may have several chunks (dictionaries after
// deltas).
function vectorValue(vec, idx) {
  for (const d of vec.data) {
    if (idx < d.length) return normValue(d, idx);
    idx -= d.length;
  }
  throw new Error(`dictionary index ${idx} out of range`);
}

// Value i (relative to data.offset) in the JSON style of json_format.md.
export function normValue(data, i) {
  const type = data.type;
  if (!isValid(data, i)) return null;
  const j = data.offset + i;
  const v = data.values;
  if (A.DataType.isDictionary(type)) {
    return vectorValue(data.dictionary, Number(v[j]));
  }
  switch (type.typeId) {
    case A.Type.Bool: return ((v[j >> 3] >> (j & 7)) & 1) === 1;
    case A.Type.Int:
      return type.bitWidth === 64 ? BigInt(v[j]).toString() : Number(v[j]);
    case A.Type.Float:
      if (type.precision === 0) return floatJSON(halfToFloat(v[j]));
      return floatJSON(v[j]);
    case A.Type.Utf8:
    case A.Type.LargeUtf8: {
      const o = data.valueOffsets;
      return utf8.decode(v.subarray(Number(o[j]), Number(o[j + 1])));
    }
    case A.Type.Binary:
    case A.Type.LargeBinary: {
      const o = data.valueOffsets;
      return hex(v.subarray(Number(o[j]), Number(o[j + 1])));
    }
    case A.Type.FixedSizeBinary:
      return hex(v.subarray(j * type.byteWidth, (j + 1) * type.byteWidth));
    case A.Type.Date:
      return type.unit === A.DateUnit.DAY ? Number(v[j]) : BigInt(v[j]).toString();
    case A.Type.Time:
      return type.bitWidth === 32 ? Number(v[j]) : BigInt(v[j]).toString();
    case A.Type.Timestamp:
    case A.Type.Duration:
      return BigInt(v[j]).toString();
    case A.Type.Interval:
      if (type.unit === A.IntervalUnit.YEAR_MONTH) return Number(v[j]);
      if (type.unit === A.IntervalUnit.DAY_TIME) {
        return new Obj([['days', v[2 * j]], ['milliseconds', v[2 * j + 1]]]);
      }
      {
        // month_day_nano: int32 months, int32 days, int64 nanoseconds
        const dv = new DataView(v.buffer, v.byteOffset + 16 * j, 16);
        return new Obj([['months', dv.getInt32(0, true)], ['days', dv.getInt32(4, true)],
          ['nanoseconds', dv.getBigInt64(8, true).toString()]]);
      }
    case A.Type.Decimal: {
      const n = type.bitWidth / 32;
      return decimalString(wordsToBigInt(v, j * n, n), type.scale);
    }
    case A.Type.List:
    case A.Type.LargeList:
    case A.Type.Map: {
      const o = data.valueOffsets;
      const child = data.children[0];
      const out = [];
      for (let k = Number(o[j]); k < Number(o[j + 1]); k++) {
        if (type.typeId === A.Type.Map) {
          const e = child;
          // entries struct: key, value (the entry itself is never null)
          out.push([normValue(e.children[0], e.offset + k), normValue(e.children[1], e.offset + k)]);
        } else {
          out.push(normValue(child, k));
        }
      }
      return out;
    }
    case A.Type.FixedSizeList: {
      const child = data.children[0];
      const out = [];
      for (let k = j * type.listSize; k < (j + 1) * type.listSize; k++) out.push(normValue(child, k));
      return out;
    }
    case A.Type.Struct:
      return new Obj(type.children.map((f, c) => [f.name, normValue(data.children[c], j)]));
    case A.Type.Union: {
      const code = data.typeIds[j];
      const c = type.typeIdToChildIndex[code];
      const child = data.children[c];
      const k = type.mode === A.UnionMode.Dense ? data.valueOffsets[j] : j;
      return normValue(child, k);
    }
    default:
      throw new Error(`normValue: unsupported type ${type}`);
  }
}

// Child indices follow the format: list offsets index the child array; a
// struct's (or sparse union's) offset applies to its children as well.

export function columnValues(data) {
  const out = [];
  for (let i = 0; i < data.length; i++) out.push(normValue(data, i));
  return out;
}

// Reads an IPC buffer with apache-arrow: {format, schema, batches:[{length,
// columns:[[...]]}]}, in the same shape as our inspect --json.
export function readWithArrowJS(bytes) {
  const reader = A.RecordBatchReader.from(bytes);
  reader.open();
  const schema = reader.schema; // (reset once iteration ends)
  const format = reader.isFile() ? 'file' : 'stream';
  const batches = [];
  for (const b of reader) {
    // apache-arrow yields a placeholder batch for a stream or file without
    // record batches: it is not in the data
    if (b.constructor.name === '_InternalEmptyPlaceholderRecordBatch') continue;
    batches.push({ length: b.numRows, columns: b.data.children.map((d) => columnValues(d)) });
  }
  return { format, schema, batches };
}

// ------------------------------------------------------------ comparison

function floatEq(field, exp, act) {
  const t = field.type;
  if (typeof exp === 'string' || typeof act === 'string') return exp === act;
  if (!(act instanceof Num)) return false;
  if (t.precision === 2) return act.value === exp;
  if (t.precision === 1) return Math.fround(act.value) === Math.fround(exp);
  return Math.abs(act.value - exp) <= 1e-3 * Math.max(1, Math.abs(exp));
}

function valueType(type) {
  return A.DataType.isDictionary(type) ? type.dictionary : type;
}

// Compares one expected (normValue style) value with our parsed JSON value.
// Returns null when equal, else a message.
export function compareValue(type, exp, act, path) {
  type = valueType(type);
  if (exp === null || act === null) {
    return exp === act ? null : `${path}: expected ${show(exp)}, got ${show(act)}`;
  }
  switch (type.typeId) {
    case A.Type.Float:
      return floatEq({ type }, exp, act) ? null : `${path}: expected ${show(exp)}, got ${show(act)}`;
    case A.Type.List:
    case A.Type.LargeList:
    case A.Type.FixedSizeList: {
      if (!Array.isArray(act) || act.length !== exp.length) return `${path}: expected ${show(exp)}, got ${show(act)}`;
      for (let k = 0; k < exp.length; k++) {
        const m = compareValue(type.children[0].type, exp[k], act[k], `${path}[${k}]`);
        if (m) return m;
      }
      return null;
    }
    case A.Type.Map: {
      if (!Array.isArray(act) || act.length !== exp.length) return `${path}: expected ${show(exp)}, got ${show(act)}`;
      const et = type.children[0].type;
      for (let k = 0; k < exp.length; k++) {
        if (!Array.isArray(act[k]) || act[k].length !== 2) return `${path}[${k}]: expected a [key, value] pair, got ${show(act[k])}`;
        const m = compareValue(et.children[0].type, exp[k][0], act[k][0], `${path}[${k}].key`)
          || compareValue(et.children[1].type, exp[k][1], act[k][1], `${path}[${k}].value`);
        if (m) return m;
      }
      return null;
    }
    case A.Type.Struct: {
      if (!(act instanceof Obj) || act.pairs.length !== exp.pairs.length) return `${path}: expected ${show(exp)}, got ${show(act)}`;
      for (let k = 0; k < exp.pairs.length; k++) {
        if (act.pairs[k][0] !== exp.pairs[k][0]) return `${path}: key #${k} expected ${exp.pairs[k][0]}, got ${act.pairs[k][0]}`;
        const m = compareValue(type.children[k].type, exp.pairs[k][1], act.pairs[k][1], `${path}.${exp.pairs[k][0]}`);
        if (m) return m;
      }
      return null;
    }
    case A.Type.Union: {
      // the expected value does not say which child: try each child type
      let first = null;
      for (const c of type.children) {
        const m = compareValue(c.type, exp, act, path);
        if (!m) return null;
        first = first || m;
      }
      return first;
    }
    default:
      return plainEq(exp, act) ? null : `${path}: expected ${show(exp)}, got ${show(act)}`;
  }
}

// Exact equality of normValue output with parsed JSON (numbers by value,
// strings exactly, objects pairwise in order).
function plainEq(exp, act) {
  if (exp === null || typeof exp === 'boolean' || typeof exp === 'string') return exp === act;
  if (typeof exp === 'number') return act instanceof Num && act.value === exp && !/[.eE]/.test(act.text) === Number.isInteger(exp);
  if (exp instanceof Obj) {
    if (!(act instanceof Obj) || act.pairs.length !== exp.pairs.length) return false;
    return exp.pairs.every((p, k) => act.pairs[k][0] === p[0] && plainEq(p[1], act.pairs[k][1]));
  }
  if (Array.isArray(exp)) return Array.isArray(act) && act.length === exp.length && exp.every((x, k) => plainEq(x, act[k]));
  return false;
}

export function show(v) {
  const s = JSON.stringify(v, (k, x) => {
    if (x instanceof Num) return x.text;
    if (x instanceof Obj) return Object.fromEntries(x.pairs);
    if (typeof x === 'bigint') return x.toString();
    return x;
  });
  return s && s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

// Two normValue results (both from apache-arrow) compared exactly, floats
// by identity (NaN is the string "NaN").
export function sameNorm(a, b) {
  if (a instanceof Obj) return b instanceof Obj && a.pairs.length === b.pairs.length && a.pairs.every((p, k) => p[0] === b.pairs[k][0] && sameNorm(p[1], b.pairs[k][1]));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, k) => sameNorm(x, b[k]));
  return Object.is(a, b);
}

function mapFromMeta(m) {
  return new Map(m ? [...m.entries()] : []);
}

// Compares an apache-arrow Field with a FIELD of our inspect --json.
// apache-arrow renames a map's entries/key/value fields to the canonical
// names when it reads (1.0.0-littleendian/generated_map_non_canonical keeps
// others), so below a map names are compared without them.
const stripNames = (t) => String(t).replace(/[^<>,\s]+: /g, '');

export function compareField(f, ours, path, inMap = false) {
  const errs = [];
  if (!(ours instanceof Obj)) return [`${path}: not an object`];
  if (!inMap && ours.get('name') !== f.name) errs.push(`${path}: name ${show(ours.get('name'))} != ${f.name}`);
  const isMap = valueType(f.type).typeId === A.Type.Map;
  let ts = typeString(f.type);
  let ot = ours.get('type');
  if (isMap || inMap) { ts = stripNames(ts); ot = stripNames(ot); }
  // oa_field_format_type writes into fixed-size buffers: long nested type
  // strings are truncated, so compare those up to the first '<'.
  const okType = ts.length < 180 ? ot === ts : typeof ot === 'string' && ot.split('<')[0] === ts.split('<')[0];
  if (!okType) errs.push(`${path}: type ${show(ot)} != ${ts}`);
  if (ours.get('nullable') !== f.nullable) errs.push(`${path}: nullable ${show(ours.get('nullable'))} != ${f.nullable}`);
  const md = ours.get('metadata');
  const jm = mapFromMeta(f.metadata);
  const om = md instanceof Obj ? new Map(md.pairs) : new Map();
  if (jm.size !== om.size || [...jm].some(([k, v]) => om.get(k) !== v)) errs.push(`${path}: metadata ${show(md)} != ${show(Object.fromEntries(jm))}`);
  const vt = valueType(f.type);
  const jc = vt.children || [];
  const oc = ours.get('children') || [];
  if (oc.length !== jc.length) errs.push(`${path}: ${oc.length} children != ${jc.length}`);
  else jc.forEach((c, k) => errs.push(...compareField(c, oc[k], `${path}.${c.name}`, inMap || isMap)));
  return errs;
}

// Compares apache-arrow's reading (readWithArrowJS) with our parsed JSON
// document. Returns a list of mismatch messages (empty when equal).
export function compareDocument(js, ours, { checkFormat = true } = {}) {
  const errs = [];
  if (!(ours instanceof Obj)) return ['output is not a JSON object'];
  if (checkFormat && ours.get('format') !== js.format) errs.push(`format ${show(ours.get('format'))} != ${js.format}`);
  const sch = ours.get('schema');
  if (!(sch instanceof Obj)) return [...errs, 'no schema object'];
  const fields = sch.get('fields') || [];
  const jf = js.schema.fields;
  if (fields.length !== jf.length) errs.push(`${fields.length} fields != ${jf.length}`);
  else jf.forEach((f, k) => errs.push(...compareField(f, fields[k], `field[${k}] ${f.name}`)));
  const smd = sch.get('metadata');
  const jm = mapFromMeta(js.schema.metadata);
  const om = smd instanceof Obj ? new Map(smd.pairs) : new Map();
  if (jm.size !== om.size || [...jm].some(([k, v]) => om.get(k) !== v)) errs.push(`schema metadata ${show(smd)} != ${show(Object.fromEntries(jm))}`);
  const batches = ours.get('batches') || [];
  if (batches.length !== js.batches.length) {
    errs.push(`${batches.length} batches != ${js.batches.length}`);
    return errs;
  }
  js.batches.forEach((jb, b) => {
    const ob = batches[b];
    const len = ob.get('length');
    if (!(len instanceof Num) || len.value !== jb.length) errs.push(`batch ${b}: length ${show(len)} != ${jb.length}`);
    const cols = ob.get('columns') || [];
    if (cols.length !== jb.columns.length) { errs.push(`batch ${b}: ${cols.length} columns != ${jb.columns.length}`); return; }
    jb.columns.forEach((col, c) => {
      const oc = cols[c];
      const name = jf[c].name;
      if (!Array.isArray(oc) || oc.length !== col.length) { errs.push(`batch ${b} column ${name}: ${Array.isArray(oc) ? oc.length : 'no'} values != ${col.length}`); return; }
      for (let r = 0; r < col.length; r++) {
        const m = compareValue(jf[c].type, col[r], oc[r], `batch ${b} column ${name} row ${r}`);
        if (m) { errs.push(m); break; }
      }
    });
  });
  return errs;
}

// Compares two apache-arrow readings (original vs our re-written output).
export function compareJS(a, b) {
  const errs = [];
  const fa = a.schema.fields;
  const fb = b.schema.fields;
  if (fa.length !== fb.length) return [`${fb.length} fields != ${fa.length}`];
  fa.forEach((f, k) => {
    const g = fb[k];
    if (g.name !== f.name) errs.push(`field ${k}: name ${g.name} != ${f.name}`);
    if (typeString(g.type) !== typeString(f.type)) errs.push(`field ${f.name}: type ${typeString(g.type)} != ${typeString(f.type)}`);
    if (g.nullable !== f.nullable) errs.push(`field ${f.name}: nullable ${g.nullable} != ${f.nullable}`);
  });
  const ma = mapFromMeta(a.schema.metadata);
  const mb = mapFromMeta(b.schema.metadata);
  if (ma.size !== mb.size || [...ma].some(([k, v]) => mb.get(k) !== v)) errs.push('schema metadata differs');
  // batch boundaries may legitimately stay the same; rows are compared
  // through the concatenation so that a writer that keeps them is not
  // required to (ours does keep them: checked separately).
  if (a.batches.length !== b.batches.length) errs.push(`${b.batches.length} batches != ${a.batches.length}`);
  fa.forEach((f, c) => {
    const va = a.batches.flatMap((x) => x.columns[c]);
    const vb = b.batches.flatMap((x) => x.columns[c]);
    if (va.length !== vb.length) { errs.push(`column ${f.name}: ${vb.length} rows != ${va.length}`); return; }
    for (let r = 0; r < va.length; r++) {
      if (!sameNorm(va[r], vb[r])) { errs.push(`column ${f.name} row ${r}: ${show(vb[r])} != ${show(va[r])}`); break; }
    }
  });
  return errs;
}
