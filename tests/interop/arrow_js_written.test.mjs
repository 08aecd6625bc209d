// apache-arrow JS writes tables of every type it can write (stream and
// file, uncompressed and with LZ4_FRAME/ZSTD through the codec registry);
// `otlparrow inspect --json` reads them and every value must equal what
// apache-arrow holds. A few values are also checked against literals so
// that the comparison does not rest on the normalizer alone.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  A, runOA, parseJSON, readWithArrowJS, compareDocument, check, fail, note,
  finish, deadline, tempDir, show, Num, Obj,
} from './common.mjs';

deadline(300);
const tmp = tempDir('oa-jsw-');

const V = (vals, type) => A.vectorFromArray(vals, type);
const F = (name, type, nullable = true) => new A.Field(name, type, nullable);
const bitmap = (valid) => {
  const bm = new Uint8Array(Math.ceil(valid.length / 8) || 1);
  valid.forEach((v, i) => { if (v) bm[i >> 3] |= 1 << (i & 7); });
  return bm;
};
const tableOf = (cols) => new A.Table(cols);

// Table from several batches built column-wise (same schema: the type objects
// are shared so that dictionary ids agree).
function multiBatch(batchCols) {
  // (not a Table: a Table would merge the batches' dictionaries)
  const batches = batchCols.map((cols) => new A.Table(cols).batches[0]);
  return { batches, schema: batches[0].schema };
}

// ------------------------------------------------------------ cases

const cases = [];
const add = (name, table, literals = {}) => cases.push({ name, table, literals });

add('ints', tableOf({
  i8: V([-128, 127, null, 0], new A.Int8()),
  i16: V([-32768, 32767, null, 1], new A.Int16()),
  i32: V([-2147483648, 2147483647, null, 2], new A.Int32()),
  i64: V([-9223372036854775808n, 9223372036854775807n, null, 3n], new A.Int64()),
  u8: V([0, 255, null, 4], new A.Uint8()),
  u16: V([0, 65535, null, 5], new A.Uint16()),
  u32: V([0, 4294967295, null, 6], new A.Uint32()),
  u64: V([0n, 18446744073709551615n, null, 7n], new A.Uint64()),
}), {
  i64: ['-9223372036854775808', '9223372036854775807', null, '3'],
  u64: ['0', '18446744073709551615', null, '7'],
  u32: [0, 4294967295, null, 6],
});

add('floats', tableOf({
  f16: V([1.5, -0.25, null, 65504, NaN, Infinity], new A.Float16()),
  f32: V([0.1, -3.4028234663852886e38, null, 1e-45, NaN, -Infinity], new A.Float32()),
  f64: V([0.1, Number.MAX_VALUE, null, 5e-324, NaN, Infinity], new A.Float64()),
}), {
  f64: [0.1, Number.MAX_VALUE, null, 5e-324, 'NaN', 'Infinity'],
  f16: [1.5, -0.25, null, 65504, 'NaN', 'Infinity'],
});

add('bool', tableOf({ b: V([true, false, null, true, true, false, false, true, false, null], new A.Bool()) }),
  { b: [true, false, null, true, true, false, false, true, false, null] });

add('strings and binary', tableOf({
  s: V(['plain', 'quote" backslash\\', null, 'tab\tnl\ncr\r\u0001\u001f', 'é日本🎉', ''], new A.Utf8()),
  ls: V(['large', null, 'x', '', 'y', 'z'], new A.LargeUtf8()),
  bin: V([new Uint8Array([0, 1, 255]), null, new Uint8Array([]), new Uint8Array([0xab]), new Uint8Array([1]), new Uint8Array([2])], new A.Binary()),
  lbin: V([new Uint8Array([0xde, 0xad]), null, new Uint8Array([]), new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])], new A.LargeBinary()),
  fsb: V([new Uint8Array([1, 2, 3, 4]), null, new Uint8Array([0, 0, 0, 0]), new Uint8Array([255, 254, 253, 252]), new Uint8Array([9, 9, 9, 9]), new Uint8Array([1, 1, 1, 1])], new A.FixedSizeBinary(4)),
}), {
  s: ['plain', 'quote" backslash\\', null, 'tab\tnl\ncr\r\u0001\u001f', 'é日本🎉', ''],
  bin: ['0001ff', null, '', 'ab', '01', '02'],
  fsb: ['01020304', null, '00000000', 'fffefdfc', '09090909', '01010101'],
});

add('dates and times', tableOf({
  d32: V([new Date(86400000 * 19000), null, new Date(-86400000)], new A.DateDay()),
  d64: V([new Date(1700000000123), null, new Date(0)], new A.DateMillisecond()),
  t32s: V([3599, null, 0], new A.TimeSecond()),
  t32ms: V([86399999, null, 0], new A.TimeMillisecond()),
  t64us: V([86399999999n, null, 0n], new A.TimeMicrosecond()),
  t64ns: V([86399999999999n, null, 1n], new A.TimeNanosecond()),
}), { d32: [19000, null, -1], d64: ['1700000000123', null, '0'], t64ns: ['86399999999999', null, '1'] });

// 64-bit temporal values from raw buffers: apache-arrow's builders take
// milliseconds and convert, which is not what is tested here
const raw64 = (type, vals) => A.makeVector(A.makeData({
  type, length: vals.length, nullBitmap: bitmap(vals.map((v) => v !== null)),
  data: new BigInt64Array(vals.map((v) => (v === null ? 0n : v))),
}));
add('timestamps and durations', tableOf({
  ts_s: raw64(new A.TimestampSecond(), [1700000000n, null, -1n]),
  ts_ms_utc: raw64(new A.TimestampMillisecond('UTC'), [1700000000123n, null, 0n]),
  ts_us_tz: raw64(new A.TimestampMicrosecond('America/New_York'), [1700000000123456n, null, 0n]),
  ts_ns_paris: raw64(new A.TimestampNanosecond('Europe/Paris'), [1700000000123456789n, null, -1n]),
  dur_s: raw64(new A.DurationSecond(), [5n, null, -3n]),
  dur_ns: raw64(new A.DurationNanosecond(), [9223372036854775807n, null, -9223372036854775808n]),
}), {
  dur_ns: ['9223372036854775807', null, '-9223372036854775808'],
  ts_s: ['1700000000', null, '-1'],
  ts_ns_paris: ['1700000000123456789', null, '-1'],
});

{
  // intervals: built from raw buffers
  const ym = A.makeData({ type: new A.IntervalYearMonth(), length: 3, nullBitmap: bitmap([1, 0, 1]), data: new Int32Array([14, 0, -2]) });
  const dt = A.makeData({ type: new A.IntervalDayTime(), length: 3, nullBitmap: bitmap([1, 0, 1]), data: new Int32Array([3, 1000, 0, 0, -1, -5]) });
  const mdnWords = new Int32Array(12);
  const dv = new DataView(mdnWords.buffer);
  [[1, 2, 3n], [0, 0, 0n], [-1, -2, -9000000000n]].forEach(([m, d, n], i) => {
    dv.setInt32(16 * i, m, true); dv.setInt32(16 * i + 4, d, true); dv.setBigInt64(16 * i + 8, n, true);
  });
  const mdn = A.makeData({ type: new A.IntervalMonthDayNano(), length: 3, nullBitmap: bitmap([1, 0, 1]), data: mdnWords });
  add('intervals', tableOf({ ym: A.makeVector(ym), dt: A.makeVector(dt), mdn: A.makeVector(mdn) }), {
    ym: [14, null, -2],
    dt: [new Obj([['days', 3], ['milliseconds', 1000]]), null, new Obj([['days', -1], ['milliseconds', -5]])],
    mdn: [new Obj([['months', 1], ['days', 2], ['nanoseconds', '3']]), null, new Obj([['months', -1], ['days', -2], ['nanoseconds', '-9000000000']])],
  });
}

{
  // decimals from two's complement words
  const words = (vals, n) => {
    const w = new Uint32Array(vals.length * n);
    vals.forEach((v, i) => {
      let x = BigInt.asUintN(32 * n, v);
      for (let k = 0; k < n; k++) { w[i * n + k] = Number(x & 0xffffffffn); x >>= 32n; }
    });
    return w;
  };
  const vals = [-12345n, 12345n, 0n, 5n, -5n, 99999999999999999999999999999999999999n];
  const valid = [1, 1, 0, 1, 1, 1];
  const mk = (scale, prec, bw) => A.makeVector(A.makeData({ type: new A.Decimal(scale, prec, bw), length: vals.length, nullBitmap: bitmap(valid), data: words(vals, bw / 32) }));
  add('decimals', tableOf({
    d128s2: mk(2, 38, 128), d128s0: mk(0, 38, 128), d128s3: mk(3, 38, 128), d128neg: mk(-2, 38, 128), d256s10: mk(10, 76, 256),
  }), {
    d128s2: ['-123.45', '123.45', null, '0.05', '-0.05', '999999999999999999999999999999999999.99'],
    d128s0: ['-12345', '12345', null, '5', '-5', '99999999999999999999999999999999999999'],
    d128s3: ['-12.345', '12.345', null, '0.005', '-0.005', '99999999999999999999999999999999999.999'],
    d128neg: ['-1234500', '1234500', null, '500', '-500', '9999999999999999999999999999999999999900'],
    d256s10: ['-0.0000012345', '0.0000012345', null, '0.0000000005', '-0.0000000005', '9999999999999999999999999999.9999999999'],
  });
}

const itemI32 = F('item', new A.Int32());
const structAB = new A.Struct([F('a', new A.Int32()), F('b', new A.Utf8())]);
const mapType = new A.Map_(F('entries', new A.Struct([F('key', new A.Utf8(), false), F('value', new A.Int32())]), false));
add('nested', tableOf({
  list: V([[1, 2], null, [], [null, 3]], new A.List(itemI32)),
  large_list: V([[1], null, [], [2, 3]], new A.LargeList(itemI32)),
  fsl: V([[1, 2], null, [3, null], [5, 6]], new A.FixedSizeList(2, itemI32)),
  struct: V([{ a: 1, b: 'x' }, null, { a: null, b: 'y' }, { a: 4, b: null }], structAB),
  map: V([new Map([['k', 1], ['j', null]]), null, new Map(), new Map([['z', 26]])], mapType),
  list_of_struct: V([[{ a: 1, b: 'p' }], [], null, [{ a: 2, b: null }, null]], new A.List(F('item', structAB))),
  list_of_list: V([[[1], []], null, [], [[2, 3], null]], new A.List(F('item', new A.List(itemI32)))),
}), {
  list: [[1, 2], null, [], [null, 3]],
  map: [[['k', 1], ['j', null]], null, [], [['z', 26]]],
  struct: [new Obj([['a', 1], ['b', 'x']]), null, new Obj([['a', null], ['b', 'y']]), new Obj([['a', 4], ['b', null]])],
});

{
  // unions from raw buffers, with type codes that are not child indices
  const fi = F('i', new A.Int32());
  const fs = F('s', new A.Utf8());
  const ints = A.makeData({ type: new A.Int32(), length: 2, nullBitmap: bitmap([1, 0]), data: new Int32Array([7, 0]) });
  const strs = A.makeData({ type: new A.Utf8(), length: 2, nullBitmap: bitmap([1, 1]), valueOffsets: new Int32Array([0, 2, 3]), data: new TextEncoder().encode('hiz') });
  const dense = A.makeData({ type: new A.DenseUnion([5, 9], [fi, fs]), length: 4, typeIds: new Int8Array([5, 9, 5, 9]), valueOffsets: new Int32Array([0, 0, 1, 1]), children: [ints, strs] });
  const sInts = A.makeData({ type: new A.Int32(), length: 4, nullBitmap: bitmap([1, 0, 0, 1]), data: new Int32Array([1, 0, 0, 4]) });
  const sStrs = A.makeData({ type: new A.Utf8(), length: 4, nullBitmap: bitmap([0, 1, 0, 0]), valueOffsets: new Int32Array([0, 0, 1, 1, 1]), data: new TextEncoder().encode('b') });
  const sparse = A.makeData({ type: new A.SparseUnion([2, 1], [fi, fs]), length: 4, typeIds: new Int8Array([2, 1, 1, 2]), children: [sInts, sStrs] });
  add('unions', tableOf({ dense: A.makeVector(dense), sparse: A.makeVector(sparse) }), {
    dense: [7, 'hi', null, 'z'], sparse: [1, 'b', null, 4],
  });
}

add('nulls everywhere', tableOf({
  n: V([null, null, null], new A.Null()),
  i: V([null, null, null], new A.Int64()),
  s: V([null, null, null], new A.Utf8()),
  l: V([null, null, null], new A.List(itemI32)),
  st: V([null, null, null], structAB),
  d: V([null, null, null], new A.Dictionary(new A.Utf8(), new A.Int32())),
}), { n: [null, null, null], i: [null, null, null], st: [null, null, null], d: [null, null, null] });

{
  // dictionaries: several index widths, and a dictionary that grows (delta)
  // and is then replaced across batches
  const dictType = new A.Dictionary(new A.Utf8(), new A.Int16(), 7);
  const d1 = V(['alpha', 'beta'], new A.Utf8());
  const d2 = d1.concat(V(['gamma'], new A.Utf8()));
  const d3 = V(['zeta', 'eta'], new A.Utf8());
  const dictCol = (dict, idx, valid) => A.makeVector(A.makeData({ type: dictType, length: idx.length, nullBitmap: bitmap(valid), data: new Int16Array(idx), dictionary: dict }));
  const uType = new A.Dictionary(new A.Int64(), new A.Uint8(), 8);
  const uDict = V([10n, -20n, 30n], new A.Int64()); // unchanged across batches
  const uCol = (idx) => A.makeVector(A.makeData({ type: uType, length: idx.length, data: new Uint8Array(idx), dictionary: uDict }));
  const growing = multiBatch([
    { s: dictCol(d1, [0, 1, 0], [1, 1, 0]), u: uCol([2, 1, 0]) },
    { s: dictCol(d2, [2, 0, 1], [1, 1, 1]), u: uCol([0, 0, 2]) },
  ]);
  add('dictionary delta', growing, { s: ['alpha', 'beta', null, 'gamma', 'alpha', 'beta'], u: ['30', '-20', '10', '10', '10', '30'] });
  const replaced = multiBatch([
    { s: dictCol(d1, [0, 1], [1, 1]), u: uCol([2, 1]) },
    { s: dictCol(d3, [1, 0], [1, 1]), u: uCol([0, 0]) },
  ]);
  add('dictionary replacement', replaced, { s: ['alpha', 'beta', 'eta', 'zeta'] });
  add('dictionary types', tableOf({
    i8: V(['a', 'b', 'a', null], new A.Dictionary(new A.Utf8(), new A.Int8())),
    u16: V(['x', 'y', 'y', 'x'], new A.Dictionary(new A.Utf8(), new A.Uint16())),
    // (apache-arrow's dictionary builder cannot append int64 indices)
    i64: A.makeVector(A.makeData({ type: new A.Dictionary(new A.Utf8(), new A.Int64(), 13), length: 4, nullBitmap: bitmap([1, 0, 1, 1]), data: new BigInt64Array([0n, 0n, 1n, 0n]), dictionary: V(['p', 'q'], new A.Utf8()) })),
    u32: V(['p', null, 'q', 'p'], new A.Dictionary(new A.Utf8(), new A.Uint32())),
    ord: V(['lo', 'hi', 'lo', 'hi'], new A.Dictionary(new A.Utf8(), new A.Int32(), 11, true)),
    list_of_dict: V([['a', 'b'], null, [], ['b']], new A.List(F('item', new A.Dictionary(new A.Utf8(), new A.Int32(), 12)))),
  }), { i8: ['a', 'b', 'a', null], i64: ['p', null, 'q', 'p'], list_of_dict: [['a', 'b'], null, [], ['b']] });
}

{
  // empty table (schema only), zero-length batches between non-empty ones,
  // and schema/field metadata
  const schema = new A.Schema([F('x', new A.Int32()), F('y', new A.Utf8())]);
  add('empty table', new A.Table(schema), {});
  const zl = multiBatch([
    { x: V([], new A.Int32()), y: V([], new A.Utf8()) },
    { x: V([1, 2], new A.Int32()), y: V(['a', null], new A.Utf8()) },
    { x: V([], new A.Int32()), y: V([], new A.Utf8()) },
  ]);
  add('zero-length batches', zl, {});
  const mdSchema = new A.Schema([new A.Field('m', new A.Int32(), false, new Map([['field.key', 'field value']]))], new Map([['schema.key', 'värde'], ['empty', '']]));
  const col = A.makeData({ type: new A.Int32(), length: 2, data: new Int32Array([1, 2]) });
  add('metadata', new A.Table(new A.RecordBatch(mdSchema, A.makeData({ type: new A.Struct(mdSchema.fields), length: 2, children: [col] }))), { m: [1, 2] });
}

{
  // a larger batch, so that compression has something to do
  const n = 5000;
  const ids = Array.from({ length: n }, (_, i) => BigInt(i) * 1000003n);
  const names = Array.from({ length: n }, (_, i) => (i % 13 ? `span-${i % 97}` : null));
  add('large', tableOf({
    id: V(ids, new A.Int64()),
    name: V(names, new A.Dictionary(new A.Utf8(), new A.Int32())),
    text: V(names, new A.Utf8()),
    f: V(Array.from({ length: n }, (_, i) => i / 7), new A.Float64()),
  }), {});
}

// ------------------------------------------------------------ run

// apache-arrow 21.2.0's writer puts the COMPRESSED length in each buffer's
// 8-byte prefix, where the format (Message.fbs, BodyCompression) wants the
// uncompressed length; its own reader ignores the value. A conformant reader
// must reject such buffers (the decompressed size does not match), so the
// value tests patch the prefixes to the uncompressed lengths, and one check
// below confirms that the unpatched output is refused cleanly.
const origCompress = A.RecordBatchWriter.prototype._compressBodyBuffers;
function fixedCompress(buffers) {
  const r = origCompress.call(this, buffers);
  buffers.forEach((b, k) => {
    const prefix = r.buffers[2 * k];
    if (!prefix || prefix.length !== 8) return;
    const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
    if (dv.getBigInt64(0, true) !== -1n) dv.setBigInt64(0, BigInt(b.byteLength), true);
  });
  return r;
}
let patched = false;
function patchPrefix(on) {
  patched = on;
  A.RecordBatchWriter.prototype._compressBodyBuffers = on ? fixedCompress : origCompress;
}
patchPrefix(true);

function writeIPC(table, format, compressionType) {
  const W = format === 'file' ? A.RecordBatchFileWriter : A.RecordBatchStreamWriter;
  const w = new W({ compressionType });
  // batch by batch: a Table merges the dictionaries of its batches, which
  // would hide the deltas and replacements under test
  if (table.batches.length === 0) w.write(table);
  for (const b of table.batches) w.write(b);
  w.finish();
  return w.toUint8Array(true);
}

function literalChecks(lits, jsDoc, ours, what) {
  const fields = jsDoc.schema.fields.map((f) => f.name);
  const batches = ours.get('batches') || [];
  for (const [col, expect] of Object.entries(lits)) {
    const c = fields.indexOf(col);
    const got = batches.flatMap((b) => b.get('columns')[c]);
    const ok = got.length === expect.length && expect.every((e, k) => literalEq(e, got[k]));
    check(`${what}: column ${col} == literal values`, ok, `got ${show(got)}, expected ${show(expect)}`);
  }
}

function literalEq(e, a) {
  if (e === null || typeof e === 'string' || typeof e === 'boolean') return e === a;
  if (typeof e === 'number') return a instanceof Num && a.value === e;
  if (e instanceof Obj) return a instanceof Obj && e.pairs.length === a.pairs.length && e.pairs.every((p, k) => p[0] === a.pairs[k][0] && literalEq(p[1], a.pairs[k][1]));
  if (Array.isArray(e)) return Array.isArray(a) && a.length === e.length && e.every((x, k) => literalEq(x, a[k]));
  return false;
}

// Kinds of the dictionary batches in a stream: 'first', 'delta' or
// 'replacement' (a non-delta batch for an id already seen).
function dictionaryMessages(bytes) {
  const mr = new A.MessageReader(bytes);
  const seen = new Set();
  const kinds = [];
  for (;;) {
    const r = mr.next();
    if (r.done) break;
    const msg = r.value;
    if (msg.isDictionaryBatch()) {
      const h = msg.header();
      kinds.push(h.isDelta ? 'delta' : seen.has(h.id) ? 'replacement' : 'first');
      seen.add(h.id);
    }
    mr.readMessageBody(msg.bodyLength);
  }
  return kinds;
}

const CODECS = [['none', null], ['lz4', A.CompressionType.LZ4_FRAME], ['zstd', A.CompressionType.ZSTD]];
let docs = 0;
for (const { name, table, literals } of cases) {
  for (const format of ['stream', 'file']) {
    for (const [cname, ctype] of CODECS) {
      const what = `${name} (${format}, ${cname})`;
      let bytes;
      try {
        bytes = writeIPC(table, format, ctype);
      } catch (e) {
        // apache-arrow's own limits (e.g. replacement dictionaries in files)
        note(`skip ${what}: apache-arrow cannot write it: ${String(e).slice(0, 160)}`);
        continue;
      }
      let js;
      try {
        js = readWithArrowJS(bytes);
      } catch (e) {
        note(`skip ${what}: apache-arrow cannot read its own output: ${String(e).slice(0, 160)}`);
        continue;
      }
      if (format === 'stream' && name.startsWith('dictionary ')) {
        // make sure the peer really wrote what the case is about
        const kinds = dictionaryMessages(bytes);
        const want = name === 'dictionary delta' ? 'delta' : name === 'dictionary replacement' ? 'replacement' : null;
        if (want) check(`${what}: apache-arrow wrote a ${want} dictionary batch`, kinds.includes(want), `messages: ${kinds.join(', ')}`);
      }
      const path = join(tmp, `${name.replace(/\W+/g, '_')}.${cname}.${format === 'file' ? 'arrow' : 'arrows'}`);
      writeFileSync(path, bytes);
      const r = runOA(['inspect', '--json', path]);
      if (r.status !== 0) { fail(`inspect ${what}`, `exit ${r.status}: ${r.stderr.trim().slice(0, 300)}`); continue; }
      let ours;
      try { ours = parseJSON(r.stdout); } catch (e) { fail(`inspect ${what}`, e.message); continue; }
      const errs = compareDocument(js, ours);
      if (check(`inspect --json ${what} == apache-arrow`, errs.length === 0, errs.slice(0, 5).join('; '))) docs++;
      literalChecks(literals, js, ours, what);
    }
  }
}

// The peer's unpatched compressed output: refused with an error, no crash.
patchPrefix(false);
for (const [cname, ctype] of CODECS.slice(1)) {
  const bytes = writeIPC(cases[0].table, 'stream', ctype);
  const path = join(tmp, `unpatched.${cname}.arrows`);
  writeFileSync(path, bytes);
  const r = runOA(['inspect', '--json', path]);
  check(`apache-arrow ${cname} output with compressed-length prefixes is rejected`,
    r.status === 1 && /^otlparrow: error: .*(length prefix|decompress)/m.test(r.stderr),
    `exit ${r.status}, stderr ${JSON.stringify(r.stderr.slice(0, 200))}`);
}
patchPrefix(true);
note(`${cases.length} tables, ${docs} documents equal`);
finish();
