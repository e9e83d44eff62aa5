import { describe, expect, it } from 'vitest';
import { TINY_TOKENIZER } from './testing/tiny-model.js';
import { TokenizerError, WordTokenizer } from './tokenizer.js';

describe('WordTokenizer (docs/model-architecture.md §4)', () => {
  const tok = new WordTokenizer(TINY_TOKENIZER);
  const id = (w: string) => TINY_TOKENIZER.vocab[w as keyof typeof TINY_TOKENIZER.vocab];

  it('lowercases, splits on non-letters, adds BOS/EOS and pads', () => {
    expect(tok.encode('A red circle, Bouncing!')).toEqual([1, id('a'), id('red'), id('circle'), id('bouncing'), 2, ...Array(10).fill(0)]);
  });
  it('encodes the empty (uncond) prompt as [BOS, EOS, PAD…]', () => {
    expect(tok.encode('')).toEqual([1, 2, ...Array(14).fill(0)]);
  });
  it('lists unknown words and names them in the error', () => {
    expect(tok.unknownWords('a purple circle, purple hexagon')).toEqual(['purple', 'hexagon']);
    expect(() => tok.encode('a purple circle')).toThrow(/not in the vocabulary: 'purple'/);
    try {
      tok.encode('a purple hexagon');
    } catch (e) {
      expect(e).toBeInstanceOf(TokenizerError);
      expect((e as TokenizerError).code).toBe('unknown-word');
      expect((e as TokenizerError).words).toEqual(['purple', 'hexagon']);
    }
  });
  it('rejects prompts longer than max_length', () => {
    expect(() => tok.encode(Array(15).fill('red').join(' '))).toThrow(/17 tokens with BOS\/EOS, the model takes at most 16/);
  });
  it('batches into int64 [P, L]', () => {
    const ids = tok.encodeBatch(['', 'red square']);
    expect(ids.length).toBe(32);
    expect(ids[16]).toBe(1n);
    expect(ids[17]).toBe(BigInt(id('red')));
  });
  it('rejects a malformed tokenizer.json', () => {
    expect(() => new WordTokenizer({ ...TINY_TOKENIZER, max_length: -1 })).toThrow(/'max_length' must be a non-negative integer/);
    expect(() => new WordTokenizer({ ...TINY_TOKENIZER, type: 'bpe' })).toThrow(/not 'word-level'/);
  });
});
