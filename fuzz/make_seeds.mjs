// Regenerates the small seed inputs in fuzz/corpus/{stream,file}: tiny
// tables written by apache-arrow (streams, uncompressed and compressed) and
// re-written by our own writer as files (apache-arrow's file writer omits
// the leading schema message). Run from the repository root:
//   OA_BIN=build/otlparrow OA_SHARED_DIR=../shared node fuzz/make_seeds.mjs
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { A, runOA } from '../tests/interop/common.mjs';

const V = (vals, type) => A.vectorFromArray(vals, type);
const F = (name, type, nullable = true) => new A.Field(name, type, nullable);
const tables = {
  prim: new A.Table({
    i: V([1, null, 3], new A.Int32()), l: V([1n, 2n, null], new A.Int64()),
    f: V([0.5, NaN, null], new A.Float64()), b: V([true, null, false], new A.Bool()),
  }),
  str: new A.Table({
    s: V(['a', null, 'héllo'], new A.Utf8()), bin: V([new Uint8Array([1]), null, new Uint8Array()], new A.Binary()),
    fsb: V([new Uint8Array(8), null, new Uint8Array(8).fill(7)], new A.FixedSizeBinary(8)),
  }),
  nested: new A.Table({
    l: V([[1, 2], null, []], new A.List(F('item', new A.Int32()))),
    st: V([{ a: 1, b: 'x' }, null, { a: null, b: 'y' }], new A.Struct([F('a', new A.Int32()), F('b', new A.Utf8())])),
    m: V([new Map([['k', 'v']]), null, new Map()], new A.Map_(F('entries', new A.Struct([F('key', new A.Utf8(), false), F('value', new A.Utf8())]), false))),
  }),
  dict: new A.Table({
    d: V(['x', 'y', null, 'x'], new A.Dictionary(new A.Utf8(), new A.Int16())),
    u: V(['p', 'p', 'q', null], new A.Dictionary(new A.Utf8(), new A.Uint8())),
  }),
  spans: new A.Table({
    trace_id: V([new Uint8Array(16).fill(1), new Uint8Array(16).fill(2)], new A.FixedSizeBinary(16)),
    name: V(['GET /', 'POST /x'], new A.Dictionary(new A.Utf8(), new A.Uint16())),
    start: V([1700000000000, 1700000000001], new A.TimestampMillisecond('UTC')),
  }),
};

// uncompressed-length prefixes (see tests/interop/arrow_js_written.test.mjs)
const orig = A.RecordBatchWriter.prototype._compressBodyBuffers;
A.RecordBatchWriter.prototype._compressBodyBuffers = function fixed(buffers) {
  const r = orig.call(this, buffers);
  buffers.forEach((b, k) => {
    const p = r.buffers[2 * k];
    if (p && p.length === 8) {
      const dv = new DataView(p.buffer, p.byteOffset, 8);
      if (dv.getBigInt64(0, true) !== -1n) dv.setBigInt64(0, BigInt(b.byteLength), true);
    }
  });
  return r;
};

for (const d of ['stream', 'file']) {
  rmSync(`fuzz/corpus/${d}`, { recursive: true, force: true });
  mkdirSync(`fuzz/corpus/${d}`, { recursive: true });
}
for (const [name, t] of Object.entries(tables)) {
  for (const [cname, ctype] of [['none', null], ['lz4', A.CompressionType.LZ4_FRAME], ['zstd', A.CompressionType.ZSTD]]) {
    const w = new A.RecordBatchStreamWriter({ compressionType: ctype });
    w.write(t);
    w.finish();
    const path = `fuzz/corpus/stream/${name}-${cname}.arrows`;
    writeFileSync(path, w.toUint8Array(true));
    const r = runOA(['convert', path, `fuzz/corpus/file/${name}-${cname}.arrow`, '--compression', cname]);
    if (r.status !== 0) console.error(`convert ${path}: ${r.stderr}`);
  }
}
console.log('seeds written');
