import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from './clip-tokenizer.js';
import { checkPrompt, openTokenizer } from './prompt-tokenizer.js';
import { WordTokenizer } from './tokenizer.js';

const reader = (dir: string) => async (path: string) => new Uint8Array(await readFile(join(dir, path)));

describe('the package tokenizer, either kind', () => {
  it('word-level (the embedded model): unknown words are named, nothing is truncated', async () => {
    const t = await openTokenizer({ type: 'word-level', file: 'tokenizer.json' }, reader('public/models/vi-shapes-tiny'));
    expect(t).toBeInstanceOf(WordTokenizer);
    expect(checkPrompt(t, 'a red circle')).toEqual({ unknownWords: [], tokenCount: 5, maxTokens: t.maxLength, truncatedText: '' });
    expect(checkPrompt(t, 'a purple circle').unknownWords).toEqual(['purple']);
  });

  it('CLIP BPE (a pipeline\'s tokenizer/ folder): no unknown words; an over-long prompt reports its count and the cut-off text', async () => {
    const entry = { type: 'clip-bpe', file: 'vocab.json', merges: 'merges.txt', config: 'tokenizer_config.json', special_tokens_map: 'special_tokens_map.json' } as const;
    const t = await openTokenizer(entry, reader('training/golden/clip-tokenizer/tokenizer'));
    expect(t).toBeInstanceOf(ClipTokenizer);
    const short = checkPrompt(t, 'a red circle');
    expect(short).toMatchObject({ unknownWords: [], maxTokens: 77, truncatedText: '' });
    expect(short.tokenCount).toBeGreaterThanOrEqual(5);
    const long = checkPrompt(t, Array.from({ length: 90 }, (_, i) => (i === 89 ? 'zebra' : 'a')).join(' '));
    expect(long.tokenCount).toBeGreaterThanOrEqual(92); // 89 × 'a', 'zebra' (one or more pieces), BOS, EOS
    expect(long.truncatedText.endsWith('zebra')).toBe(true);
  });
});
