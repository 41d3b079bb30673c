"""model/tokenization.py and model/char_classes.py: every BERT tokenization rule, and equality
with a plain reference.

The reference (bench/reference_tokenizer.py) is a character-by-character transcription of the
algorithm; the fast tokenizer must give identical tokens on random and exhaustive inputs.
"""

import collections
import itertools
import random
import unicodedata

import pytest

from bench import reference_tokenizer as reference
from model import char_classes, tokenization

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(tmp_path, tokens, name="vocab.txt"):
  path = tmp_path / name
  path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
  return str(path)


def make_tokenizer(tmp_path, tokens, do_lower_case=True, **kwargs):
  return tokenization.FullTokenizer(write_vocab(tmp_path, tokens), do_lower_case=do_lower_case,
                                    **kwargs)


def basic(text, do_lower_case=True):
  return tokenization.BasicTokenizer(do_lower_case=do_lower_case).tokenize(text)


# --- BasicTokenizer rules -----------------------------------------------------------------------


def test_lower_case_and_accent_stripping():
  assert basic(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
  assert basic("Héllo naïve ÅNGSTRÖM") == ["hello", "naive", "angstrom"]
  # Decomposed input: the combining acute (category Mn) is dropped.
  assert basic("e\u0301") == ["e"]


def test_no_lower_case_keeps_case_and_accents():
  assert basic(" \tHäLLo!how  \n Are yoU?  ", do_lower_case=False) == [
      "HäLLo", "!", "how", "Are", "yoU", "?"]
  assert basic("e\u0301", do_lower_case=False) == ["e\u0301"]


def test_lower_case_uses_python_lower_of_the_whole_word():
  # Final sigma depends on the neighbours, also across case-ignorable "." (U+03C3 vs U+03C2).
  assert basic("ΑΣ.Β") == ["ασ", ".", "β"]
  assert basic("ΑΣ") == ["ας"]
  assert basic("İ") == ["i"]  # lower() gives "i" + U+0307, a mark that is then stripped


def test_each_cjk_char_is_a_token():
  assert basic("ah博推zz") == ["ah", "博", "推", "zz"]
  assert basic("中国人民，你好!") == ["中", "国", "人", "民", "，", "你", "好", "!"]


@pytest.mark.parametrize("low,high", tokenization.CJK_RANGES)
def test_cjk_range_boundaries(low, high):
  for cp in (low, high):
    assert tokenization.is_chinese_char(cp)
    # A block's end may be unassigned in this Python's Unicode version: dropped (category Cn).
    expected = (["ab"] if unicodedata.category(chr(cp)) == "Cn" else ["a", chr(cp), "b"])
    assert basic(f"a{chr(cp)}b", do_lower_case=False) == expected
  for cp in (low - 1, high + 1):
    if not any(lo <= cp <= hi for lo, hi in tokenization.CJK_RANGES):
      assert not tokenization.is_chinese_char(cp)


def test_non_cjk_scripts_are_not_split_per_char():
  # Hangul, kana, Kangxi radicals and CJK symbols are outside BERT's ideograph blocks.
  assert basic("한국어 ひらがな \u2f00\u2f01", do_lower_case=False) == [
      "한국어", "ひらがな", "\u2f00\u2f01"]
  # With lower-casing, NFD splits Hangul syllables into jamo and drops the kana voicing mark.
  assert basic("한 が") == ["\u1112\u1161\u11ab", "か"]


def test_punctuation_split():
  assert basic("a-b,c.d") == ["a", "-", "b", ",", "c", ".", "d"]
  # ASCII symbols count as punctuation; non-ASCII symbols (category S*) do not.
  assert basic("1$2^3`4") == ["1", "$", "2", "^", "3", "`", "4"]
  assert basic("a©b¥c+d") == ["a©b¥c", "+", "d"]
  # Unicode punctuation (category P*), e.g. full-width and CJK marks, is split off.
  assert basic("你好，world！“引号”") == ["你", "好", "，", "world", "！", "“", "引", "号", "”"]
  assert basic("......") == ["."] * 6


def test_control_chars_are_dropped():
  assert basic("a\x00b\ufffdc") == ["abc"]
  assert basic("a\x07b\x7fc\u200bd\ufeffe") == ["abcde"]  # Cc and Cf
  # Vertical tab and form feed are Cc, so they vanish instead of separating words.
  assert basic("a\x0bb\x0cc") == ["abc"]


def test_whitespace_chars_separate_words():
  assert basic("a\tb\nc\rd e\u3000f\u00a0g\u2002h") == list("abcdefgh")
  # U+2028 is not "whitespace" to BERT's cleaner, but str.split still splits on it.
  assert basic("a\u2028b") == ["a", "b"]
  assert basic(" \t\n ") == []
  assert basic("") == []


def test_char_predicates():
  assert tokenization.is_whitespace(" ") and tokenization.is_whitespace("\u3000")
  assert not tokenization.is_whitespace("a")
  assert tokenization.is_control("\x05") and tokenization.is_control("\u200b")
  assert not tokenization.is_control("\t") and not tokenization.is_control("a")
  assert tokenization.is_punctuation("$") and tokenization.is_punctuation("。")
  assert not tokenization.is_punctuation("a") and not tokenization.is_punctuation("©")


# --- WordpieceTokenizer rules -------------------------------------------------------------------

WORDPIECE_VOCAB = SPECIALS + ["want", "##want", "##ed", "wa", "un", "runn", "##ing", ",",
                              "a", "##a", "##b", "##bc", "##c"]


def wordpiece(text, vocab_tokens=WORDPIECE_VOCAB):
  vocab = {token: index for index, token in enumerate(vocab_tokens)}
  return tokenization.WordpieceTokenizer(vocab).tokenize(text)


def test_wordpiece_greedy_longest_match_first():
  assert wordpiece("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
  assert wordpiece("want") == ["want"]  # not "wa" + ...
  # Greedy, not optimal: "abc" takes "a", "##bc" (longest continuation first).
  assert wordpiece("abc") == ["a", "##bc"]
  assert wordpiece("") == []


def test_wordpiece_unsegmentable_word_is_one_unk():
  assert wordpiece("unwantedX running") == ["[UNK]", "runn", "##ing"]
  assert wordpiece("wantx") == ["[UNK]"]  # "want" matches, but nothing covers "x"
  assert wordpiece("wanting") == ["want", "##ing"]


def test_wordpiece_200_char_limit():
  assert wordpiece("a" * 200) == ["a"] + ["##a"] * 199
  assert wordpiece("a" * 201) == ["[UNK]"]
  limited = tokenization.WordpieceTokenizer({"a": 0, "##a": 1}, max_input_chars_per_word=3)
  assert limited.tokenize("aaa aaaa") == ["a", "##a", "##a", "[UNK]"]


# --- FullTokenizer ------------------------------------------------------------------------------


def test_full_tokenizer_interface(tmp_path):
  tokens = SPECIALS + ["un", "##want", "##ed", "runn", "##ing", ",", "中", "国"]
  tokenizer = make_tokenizer(tmp_path, tokens)
  assert isinstance(tokenizer.vocab, collections.OrderedDict)
  assert list(tokenizer.vocab) == tokens
  assert tokenizer.inv_vocab[5] == "un"
  assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
  assert isinstance(tokenizer.wordpiece_tokenizer, tokenization.WordpieceTokenizer)
  text = "UNwant\u00E9d,running 中国人"
  expected = ["un", "##want", "##ed", ",", "runn", "##ing", "中", "国", "[UNK]"]
  assert tokenizer.tokenize(text) == expected
  ids = tokenizer.convert_tokens_to_ids(expected)
  assert ids == [5, 6, 7, 10, 8, 9, 11, 12, 1]
  assert tokenizer.tokenize_to_ids(text) == ids
  assert tokenizer.convert_ids_to_tokens(ids) == expected
  assert tokenizer.tokenize(text.encode("utf-8")) == expected  # bytes are decoded as UTF-8
  with pytest.raises(ValueError):
    tokenizer.tokenize(12)


def test_no_lower_case_tokenizer(tmp_path):
  tokenizer = make_tokenizer(tmp_path, SPECIALS + ["Hé", "##llo", "hé"], do_lower_case=False)
  assert tokenizer.tokenize("Héllo héllo hello") == ["Hé", "##llo", "hé", "##llo", "[UNK]"]


def test_context_sensitive_text_takes_the_unit_path(tmp_path):
  tokenizer = make_tokenizer(tmp_path, SPECIALS + ["ασ", "ας", ".", "β", "a", "b", "中"])
  # Final sigma: "." between Σ and Β must not cut the word before lower-casing.
  assert tokenizer.tokenize("ΑΣ.Β ΑΣ") == ["ασ", ".", "β", "ας"]
  assert tokenizer.tokenize_to_ids("ΑΣ.Β") == [5, 7, 8]
  # U+2028 survives cleaning but still separates words.
  assert tokenizer.tokenize("a\u2028b中") == ["a", "b", "中"]


def test_load_vocab_strips_lines_and_counts_every_line(tmp_path):
  path = tmp_path / "v.txt"
  path.write_bytes("[PAD]\r\n  a \n\n中\n".encode("utf-8"))
  assert list(tokenization.load_vocab(str(path)).items()) == [
      ("[PAD]", 0), ("a", 1), ("", 2), ("中", 3)]


def test_missing_unk_raises_like_convert_tokens_to_ids(tmp_path):
  tokenizer = make_tokenizer(tmp_path, ["[PAD]", "a", "中"])
  assert tokenizer.tokenize("a b 中 国") == ["a", "[UNK]", "中", "[UNK]"]
  assert tokenizer.tokenize_to_ids("a 中") == [1, 2]
  with pytest.raises(KeyError):
    tokenizer.tokenize_to_ids("a b")


def test_bounded_cache_stays_correct(tmp_path):
  tokenizer = make_tokenizer(tmp_path, SPECIALS + ["a", "##b", "##c"], cache_size=4)
  words = ["a" + "bc"[i % 2] * (i % 5) for i in range(50)]
  for word in words + words:
    assert tokenizer.tokenize_to_ids(word) == tokenizer.convert_tokens_to_ids(
        reference.tokenize(word, tokenizer.vocab))
    assert len(tokenizer._id_cache) <= 4  # pylint: disable=protected-access


# --- Equivalence with the plain reference -------------------------------------------------------

CHINESE = "中国人民的一是了我不在有年月日经济发展\uf900\uf901\U00020000\U0002a6df\u3400"
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ACCENTED = "éÉàÀüÜñÑçÇøßΣσςΑΒİıﬁ\u0301\u0308\u0327Å\u212b"
PUNCTUATION = ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~，。！？、“”（）《》—…·"
               "\u037e\u0387\u2329\u1fef\u00b4")
EMOJI = "😀👍🏽\u200d\ufe0f❤"
CONTROL = "\x00\x01\x07\x0b\x0c\x1c\x7f\x85\u200b\ufeff\ufffd\U000e0001"
SPACES = " \t\n\r\u3000\u00a0\u2028\u2029\u2002"
FULL_WIDTH = "ＡＢＣａｂｃ１２３"
OTHER = "한국어ひらがな\ue000©¥"
GROUPS = [CHINESE, LATIN, ACCENTED, PUNCTUATION, EMOJI, CONTROL, SPACES, FULL_WIDTH, OTHER]
WEIGHTS = [6, 6, 2, 3, 1, 1, 3, 1, 1]


def random_vocab(rng, do_lower_case):
  """Specials, most single chars and ## chars of the alphabet, some multi-char pieces."""
  chars = set()
  for char in "".join(GROUPS) + LATIN.lower():
    chars.update(reference.basic_tokenize(char, do_lower_case))
  chars = sorted(chars)
  tokens = list(SPECIALS)
  tokens += [char for char in chars if rng.random() < 0.8]
  tokens += ["##" + char for char in chars if rng.random() < 0.8]
  for _ in range(150):
    piece = "".join(rng.choice(LATIN.lower()) for _ in range(rng.randint(2, 4)))
    tokens.append(piece if rng.random() < 0.5 else "##" + piece)
  tokens += ["ασ", "ας", "##ς", "##σ", "naive", "##ing"]
  return list(dict.fromkeys(tokens))


def random_text(rng):
  parts = []
  for _ in range(rng.randint(0, 12)):
    roll = rng.random()
    if roll < 0.03:  # long words around the 200-char WordPiece limit
      parts.append("".join(rng.choice("abc") for _ in range(rng.randint(195, 205))))
    else:
      group = rng.choices(GROUPS, WEIGHTS)[0]
      parts.append("".join(rng.choice(group) for _ in range(rng.randint(1, 6))))
  return "".join(parts)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_random_text_matches_reference(tmp_path, do_lower_case):
  rng = random.Random(1234 + do_lower_case)
  tokenizer = make_tokenizer(tmp_path, random_vocab(rng, do_lower_case), do_lower_case)
  vocab = tokenizer.vocab
  for _ in range(2500):
    text = random_text(rng)
    expected = reference.tokenize(text, vocab, do_lower_case)
    assert tokenizer.tokenize(text) == expected, repr(text)
    assert tokenizer.tokenize_to_ids(text) == [vocab[token] for token in expected], repr(text)
    assert tokenizer.basic_tokenizer.tokenize(text) == reference.basic_tokenize(
        text, do_lower_case), repr(text)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_every_code_point_matches_reference(tmp_path, do_lower_case):
  # Every code point of planes 0-3 and 14 (4-13 are unassigned, 15-16 private use), cut into
  # 64-char lines so that words stay short enough for WordPiece to work on: checks the
  # cleaning, CJK, punctuation and mark tables against the per-char predicates.
  everything = "".join(map(chr, itertools.chain(range(0x40000), range(0xE0000, 0xF0000))))
  lines = [everything[i:i + 64] for i in range(0, len(everything), 64)]
  tokenizer = make_tokenizer(tmp_path, SPECIALS + list(CHINESE) + list(PUNCTUATION),
                             do_lower_case)
  vocab = tokenizer.vocab
  text = "\n".join(lines)
  assert tokenizer.basic_tokenizer.tokenize(text) == reference.basic_tokenize(
      text, do_lower_case)
  # Line by line, so that only the line holding a capital sigma leaves the fast path.
  for line in lines:
    assert tokenizer.tokenize_to_ids(line) == reference.tokenize_to_ids(
        line, vocab, do_lower_case), repr(line)


def test_planes_the_tables_skip_hold_nothing_they_would_record():
  # The tables skip planes 4-13 and 15-16 for this Python's Unicode version; every code point
  # there must be unassigned or private use, which no table records.
  import unicodedata  # pylint: disable=import-outside-toplevel
  visited = set(char_classes.code_points_to_visit())
  skipped = [cp for cp in range(0x110000) if cp not in visited]
  assert len(visited) + len(skipped) == 0x110000
  for cp in skipped:
    char = chr(cp)
    assert unicodedata.category(char) in ("Cn", "Co"), hex(cp)
    assert not char.isspace() and char.lower() == char and not unicodedata.combining(char)


@pytest.mark.parametrize("text,expected", [
    ("私用区\ue000\ue5e5\uf8ff字符", ["私", "用", "区", "字", "符"]),  # private use (Co)
    ("a\u0378b", ["ab"]),  # unassigned in plane 0 (Cn)
    ("x\U000F0000\U0010FFFDy", ["xy"]),  # planes 15-16: private use
    ("x\U00050000y", ["xy"]),  # planes 4-13: unassigned
    ("a\udcffb", ["ab"]),  # a lone surrogate, as surrogateescape decoding leaves them (Cs)
])
def test_every_c_category_is_dropped_as_the_original(text, expected):
  # ELECTRA's and Chinese-ELECTRA's _is_control drops every category starting with "C"
  # (BERT's only Cc and Cf, which turned private-use characters into [UNK]).
  assert tokenization.BasicTokenizer().tokenize(text) == expected
  assert reference.basic_tokenize(text, True) == expected
  assert tokenization.is_control("\ue000") and tokenization.is_control("\u0378")


# --- vocabulary checks --------------------------------------------------------------------------

def test_check_vocab_accepts_a_usable_vocabulary(tmp_path):
  path = write_vocab(tmp_path, SPECIALS + ["中", "##a"])
  vocab = tokenization.check_vocab(path, "export")
  assert vocab == tokenization.load_vocab(path) and vocab["##a"] == 6


def test_check_vocab_refuses_an_empty_file(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes(b"")
  with pytest.raises(tokenization.VocabularyError, match=r"vocab.txt: the vocabulary is empty"):
    tokenization.check_vocab(str(path), "fine-tuning")


@pytest.mark.parametrize("purpose, lacking, named", [
    ("fine-tuning", "[CLS]", "[CLS]"),
    ("pre-training data", "[UNK]", "[UNK]"),
    ("pre-training", "[MASK]", "[MASK]"),
    ("export", "[PAD]", "[PAD]"),
])
def test_check_vocab_names_the_missing_special_tokens(tmp_path, purpose, lacking, named):
  path = write_vocab(tmp_path, [t for t in SPECIALS if t != lacking] + ["中"])
  pattern = rf"lacks \{named[:-1]}\], which {purpose}"
  with pytest.raises(tokenization.VocabularyError, match=pattern):
    tokenization.check_vocab(path, purpose)


def test_fine_tuning_does_not_need_mask_or_pad(tmp_path):
  path = write_vocab(tmp_path, ["[UNK]", "[CLS]", "[SEP]", "中"])
  assert len(tokenization.check_vocab(path, "fine-tuning")) == 4


def test_check_vocab_names_the_line_of_a_repeated_token(tmp_path):
  path = write_vocab(tmp_path, SPECIALS + ["中", "文", "中"])
  with pytest.raises(tokenization.VocabularyError,
                     match=r"line 8: the token '中' is already on line 6"):
    tokenization.check_vocab(path, "fine-tuning")


def test_check_vocab_refuses_a_missing_file(tmp_path):
  with pytest.raises(tokenization.VocabularyError, match="absent.txt: cannot read"):
    tokenization.check_vocab(str(tmp_path / "absent.txt"), "fine-tuning")
