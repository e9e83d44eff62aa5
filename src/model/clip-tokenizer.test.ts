// The CLIP BPE tokenizer against transformers' CLIPTokenizer: every prompt of the goldens
// (training/golden/clip-tokenizer, written by training/write_clip_tokenizer_goldens.py) for the OpenAI
// CLIP special tokens and the OpenCLIP-H / SD 2.x "!" padding, on a prefix of the published vocab.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ClipTokenizerFiles, ClipTokenizer, byteSymbols, clipBasicClean } from './clip-tokenizer.js';

const goldenDir = join(resolve(import.meta.dirname, '..', '..'), 'training', 'golden', 'clip-tokenizer');
const tokDir = join(goldenDir, 'tokenizer');
const read = (name: string) => readFileSync(join(tokDir, name), 'utf8');
const FILES: ClipTokenizerFiles = {
  vocabJson: read('vocab.json'),
  mergesTxt: read('merges.txt'),
  tokenizerConfigJson: read('tokenizer_config.json'),
  specialTokensMapJson: read('special_tokens_map.json'),
};

interface Case { prompt: string; ids: number[]; token_count: number; truncated_text: string }
interface Variant { name: string; overrides: { pad_token?: string }; pad_id: number; cases: Case[] }
const golden: { max_length: number; variants: Variant[] } = JSON.parse(readFileSync(join(goldenDir, 'cases.json'), 'utf8'));

const padded = (v: Variant, c: Case) => [...c.ids, ...Array<number>(golden.max_length - c.ids.length).fill(v.pad_id)];

/** Prompts whose ids differ from the goldens (each shown with both id lists). */
function mismatches(tok: ClipTokenizer, v: Variant): string[] {
  return v.cases.flatMap((c) => {
    const got = tok.encode(c.prompt);
    const want = padded(v, c);
    return JSON.stringify(got) === JSON.stringify(want) ? [] : [`${JSON.stringify(c.prompt)}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`];
  });
}

describe('ClipTokenizer vs transformers CLIPTokenizer', () => {
  for (const v of golden.variants) {
    describe(v.name, () => {
      const tok = new ClipTokenizer(FILES, v.overrides);

      it(`reads the special tokens and length from the configs (pad id ${v.pad_id})`, () => {
        expect(tok.maxLength).toBe(golden.max_length);
        expect(tok.padId).toBe(v.pad_id);
        expect([tok.bosId, tok.eosId]).toEqual([tok.vocabSize - 2, tok.vocabSize - 1]);
      });

      it(`gives the same ${golden.max_length} ids on all ${v.cases.length} prompts`, () => {
        expect(v.cases.length).toBeGreaterThanOrEqual(200);
        expect(mismatches(tok, v)).toEqual([]);
      });

      it('gives the token count and the truncated tail of over-long prompts', () => {
        const over = v.cases.filter((c) => c.token_count > golden.max_length);
        expect(over.length).toBeGreaterThan(10);
        for (const c of v.cases) {
          const info = tok.inspect(c.prompt);
          expect({ prompt: c.prompt, count: info.tokenCount, tail: info.truncatedText }).toEqual({ prompt: c.prompt, count: c.token_count, tail: c.truncated_text });
        }
      });
    });
  }

  it('takes the "!" pad from special_tokens_map.json as SD 2.x publishes it', () => {
    const sd2 = golden.variants.find((v) => v.overrides.pad_token === '!')!;
    const map = JSON.stringify({ ...JSON.parse(FILES.specialTokensMapJson!), pad_token: { content: '!', lstrip: false, normalized: true, rstrip: false, single_word: false } });
    const tok = new ClipTokenizer({ ...FILES, specialTokensMapJson: map });
    expect(tok.padId).toBe(0);
    expect(mismatches(tok, sd2)).toEqual([]);
  });

  it('negative control: one merge removed, or the other pad token, changes the ids', () => {
    const [openai, sd2] = golden.variants as [Variant, Variant];
    const lines = FILES.mergesTxt.split('\n');
    const at = lines.indexOf('th e</w>'); // "the" is then t·h·e or th·e
    expect(at).toBeGreaterThan(0);
    const oneLess = new ClipTokenizer({ ...FILES, mergesTxt: [...lines.slice(0, at), ...lines.slice(at + 1)].join('\n') });
    expect(mismatches(oneLess, openai).length).toBeGreaterThan(10);
    const swapped = new ClipTokenizer(FILES, sd2.overrides);
    expect(mismatches(swapped, openai).length).toBeGreaterThan(10);
  });

  it('fallback normalisation: control and format characters go, CJK ideographs split, final sigma per word, NFC', () => {
    expect(clipBasicClean('a\u200bb\u0000c\tD\u3000日本')).toBe('abc d 日 本');
    expect(clipBasicClean('ΟΔΟΣ ΣΑ')).toBe('οδος σα');
    expect(clipBasicClean('cafe\u0301')).toBe('caf\u00e9');
    expect(byteSymbols()[0x20]).toBe('\u0120');
  });
});

describe('ClipTokenizer: malformed files are named', () => {
  const make = (patch: Partial<ClipTokenizerFiles>) => () => new ClipTokenizer({ ...FILES, ...patch });
  it('rejects broken vocab.json', () => {
    expect(make({ vocabJson: '{"a": 1' })).toThrow(/vocab\.json: not valid JSON/);
    expect(make({ vocabJson: '[1, 2]' })).toThrow(/vocab\.json: not a JSON object/);
    expect(make({ vocabJson: '{"a": -1}' })).toThrow(/vocab\.json: id of "a"/);
    expect(make({ vocabJson: '{"a": 1, "b": 1}' })).toThrow(/id 1 is given to both/);
    expect(make({ vocabJson: '{"a": 1}' })).toThrow(/missing the byte symbol/);
  });
  it('rejects broken merges.txt', () => {
    expect(make({ mergesTxt: 'i n\nt h\n' })).toThrow(/merges\.txt: first line must be the '#version' header/);
    expect(make({ mergesTxt: '#version: 0.2\ni n x\n' })).toThrow(/merges\.txt line 2: expected two symbols/);
    expect(make({ mergesTxt: '#version: 0.2\nq zz\n' })).toThrow(/merges\.txt line 2: 'q zz' makes "qzz", which vocab\.json lacks/);
  });
  it('rejects configs whose special tokens or length do not fit', () => {
    expect(make({ tokenizerConfigJson: '{"model_max_length": 77, "bos_token": "<|start|>"}', specialTokensMapJson: '{}' })).toThrow(/bos_token "<\|start\|>" is not in the vocabulary/);
    expect(make({ tokenizerConfigJson: '{}' })).toThrow(/model_max_length must be an integer/);
    expect(make({ specialTokensMapJson: '{"pad_token": 5}' })).toThrow(/special_tokens_map\.json: 'pad_token'/);
  });
});
