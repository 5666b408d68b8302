#!/usr/bin/env python3
"""Regenerates the BPE tokenizer fixtures for BPETokenizerTests (not run by CI).

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install 'tokenizers==0.21.4'
    /tmp/tokvenv/bin/python make_fixtures.py [OUTPUT_DIR]   # default: this file's folder

Trains small BPE tokenizers on generated English-like text (no downloads besides the PyPI
package) and records the ids and decodings that the reference `tokenizers` library produces:

  tokenizer.json                 GPT-2 style: ByteLevel pre-tokenizer (built-in regex), added tokens
  tokenizer-llama3.json          Llama-3 style: Split(Llama-3 regex) + ByteLevel(use_regex=false), ignore_merges
  tokenizer-qwen2.json           Qwen2 style: NFC normalizer, Split(Qwen2 regex) + ByteLevel
  tokenizer-metaspace.json       Llama-2 (legacy) style: Prepend/Replace normalizer, byte_fallback, unk
  tokenizer-metaspace-first.json Llama-2 (new) style: Metaspace(prepend_scheme=first, split=false)
  tokenizer-digits.json          tokenizer.json's model behind Digits(individual) + ByteLevel(add_prefix_space)
  expected.json                  {"tokenizers_version", "files": {name: {"vocab_size", "cases": [...]}}}
                                 each case: {"text", "ids", "decoded"} (decoded with special tokens kept)
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

# The word list of PromptBuilder (so prompt words are single tokens, as in real vocabularies).
PROMPT_WORDS = """the of and to in is that for it as was with be by on not he this are or his from at which
but have an had they you were their one all we can her has there been if more when will would who so no time
people year way day man thing woman life child world school state family student group""".split()
MORE_WORDS = """about after again against almost along already also always among another answer around away
back because before began being below between both bring build call came change city close come company
could country cover cross during each early earth end enough even every example eye face fact fall far father
feet few field find first follow food form found four friend general give good government great grow hand
hard head hear help here high home house however idea important into just keep kind know land large last
later learn leave left less letter light like line little live long look made make many may mean might mind
money more morning most mother move much music must name near need never new next night number often old
only open order other our out over own page paper part place plant play point power problem public question
quite read real right river road room run said same saw say school sea second see seem sentence set should
show side small something sound spell stand start still story study such sun system take talk tell than
their them then these think three through together took tree try turn under until upon use very walk want
watch water well went what where while white whole why word work write year young""".split()
CONTRACTIONS = ["don't", "it's", "we're", "I'll", "you've", "he'd", "I'm", "can't", "they're", "she's",
                "won't", "isn't", "IT'S", "WE'RE", "John's"]
UNICODE_WORDS = ["café", "naïve", "résumé", "Zürich", "façade", "über", "niño", "東京", "日本語",
                 "Москва", "Ελλάδα", "straße", "😀", "🚀", "中文", "한국어", "ﬁne"]
PUNCT = [".", ",", "!", "?", ";", ":", " -", " (", ")", "\"", "...", " —"]


def corpus(rng, n_lines):
    lines = []
    for _ in range(n_lines):
        words = []
        for _ in range(rng.randint(4, 24)):
            r = rng.random()
            if r < 0.45:
                w = rng.choice(PROMPT_WORDS)
            elif r < 0.85:
                w = rng.choice(MORE_WORDS)
            elif r < 0.91:
                w = rng.choice(CONTRACTIONS)
            elif r < 0.96:
                w = str(rng.choice([rng.randint(0, 99), rng.randint(100, 99999), 1999, 2024]))
            else:
                w = rng.choice(UNICODE_WORDS)
            if rng.random() < 0.12:
                w += rng.choice(PUNCT)
            words.append(w)
        s = " ".join(words)
        lines.append(s[0].upper() + s[1:] + rng.choice([".", ".", "!", "?", ".\n", "\n\n", "  "]))
    return lines


CASES = [
    "Hello world",
    "the of and to in is that for it",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces",
    "trailing spaces   ",
    "multiple    spaces   between words",
    "tabs\tand\ttabs\t\tdouble",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\nendings",
    "\n\n\n",
    "   ",
    "",
    "a",
    " ",
    "don't won't can't it's we're I'll you've he'd I'm",
    "IT'S WE'RE THEY'VE I'M HE'D YOU'LL DON'T",
    "'s 't 're 've 'm 'll 'd",
    "''quoted'' and 'single' quotes",
    "numbers 1 12 123 1234 12345 1234567890",
    "3.14159 and 2,718 and -42 and +7",
    "year 2024, price $19.99, 50% off!",
    "punctuation!!! ??? ... ,,, ;;; ::: --- ___",
    "email: someone@example.com, url: https://example.com/path?x=1&y=2",
    "code: for (int i = 0; i < n; i++) { x[i] = y[i] * 2; }",
    "café naïve résumé façade",
    "Zürich über straße",
    "cafe\u0301 (decomposed) vs café (composed)",
    "東京は日本の首都です。",
    "中文字符和English混合",
    "한국어 텍스트",
    "Москва — столица России.",
    "Ελληνικά γράμματα",
    "emoji 😀 🚀 👍🏽 👨‍👩‍👧",
    "😀😀😀",
    "flags 🇺🇸🇯🇵",
    "fullwidth １２３ and superscript ² ³ and roman Ⅻ",
    "Arabic-Indic digits ٠١٢٣٤٥",
    "nbsp\u00a0here and em\u2003space and ideographic\u3000space",
    "line\u2028separator and next\u0085line",
    "zero\u200bwidth and joiner\u200d",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "text <|endoftext|> text <|endoftext|><|endoftext|>",
    "partial <|endoftext and <|endo",
    "[MASK] with lstrip   [MASK]   and rstrip",
    "a <tool>   call <tool>",
    "xyzzy single word, notxyzzy, xyzzyx, (xyzzy)",
    "<|begin_of_text|>system<|eot_id|>",
    "<s> hello </s> <unk>",
    "Mixed CASE Words And ALLCAPS",
    "hyphen-ated words and under_scores and camelCaseWords",
    "ſ long s: it'ſ",
    "The family of the student group was at school all day, and the woman had a child.",
]

# Scalars for fuzzing the pre-tokenizer's character classes.
FUZZ_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3
    + list("0123456789") * 2
    + [" "] * 25 + ["\t", "\n", "\n", "\r", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028", "\u0085", "\u000b", "\u000c"]
    + list(".,!?;:'\"-_()[]{}<>/\\@#$%^&*+=|~`") + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'ſ"]
    + ["é", "ß", "ñ", "ü", "ø", "\u0301", "\u0308", "東", "京", "語", "한", "Я", "ж", "λ", "ع", "٣", "²", "Ⅻ", "１", "½"]
    + ["😀", "🚀", "👍", "🏽", "\u200d", "\ufe0f", "\u200b", "€", "©", "™", "ﬁ"]
    + ["<|endoftext|>", "[MASK]", "<tool>", "xyzzy", "<s>", "</s>", "<|eot_id|>", " the", " of", " world"]
)


def fuzz(rng, n):
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(FUZZ_POOL) for _ in range(rng.randint(1, 24))))
    return out


LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def gpt2_style(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, normalized=False, special=True)])
    tok.add_tokens([AddedToken("<tool>", rstrip=True, normalized=True),
                    AddedToken("xyzzy", single_word=True, normalized=True)])
    return tok


def split_style(lines, pattern, vocab_size, nfc, specials, ignore_merges):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok


def metaspace_model(lines, vocab_size):
    """A Llama-2-shaped vocabulary: <unk> <s> </s>, the 256 <0xNN> byte tokens, then BPE pieces."""
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, limit_alphabet=90, show_progress=False)
    t.train_from_iterator(lines, trainer)
    trained = json.loads(t.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return vocab, merges


def metaspace_style(vocab, merges, legacy):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    if legacy:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken("<unk>", normalized=False, special=True),
                            AddedToken("<s>", normalized=False, special=True),
                            AddedToken("</s>", normalized=False, special=True)])
    return tok


def main():
    rng = random.Random(20240601)
    lines = corpus(rng, 6000)
    long_text = " ".join(corpus(random.Random(7), 40))
    fuzz_cases = fuzz(random.Random(99), 120)

    toks = {}
    toks["tokenizer.json"] = gpt2_style(lines)
    toks["tokenizer-llama3.json"] = split_style(lines, LLAMA3_PATTERN, 1200, False,
                                                ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], True)
    toks["tokenizer-qwen2.json"] = split_style(lines, QWEN2_PATTERN, 800, True, ["<|endoftext|>"], False)
    digits = Tokenizer.from_str(toks["tokenizer.json"].to_str())
    digits.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    toks["tokenizer-digits.json"] = digits
    vocab, merges = metaspace_model(lines, 700)
    toks["tokenizer-metaspace.json"] = metaspace_style(vocab, merges, legacy=True)
    toks["tokenizer-metaspace-first.json"] = metaspace_style(vocab, merges, legacy=False)

    expected = {"tokenizers_version": tokenizers.__version__, "files": {}}
    for name, tok in toks.items():
        tok.save(os.path.join(OUT, name), pretty=False)
        # Reload from the file: the cases are what the saved JSON produces.
        tok = Tokenizer.from_file(os.path.join(OUT, name))
        cases = []
        for text in CASES + [long_text] + fuzz_cases:
            ids = tok.encode(text, add_special_tokens=False).ids
            cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
        expected["files"][name] = {"vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases}
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
