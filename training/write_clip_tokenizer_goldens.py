"""Goldens of transformers' CLIPTokenizer for the TypeScript CLIP tokenizer (src/model/clip-tokenizer.test.ts).

    PYTHONPATH=<transformers>/src python3 training/write_clip_tokenizer_goldens.py \
        --published <a diffusers pipeline's tokenizer/ folder> --out training/golden/clip-tokenizer

1. The published tokenizer (vocab.json 49408 entries, merges.txt, 1.5 MB) is too large to commit, so a
   prefix of it is: the first MERGES merges of merges.txt, and the vocab the published construction gives
   them (the 256 byte symbols in bytes_to_unicode order, the same with `</w>`, one entry per merge, then
   <|startoftext|> and <|endoftext|>). A prefix of a BPE merge list is itself a valid merge list, so common
   words still tokenize as in the full model. Written to <out>/tokenizer/ with the published
   tokenizer_config.json and special_tokens_map.json (OpenAI CLIP: pads with <|endoftext|>).
2. transformers' CLIPTokenizer (its pure-Python class, as installed: without ftfy it normalises text with
   its own BasicTokenizer) encodes every prompt below as diffusers' pipelines call it
   (padding="max_length", max_length=77, truncation=True), once per variant: the published OpenAI CLIP
   special tokens, and OpenCLIP-H / SD 2.x style, which pads with "!" (id 0). Written to <out>/cases.json:
   per prompt the ids up to the end token (the rest of the 77 is the variant's pad_id, checked here), the
   untruncated token count and the text of the truncated tail.
"""
import argparse
import json
import os
import random

MERGES = 3000
MAX_LENGTH = 77

HAND = [
    "", " ", "   \t\n  ", "a", "A", "a photo of a cat", "A beagle wearning diving goggles  swimming in the ocean while the camera is moving, coral reefs in the background",
    "an astronaut riding a horse on the moon, 4k, highly detailed", "Hello, World!", "hello!", "wow!!", "!!!", "?!", "...", "--", "a-b_c",
    "it's", "It'S", "we're here", "they've gone", "I'm ok", "you'll see", "he'd go", "'s", "'sun", "don't", "it’s curly", "“quoted”",
    "1234567", "3.14159", "2024-06-25", "$100", "100%", "x² ≥ ½", "1st 2nd 3rd", "007", "0.5x", "#hashtag", "@mention", "e-mail@example.com",
    "https://example.com/path?q=1&r=2", "C++ and C#", "<html>", "a<b>c", "(parens) [brackets] {braces}", "semi;colon:colon", "quote\"double\"",
    "back\\slash", "tilde~caret^", "pipe|bar", "star*and&", "under_score", "CamelCaseWords", "ALLCAPS", "MiXeD cAsE",
    "café", "naïve", "Ångström", "cafe\u0301 (combining)", "résumé", "façade", "crème brûlée", "Zürich", "São Paulo", "Æsir", "œuvre", "ﬁne ligature",
    "STRASSE ß", "İstanbul", "ΟΔΟΣ", "Σίσυφος", "Ελληνικά", "Москва", "Привет, мир!", "日本語", "中文字符", "東京タワー", "ひらがな", "カタカナ",
    "한국어 문장", "汉字 and English", "繁體中文", "𠀀 extension B", "丽 compatibility", "ＡＢＣ１２３ fullwidth", "ｶﾀｶﾅ halfwidth",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Tiếng Việt", "ქართული", "Հայերեն",
    "🐱", "a 🐱 cat", "👩‍💻 coder", "🇯🇵 flag", "❤️ heart", "👍🏽 thumbs", "🫠 melting", "🎉🎉🎉", "emoji🙂inside", "☃ snowman", "★☆", "→ arrow",
    "tab\tseparated", "new\nline", "carriage\rreturn", "many     spaces", "nbsp\u00a0space", "ideographic\u3000space", "line\u2028separator",
    "zero\u200bwidth", "bom\ufeffmark", "bell\u0007char", "nul\u0000char", "replacement\ufffdchar", "soft\u00adhyphen", "private\ue000use",
    "<|endoftext|>", "a <|endoftext|> b", "<|startoftext|>x", "<|ENDOFTEXT|>", "<|endoftext", "|>",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "the the the the", "Théâtre — “l’art” … 10€", "½ ¼ ¾", "°C and °F", "™ ® ©", "µ micro", "Ω ohm", "Å angstrom sign",
]

WORDS = (
    "a the of and in on with at by from cat dog horse astronaut ocean forest city night sunset painting photo portrait "
    "cinematic lighting detailed 4k 8k trending artstation style beautiful dramatic camera moving slowly zoom drone shot "
    "river mountain snow rain fire smoke glass metal robot castle dragon flower garden car street neon cyberpunk vintage "
    "film grain watercolor oil sketch anime realistic octane render unreal engine golden hour fog underwater coral reef "
    "jellyfish whale bird flying running dancing sitting walking timelapse panorama close-up macro bokeh"
).split()
EXTRAS = [",", ".", "!", "?", ";", ":", "-", "'s", "(", ")", "\"", "&", "2", "42", "1999", "é", "日", "🐶", "  ", "\t", "\n", "ü", "ß", "ø"]


def generated(rng):
    """Seeded prompts: word salads with punctuation, digits and unicode, short to far beyond 77 tokens."""
    out = []
    for k in range(120):
        n = rng.choice([1, 2, 3, 5, 8, 12, 20, 40, 60, 80, 120])
        parts = []
        for _ in range(n):
            w = rng.choice(WORDS)
            r = rng.random()
            if r < 0.15:
                w = w.upper()
            elif r < 0.25:
                w = w.capitalize()
            parts.append(w)
            if rng.random() < 0.3:
                parts.append(rng.choice(EXTRAS))
        sep = rng.choice([" ", " ", " ", "", "  "])
        out.append(sep.join(parts))
    return out


def bytes_to_unicode_order():
    """The 256 byte symbols in the order the published vocab lists them (CLIP's bytes_to_unicode)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_prefix_tokenizer(published, out):
    with open(os.path.join(published, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().strip().split("\n")
    header, merges = lines[0], lines[1 : 1 + MERGES]
    with open(os.path.join(published, "vocab.json"), encoding="utf-8") as f:
        full = json.load(f)
    symbols = bytes_to_unicode_order()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    # The prefix must be the published construction: check it against the full vocab's ids.
    for i, t in enumerate(tokens[: len(tokens) - 2]):
        assert full[t] == i, f"published vocab.json: {t!r} is {full[t]}, construction says {i}"
    vocab = {t: i for i, t in enumerate(tokens)}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, sort_keys=True, ensure_ascii=False))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write(header + "\n" + "\n".join(merges) + "\n")
    for name in ["tokenizer_config.json", "special_tokens_map.json"]:
        with open(os.path.join(published, name), encoding="utf-8") as f:
            cfg = json.load(f)
        cfg.pop("name_or_path", None)
        cfg.pop("special_tokens_map_file", None)
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(json.dumps(cfg, indent=1, ensure_ascii=False) + "\n")
    return len(vocab)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--published", required=True, help="a published CLIP tokenizer/ folder (vocab.json, merges.txt, configs)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import transformers
    from transformers import CLIPTokenizer

    tok_dir = os.path.join(args.out, "tokenizer")
    n_vocab = write_prefix_tokenizer(args.published, tok_dir)
    prompts = HAND + generated(random.Random(16))
    variants = [
        ("openai-clip", {}),
        ("openclip-sd2", {"pad_token": "!"}),
    ]
    try:
        import ftfy  # noqa: F401  (with ftfy, CLIPTokenizer normalises differently; see src/model/clip-tokenizer.ts)
        have_ftfy = True
    except ImportError:
        have_ftfy = False
    out = {"source": {"transformers": getattr(transformers, "__version__", "?"), "ftfy": have_ftfy, "merges": MERGES, "vocab": n_vocab},
           "max_length": MAX_LENGTH, "variants": []}
    for name, overrides in variants:
        tok = CLIPTokenizer(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt"), model_max_length=MAX_LENGTH, **overrides)
        cases = []
        for p in prompts:
            ids = tok(p, padding="max_length", max_length=MAX_LENGTH, truncation=True)["input_ids"]
            content = tok.convert_tokens_to_ids(tok.tokenize(p))
            tail = content[MAX_LENGTH - 2 :]
            tail_text = tok.convert_tokens_to_string([tok._convert_id_to_token(i) for i in tail]) if tail else ""
            head = ids[: min(len(content) + 2, MAX_LENGTH)]
            assert ids[len(head) :] == [tok.pad_token_id] * (MAX_LENGTH - len(head)), p
            cases.append({"prompt": p, "ids": head, "token_count": len(content) + 2, "truncated_text": tail_text})
        over = sum(1 for c in cases if c["token_count"] > MAX_LENGTH)
        print(f"{name}: {len(cases)} prompts, {over} over {MAX_LENGTH} tokens, pad id {tok.pad_token_id}")
        out["variants"].append({"name": name, "overrides": overrides, "pad_id": tok.pad_token_id, "cases": cases})
    with open(os.path.join(args.out, "cases.json"), "w", encoding="utf-8") as f:
        head = json.dumps({k: v for k, v in out.items() if k != "variants"}, ensure_ascii=False)[:-1]
        f.write(head + ', "variants": [\n')
        for vi, v in enumerate(out["variants"]):
            f.write(' {"name": ' + json.dumps(v["name"]) + ', "overrides": ' + json.dumps(v["overrides"]) + ', "pad_id": ' + str(v["pad_id"]) + ', "cases": [\n')
            f.write(",\n".join("  " + json.dumps(c, ensure_ascii=True) for c in v["cases"]))
            f.write("\n ]}" + ("," if vi + 1 < len(out["variants"]) else "") + "\n")
        f.write("]}\n")
    print(f"wrote {args.out}: tokenizer with {n_vocab} entries, {len(prompts)} prompts x {len(variants)} variants")


if __name__ == "__main__":
    main()
