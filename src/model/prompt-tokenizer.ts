// The package's tokenizer, whichever kind its manifest names: the embedded model's word-level one
// or a real pipeline's CLIP byte-level BPE. The engine encodes prompts with it; the dashboard
// checks a prompt with it before Start. Runs in Node and the browser; files come through `read`.
import { ClipTokenizer } from './clip-tokenizer.js';
import type { TokenizerEntry } from './manifest.js';
import { WordTokenizer } from './tokenizer.js';

export type PromptTokenizer = WordTokenizer | ClipTokenizer;

/** What the form shows of a prompt before Start. */
export interface PromptCheck {
  /** Word-level: words the vocabulary lacks (Start is refused while there are any); BPE: none. */
  readonly unknownWords: readonly string[];
  /** Tokens with BOS and EOS, before any truncation, and the most the model takes. */
  readonly tokenCount: number;
  readonly maxTokens: number;
  /** BPE: the text cut off because the prompt is too long ('' when it fits). */
  readonly truncatedText: string;
}

export async function openTokenizer(entry: TokenizerEntry, read: (path: string) => Promise<Uint8Array>): Promise<PromptTokenizer> {
  const text = async (path: string) => new TextDecoder().decode(await read(path));
  if (entry.type === 'word-level') return new WordTokenizer(JSON.parse(await text(entry.file)));
  return new ClipTokenizer({
    vocabJson: await text(entry.file),
    mergesTxt: await text(entry.merges),
    ...(entry.config && { tokenizerConfigJson: await text(entry.config) }),
    ...(entry.special_tokens_map && { specialTokensMapJson: await text(entry.special_tokens_map) }),
  });
}

export function checkPrompt(t: PromptTokenizer, prompt: string): PromptCheck {
  if (t instanceof ClipTokenizer) {
    const { tokenCount, truncatedText } = t.inspect(prompt);
    return { unknownWords: [], tokenCount, maxTokens: t.maxLength, truncatedText };
  }
  return { unknownWords: t.unknownWords(prompt), tokenCount: t.words(prompt).length + 2, maxTokens: t.maxLength, truncatedText: '' };
}
