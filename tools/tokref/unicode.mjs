// unicode.mjs writes tokenizer/unicode_hf.go: the code points that HF
// tokenizers' regex engine (Oniguruma, with newer Unicode tables than Go's
// unicode package) treats as \p{L} or \p{N} although Go does not.
//
//   cd tools/tokref && npm install && node unicode.mjs
//
// Candidates are the code points where Go (go run ./goclasses) and node's own
// Unicode tables disagree; each is classified by running HF's Llama-3 Split
// pre-tokenizer on "x" + c + c + c + c: \p{L} gives one piece, \p{N} gives
// "x", "ccc", "c", anything else "x", "cccc".
import { Tokenizer } from 'tokenizers';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const go = execFileSync('go', ['run', './tools/tokref/goclasses'], { cwd: root, maxBuffer: 1 << 22 }).toString('latin1');
const j = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(root, 'testdata/tokenizer/llama3.json.gz'))));
j.pre_tokenizer = j.pre_tokenizer.pretokenizers[0]; // the Split alone: pieces come back as text
const pre = Tokenizer.fromString(JSON.stringify(j)).getPreTokenizer();

const extra = { L: [], N: [] };
let idx = 0;
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  const g = go[idx++];
  const ch = String.fromCodePoint(cp);
  const n = /\p{L}/u.test(ch) ? 'L' : /\p{N}/u.test(ch) ? 'N' : 'o';
  if (n === 'o' || n === g) continue;
  const p = pre.preTokenizeString('x' + ch + ch + ch + ch).map((x) => x[0]);
  let hf = 'o';
  if (p.length === 1) hf = 'L';
  else if (p.length === 3 && p[1] === ch + ch + ch) hf = 'N';
  if (hf !== 'o' && hf !== g) extra[hf].push(cp);
}

// Normalization: HF uses its own copy of the Unicode normalization tables,
// older than Go's. A code point that HF leaves alone under NFC/NFD/NFKC/NFKD
// and treats as a starter (canonical class 0) but that modern Unicode
// decomposes or gives a non-zero class is "opaque" to HF; the candidates go to
// goclasses -opaque, which keeps those where Go's x/text differs.
const mk = (type) => {
  const t = JSON.parse(JSON.stringify(j));
  t.normalizer = { type };
  return Tokenizer.fromString(JSON.stringify(t)).getNormalizer();
};
const forms = ['NFC', 'NFD', 'NFKC', 'NFKD'].map(mk);
const cands = [];
for (let cp = 0xa0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  const c = String.fromCodePoint(cp);
  if (!/\p{M}/u.test(c) && c.normalize('NFKD') === c) continue;
  if (forms.some((f) => f.normalizeString(c) !== c)) continue;
  if (forms[0].normalizeString('\u0301' + c) !== '\u0301' + c) continue;
  if (forms[0].normalizeString(c + '\u0334') !== c + '\u0334') continue;
  cands.push(cp);
}
const opaque = execFileSync('go', ['run', './tools/tokref/goclasses', '-opaque'], { cwd: root, input: cands.join('\n') + '\n' })
  .toString().split('\n').filter((l) => l !== '').map(Number);

// StripAccents removes combining marks (Mn, Mc, Me) by HF's own, older,
// tables: marks Go knows but HF does not are kept.
const sa = (() => {
  const t = JSON.parse(JSON.stringify(j));
  t.normalizer = { type: 'StripAccents' };
  return Tokenizer.fromString(JSON.stringify(t)).getNormalizer();
})();
const notMark = [];
idx = 0;
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  const c = String.fromCodePoint(cp);
  if (/\p{M}/u.test(c) && sa.normalizeString('a' + c) === 'a' + c) notMark.push(cp);
}

// Lowercase: Rust's char::to_lowercase (HF's Lowercase normalizer) against
// Go's strings.ToLower, one code point at a time (final sigma is handled in
// code). goclasses -lower prints Go's mapping for the same code points.
const lc = (() => {
  const t = JSON.parse(JSON.stringify(j));
  t.normalizer = { type: 'Lowercase' };
  return Tokenizer.fromString(JSON.stringify(t)).getNormalizer();
})();
const lowerCands = [];
for (let cp = 0x80; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  const c = String.fromCodePoint(cp);
  const l = lc.normalizeString(c);
  if (l !== c || c.toLowerCase() !== c) lowerCands.push(`${cp} ${[...l].map((x) => x.codePointAt(0)).join(',')}`);
}
const lowerDiff = execFileSync('go', ['run', './tools/tokref/goclasses', '-lower'], { cwd: root, input: lowerCands.join('\n') + '\n' })
  .toString().split('\n').filter((l) => l !== '');

function ranges(cps) {
  const out = [];
  for (const cp of cps) {
    const last = out[out.length - 1];
    if (last && last[1] === cp - 1) last[1] = cp;
    else out.push([cp, cp]);
  }
  return out;
}
function table(name, cps) {
  const r = ranges(cps);
  const r16 = r.filter(([, hi]) => hi <= 0xffff);
  const r32 = r.filter(([lo]) => lo > 0xffff);
  const hex = (v) => '0x' + v.toString(16).padStart(4, '0');
  let s = `var ${name} = &unicode.RangeTable{\n`;
  s += '\tR16: []unicode.Range16{\n' + r16.map(([a, b]) => `\t\t{${hex(a)}, ${hex(b)}, 1},\n`).join('') + '\t},\n';
  s += '\tR32: []unicode.Range32{\n' + r32.map(([a, b]) => `\t\t{${hex(a)}, ${hex(b)}, 1},\n`).join('') + '\t},\n';
  return s + '}\n';
}
const src = `// Code generated by tools/tokref/unicode.mjs; DO NOT EDIT.

package tokenizer

import "unicode"

// Code points HF tokenizers' regex engine treats as letters (\\p{L}) or
// numbers (\\p{N}) that Go's unicode package does not: characters added in
// later Unicode versions. ${extra.L.length} letters, ${extra.N.length} numbers.

${table('hfExtraL', extra.L)}
${table('hfExtraN', extra.N)}
// Code points HF's normalizers leave alone and treat as starters (canonical
// combining class 0) although Go's x/text tables decompose them or give them
// a non-zero class: HF's normalization tables predate them. ${opaque.length} code points.
${table('hfNormOpaque', opaque)}
// Lowercase mappings where HF (Rust's to_lowercase) and Go's
// strings.ToLower differ. ${lowerDiff.length} code points.
var hfLower = map[rune]string{
${lowerDiff.map((l) => { const [cp, to] = l.split(' '); return `\t0x${Number(cp).toString(16)}: "${to.split(',').filter((x) => x !== '').map((x) => '\\U' + Number(x).toString(16).padStart(8, '0')).join('')}",\n`; }).join('')}}

// Combining marks (by node's Unicode tables) that HF's StripAccents keeps.
// Go-side code intersects with unicode.IsMark. ${notMark.length} code points.
${table('hfNotMark', notMark)}`;
fs.writeFileSync(path.join(root, 'tokenizer/unicode_hf.go'), src);
execFileSync('gofmt', ['-w', 'tokenizer/unicode_hf.go'], { cwd: root });
console.log(`letters ${extra.L.length}, numbers ${extra.N.length}, normalization-opaque ${opaque.length}, not-marks ${notMark.length}, lowercase ${lowerDiff.length}`);
