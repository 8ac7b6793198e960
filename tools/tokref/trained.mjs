// trained.mjs checks a tokenizer.json that glia trained (glia tokenizer train)
// against Hugging Face tokenizers@0.23.2: HF loads the file and encodes the
// golden strings of gpt2 (golden/gpt2.json.gz: the corpus, invalid UTF-8,
// <|endoftext|> in templates, random strings); the ids and decodes it gives
// are written as a golden file that tokenizer/train_test.go compares with
// glia's own encoding of the same file.
//
//   cd tools/tokref && npm ci && node trained.mjs [NAME]
//
// NAME (default trained-bpe400) reads testdata/tokenizer/NAME.json and writes
// testdata/tokenizer/golden/NAME.json.gz.
import { Tokenizer } from 'tokenizers';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../../testdata/tokenizer');
const name = process.argv[2] ?? 'trained-bpe400';

const tok = Tokenizer.fromString(fs.readFileSync(path.join(out, `${name}.json`), 'utf8'));
const { cases: src } = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(out, 'golden/gpt2.json.gz'))).toString('utf8'));
const cases = [];
for (const s of src) {
  const c = { class: s.class, text: s.text };
  if (s.bytes) c.bytes = s.bytes;
  c.ids = (await tok.encode(c.text, null, { addSpecialTokens: false })).getIds();
  c.ids_special = (await tok.encode(c.text, null, { addSpecialTokens: true })).getIds();
  c.decode = await tok.decode(c.ids_special, false);
  c.decode_skip = await tok.decode(c.ids_special, true);
  cases.push(c);
}
fs.writeFileSync(path.join(out, `golden/${name}.json.gz`),
  zlib.gzipSync(Buffer.from(JSON.stringify({ tokenizer: name, generator: 'tokenizers@0.23.2 (node)', cases })), { level: 9 }));
console.log(`${name}: ${cases.length} cases`);
