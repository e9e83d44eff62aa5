// Word-level tokenizer of the embedded model (docs/model-architecture.md §4; the Python twin is
// training/data.py `tokenize`): lowercase, split on runs of non-letters, [BOS, words…, EOS, PAD…].
// A word outside the vocabulary is an error naming it; `unknownWords` lets the UI flag them first.
// Runs in Node and the browser.

export class TokenizerError extends Error {
  constructor(
    message: string,
    readonly code: 'bad-tokenizer' | 'unknown-word' | 'prompt-too-long',
    readonly words: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface TokenizerJson {
  type: 'word-level';
  lowercase?: boolean;
  split?: string;
  vocab: Record<string, number>;
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
  max_length: number;
}

export class WordTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  private readonly vocab: ReadonlyMap<string, number>;

  constructor(json: unknown) {
    const j = json as Partial<TokenizerJson>;
    const bad = (m: string): never => {
      throw new TokenizerError(`tokenizer.json: ${m}`, 'bad-tokenizer');
    };
    if (typeof j !== 'object' || j === null) bad('not a JSON object');
    if (j.type !== undefined && j.type !== 'word-level') bad(`type ${JSON.stringify(j.type)} is not 'word-level'`);
    if (j.split !== undefined && j.split !== '[^a-z]+') bad(`split ${JSON.stringify(j.split)} is not supported (only '[^a-z]+')`);
    if (typeof j.vocab !== 'object' || j.vocab === null) bad('missing vocab');
    for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id', 'max_length'] as const) {
      if (!Number.isInteger(j[k]) || (j[k] as number) < 0) bad(`'${k}' must be a non-negative integer`);
    }
    this.vocab = new Map(Object.entries(j.vocab as Record<string, number>));
    this.bosId = j.bos_token_id!;
    this.eosId = j.eos_token_id!;
    this.padId = j.pad_token_id!;
    this.maxLength = j.max_length!;
  }

  /** The prompt's words after lowercasing and splitting on non-letters. */
  words(prompt: string): string[] {
    return prompt.toLowerCase().split(/[^a-z]+/).filter((w) => w.length > 0);
  }

  /** Words of the prompt that are not in the vocabulary (in order, without duplicates). */
  unknownWords(prompt: string): string[] {
    return [...new Set(this.words(prompt).filter((w) => !this.vocab.has(w)))];
  }

  /** Token ids [maxLength] of one prompt. Throws on unknown words and on prompts that do not fit. */
  encode(prompt: string): number[] {
    const unknown = this.unknownWords(prompt);
    if (unknown.length) {
      throw new TokenizerError(
        `prompt ${JSON.stringify(prompt)}: word${unknown.length > 1 ? 's' : ''} not in the vocabulary: ${unknown.map((w) => `'${w}'`).join(', ')}`,
        'unknown-word',
        unknown,
      );
    }
    const ids = [this.bosId, ...this.words(prompt).map((w) => this.vocab.get(w)!), this.eosId];
    if (ids.length > this.maxLength) {
      throw new TokenizerError(`prompt ${JSON.stringify(prompt)} has ${ids.length} tokens with BOS/EOS, the model takes at most ${this.maxLength}`, 'prompt-too-long');
    }
    while (ids.length < this.maxLength) ids.push(this.padId);
    return ids;
  }

  /** int64 ids [P, maxLength], row-major, for the text encoder's `input_ids`. */
  encodeBatch(prompts: readonly string[]): BigInt64Array {
    const out = new BigInt64Array(prompts.length * this.maxLength);
    prompts.forEach((p, r) => this.encode(p).forEach((id, k) => (out[r * this.maxLength + k] = BigInt(id))));
    return out;
  }
}
