// CLIP byte-level BPE tokenizer (the `tokenizer/` folder of a diffusers pipeline: vocab.json,
// merges.txt, tokenizer_config.json, special_tokens_map.json). Ids equal transformers' CLIPTokenizer
// called as diffusers' pipelines call it: padding to max_length, truncation (goldens:
// training/write_clip_tokenizer_goldens.py). Runs in Node and the browser.
//
// Text normalisation. transformers' CLIPTokenizer uses ftfy when it is installed and its own
// BasicTokenizer otherwise; neither transformers nor diffusers requires ftfy, so a stock install runs
// the fallback, and this is what is reproduced here:
//   drop U+0000, U+FFFD and every Unicode "C*" character except \t \n \r (format characters such as
//   ZWJ and ZWSP included); \t \n \r and "Zs" spaces become " "; spaces around CJK ideographs; NFC;
//   split on whitespace; lowercase each word (no accent stripping; Σ at a word's end becomes ς).
// With ftfy, `whitespace_clean(ftfy.fix_text(text)).lower()` runs instead, which differs on: CJK runs
// (one BPE word instead of one per ideograph), curly quotes (’ becomes ' so "it’s" splits as "it" "'s"),
// HTML entities, fullwidth forms and ligatures (folded to ASCII), mojibake repair, and control and
// format characters (ftfy keeps some that the fallback drops). OpenAI's original CLIP code also runs
// ftfy and html.unescape. Prompts of plain ASCII/Latin text tokenize the same either way.
//
// Special tokens: bos, eos, unk and pad are added tokens, so their text inside a prompt is cut out
// before BPE and maps to their id. With OpenCLIP-H / SD 2.x configs the pad token is "!": every "!"
// in a prompt then becomes id 0, as transformers (>= 4.34) does.
import { TokenizerError } from './tokenizer.js';

/** The files of a published `tokenizer/` folder, as text (configs may be absent). */
export interface ClipTokenizerFiles {
  vocabJson: string;
  mergesTxt: string;
  tokenizerConfigJson?: string;
  specialTokensMapJson?: string;
}

/** What the dashboard shows for one prompt. */
export interface ClipPromptInfo {
  /** The model input: [bos, tokens…, eos, pad…], maxLength ids. */
  ids: number[];
  /** Tokens of the whole prompt with bos and eos, before truncation (may exceed maxLength). */
  tokenCount: number;
  /** Text of the tokens cut off by truncation ('' when the prompt fits). */
  truncatedText: string;
}

/** Merge lines transformers reads: `[1 : 49152 - 256 - 2 + 1]` of merges.txt. */
export const CLIP_MAX_MERGES = 49152 - 256 - 2;
const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;
type SpecialKey = (typeof SPECIAL_KEYS)[number];
const DEFAULT_SPECIALS: Record<SpecialKey, string> = {
  bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>',
};
/** Pre-tokenizer of CLIPTokenizer (contractions, letter runs, single digits, other runs). */
const WORD_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;
/** Strings the upstream BPE cache returns unchanged (fixed, whatever the configured specials). */
const BPE_PASSTHROUGH = new Set(['<|startoftext|>', '<|endoftext|>']);

/** GPT-2/CLIP byte ↔ symbol table: printable bytes stand for themselves, the rest map to U+0100…. */
export function byteSymbols(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const sym: string[] = new Array<string>(256);
  for (const b of bs) sym[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (sym[b] === undefined) sym[b] = String.fromCodePoint(256 + n++);
  return sym;
}

function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df)
    || (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf)
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/** transformers' fallback normalisation (BasicTokenizer without punctuation splitting or accent stripping), joined by spaces. */
export function clipBasicClean(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd) continue;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch)) out += ' ';
    else if (/\p{C}/u.test(ch)) continue;
    else if (isCjk(cp)) out += ` ${ch} `;
    else out += ch;
  }
  // Per word, like Python's str.lower() (both apply the final-sigma rule within the word).
  return out.normalize('NFC').split(/\s+/u).filter((w) => w.length > 0).map((w) => w.toLowerCase()).join(' ');
}

function specialContent(v: unknown, where: string, key: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new TokenizerError(`${where}: '${key}' must be a string or {"content": …}`, 'bad-tokenizer');
}

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${where}: not valid JSON (${(e as Error).message})`, 'bad-tokenizer');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerError(`${where}: not a JSON object`, 'bad-tokenizer');
  return v as Record<string, unknown>;
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  readonly vocabSize: number;
  /** Special-token text → id; each occurrence in a prompt is cut out before BPE (longest first). */
  private readonly added: ReadonlyMap<string, number>;
  private readonly addedByLength: readonly string[];
  private readonly vocab: ReadonlyMap<string, number>;
  private readonly idToToken: ReadonlyMap<number, string>;
  private readonly ranks: ReadonlyMap<string, number>;
  private readonly byteToSymbol = byteSymbols();
  private readonly symbolToByte: ReadonlyMap<string, number>;
  private readonly cache = new Map<string, string[]>();

  /**
   * `overrides` replace config values (e.g. a pipeline that passes pad_token). `maxLength` is the
   * config's model_max_length unless given.
   */
  constructor(files: ClipTokenizerFiles, overrides: Partial<Record<SpecialKey, string>> & { maxLength?: number } = {}) {
    const bad = (m: string): never => {
      throw new TokenizerError(m, 'bad-tokenizer');
    };
    const vocabObj = parseJsonObject(files.vocabJson, 'vocab.json');
    const vocab = new Map<string, number>();
    const idToToken = new Map<number, string>();
    for (const [tok, id] of Object.entries(vocabObj)) {
      if (!Number.isInteger(id) || (id as number) < 0) bad(`vocab.json: id of ${JSON.stringify(tok)} must be a non-negative integer, got ${JSON.stringify(id)}`);
      if (idToToken.has(id as number)) bad(`vocab.json: id ${id} is given to both ${JSON.stringify(idToToken.get(id as number))} and ${JSON.stringify(tok)}`);
      vocab.set(tok, id as number);
      idToToken.set(id as number, tok);
    }
    for (const s of this.byteToSymbol) if (!vocab.has(s)) bad(`vocab.json: missing the byte symbol ${JSON.stringify(s)}; not a byte-level BPE vocab`);

    const lines = files.mergesTxt.trim().split('\n');
    if (!lines[0]!.startsWith('#version')) bad(`merges.txt: first line must be the '#version' header, got ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    const ranks = new Map<string, number>();
    lines.slice(1, 1 + CLIP_MAX_MERGES).forEach((line, k) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length !== 2 || parts[0] === '') bad(`merges.txt line ${k + 2}: expected two symbols, got ${JSON.stringify(line)}`);
      const [a, b] = parts as [string, string];
      if (!vocab.has(a + b)) bad(`merges.txt line ${k + 2}: '${a} ${b}' makes ${JSON.stringify(a + b)}, which vocab.json lacks (files of different tokenizers?)`);
      if (!ranks.has(`${a} ${b}`)) ranks.set(`${a} ${b}`, k);
    });

    const cfg = files.tokenizerConfigJson !== undefined ? parseJsonObject(files.tokenizerConfigJson, 'tokenizer_config.json') : {};
    const map = files.specialTokensMapJson !== undefined ? parseJsonObject(files.specialTokensMapJson, 'special_tokens_map.json') : {};
    const specials = {} as Record<SpecialKey, string>;
    for (const key of SPECIAL_KEYS) {
      // transformers' from_pretrained: special_tokens_map.json overrides tokenizer_config.json.
      specials[key] = overrides[key] ?? specialContent(map[key], 'special_tokens_map.json', key) ?? specialContent(cfg[key], 'tokenizer_config.json', key) ?? DEFAULT_SPECIALS[key];
    }
    const idOf = (key: SpecialKey): number => vocab.get(specials[key]) ?? bad(`vocab.json: the ${key} ${JSON.stringify(specials[key])} is not in the vocabulary`);
    const maxLength = overrides.maxLength ?? cfg.model_max_length;
    if (!Number.isInteger(maxLength) || (maxLength as number) < 2 || (maxLength as number) > 1_000_000) {
      bad(`tokenizer_config.json: model_max_length must be an integer ≥ 2, got ${JSON.stringify(maxLength)}`);
    }
    this.maxLength = maxLength as number;
    this.bosId = idOf('bos_token');
    this.eosId = idOf('eos_token');
    this.unkId = idOf('unk_token');
    this.padId = idOf('pad_token');
    this.vocab = vocab;
    this.idToToken = idToToken;
    this.vocabSize = vocab.size;
    this.ranks = ranks;
    this.symbolToByte = new Map(this.byteToSymbol.map((s, b) => [s, b]));
    this.added = new Map(SPECIAL_KEYS.map((k) => [specials[k], vocab.get(specials[k])!]));
    this.addedByLength = [...this.added.keys()].sort((a, b) => b.length - a.length);
  }

  /** BPE of one pre-token (already mapped to byte symbols): its vocabulary tokens. */
  private bpe(word: string): string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const chars = Array.from(word);
    let parts = [...chars.slice(0, -1), chars.at(-1)! + '</w>'];
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = parts[best]!;
      const second = parts[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < parts.length;) {
        if (parts[i] === first && i + 1 < parts.length && parts[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else next.push(parts[i++]!);
      }
      parts = next;
    }
    this.cache.set(word, parts);
    return parts;
  }

  /** Ids of the prompt's text between special tokens. */
  private encodeText(text: string): number[] {
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const m of clipBasicClean(text).matchAll(WORD_PATTERN)) {
      const piece = m[0];
      const tokens = BPE_PASSTHROUGH.has(piece) ? [piece] : this.bpe(Array.from(utf8.encode(piece), (b) => this.byteToSymbol[b]!).join(''));
      for (const t of tokens) ids.push(this.added.get(t) ?? this.vocab.get(t) ?? this.unkId);
    }
    return ids;
  }

  /** Token ids of the whole prompt, no bos/eos, not truncated. */
  tokenIds(prompt: string): number[] {
    const ids: number[] = [];
    let start = 0;
    for (let i = 0; i < prompt.length;) {
      const special = this.addedByLength.find((s) => prompt.startsWith(s, i));
      if (special === undefined) {
        i++;
        continue;
      }
      ids.push(...this.encodeText(prompt.slice(start, i)), this.added.get(special)!);
      i += special.length;
      start = i;
    }
    ids.push(...this.encodeText(prompt.slice(start)));
    return ids;
  }

  /** The model input and what the dashboard shows: token count and the truncated tail. */
  inspect(prompt: string): ClipPromptInfo {
    const all = this.tokenIds(prompt);
    const room = this.maxLength - 2;
    const ids = [this.bosId, ...all.slice(0, room), this.eosId];
    while (ids.length < this.maxLength) ids.push(this.padId);
    return { ids, tokenCount: all.length + 2, truncatedText: all.length > room ? this.decode(all.slice(room)) : '' };
  }

  /** Token ids [maxLength] of one prompt: [bos, tokens…, eos, pad…], cut to fit as transformers does. */
  encode(prompt: string): number[] {
    return this.inspect(prompt).ids;
  }

  /** int64 ids [P, maxLength], row-major, for the text encoder's `input_ids`. */
  encodeBatch(prompts: readonly string[]): BigInt64Array {
    const out = new BigInt64Array(prompts.length * this.maxLength);
    prompts.forEach((p, r) => this.encode(p).forEach((id, k) => (out[r * this.maxLength + k] = BigInt(id))));
    return out;
  }

  /** Text of token ids (CLIPTokenizer.convert_tokens_to_string: bytes back, `</w>` → space, trimmed). */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const tok = this.idToToken.get(id);
      if (tok === undefined) throw new TokenizerError(`token id ${id} is not in the vocabulary`, 'bad-tokenizer');
      for (const ch of tok) bytes.push(this.symbolToByte.get(ch) ?? 0x3f);
    }
    return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes)).replaceAll('</w>', ' ').trim();
  }
}
