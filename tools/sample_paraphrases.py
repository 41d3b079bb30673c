"""Synthetic LCQMC for the sample data: rule-based rewrites of People's Daily sentences.

A positive pair is a sentence and its rewrite (synonyms, digits, dropped particles, punctuation,
swapped coordination), a negative pair a sentence and the rewrite of another sentence of the
same article. Used by tools/make_sample_data.py.
"""

import re
import unicodedata


# Word pairs that can replace each other (either way) in news prose without changing the meaning
# much.
SYNONYMS = [
    ("目前", "当前"), ("目前", "眼下"), ("非常", "十分"), ("因为", "由于"), ("现在", "如今"),
    ("许多", "不少"), ("很多", "许多"), ("立即", "马上"), ("然后", "随后"), ("提高", "提升"),
    ("仍然", "依然"), ("必须", "务必"), ("一定要", "务必"), ("如果", "假如"), ("并且", "而且"),
    ("据悉", "据了解"), ("迅速", "快速"), ("各种", "各类"), ("举行", "举办"), ("参加", "参与"),
    ("另外", "此外"), ("日前", "前不久"), ("表示", "指出"), ("认为", "觉得"), ("帮助", "协助"),
    ("得到", "获得"), ("取得", "获得"), ("希望", "期望"), ("特别是", "尤其是"), ("虽然", "尽管"),
    ("例如", "比如"), ("应该", "应当"), ("能够", "可以"), ("认真", "仔细"), ("加强", "强化"),
    ("采取", "采用"), ("不断", "持续"), ("继续", "持续"), ("增加", "增多"),
    ("开展", "进行"), ("强调", "着重指出"), ("大力", "全力"), ("进一步", "更进一步"),
    ("今天", "今日"),
]
# Replacements that only work one way: going back would hit other words (已 in 已婚, 为 in 成为,
# 所有 in 所有制, 所以 in 之所以, 以后 in 回国以后).
ONE_WAY = [("以及", "和"), ("非常", "很"), ("十分", "很"), ("是否", "是不是"), ("没有", "没"),
           ("正在", "在"), ("但是", "但"), ("然而", "但是"), ("所有的", "全部"),
           ("已经", "已"), ("全部", "所有"), ("因此", "所以"), ("今后", "以后"), ("为了", "为")]
_SUBSTITUTIONS = SYNONYMS + [(b, a) for a, b in SYNONYMS] + ONE_WAY


def _rule_synonym(sentence, rng):
  # Skip a replacement whose target already overlaps the source ("进一步" in "更进一步").
  options = [(old, new) for old, new in _SUBSTITUTIONS
             if old in sentence and not (new in sentence and old in new)]
  if not options:
    return None
  old, new = options[rng.randrange(len(options))]
  return sentence.replace(old, new, 1)


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９％．", "0123456789%.")
# "了" that is part of a word and must stay: 了解, 为了, 除了, 不了, 了不起, 受不了 ...
_LE_KEEP_AFTER = set("解结却不")
_LE_KEEP_BEFORE = set("为除不得")


def _rule_digits(sentence, rng):
  converted = sentence.translate(_FULLWIDTH_DIGITS)
  return converted if converted != sentence else None


def _rule_drop_le(sentence, rng):
  spots = [i for i, ch in enumerate(sentence) if ch == "了"
           and (i + 1 == len(sentence) or sentence[i + 1] not in _LE_KEEP_AFTER)
           and (i == 0 or sentence[i - 1] not in _LE_KEEP_BEFORE)]
  if not spots:
    return None
  i = spots[rng.randrange(len(spots))]
  return sentence[:i] + sentence[i + 1:]


# "的" that belongs to a word: 的确, 目的, 有的, 真的, 似的, 的话, 别的, 是的, 的士, 之类的 ...
_DE_KEEP_AFTER = set("确话士")
_DE_KEEP_BEFORE = set("目有真似别是类")


def _rule_drop_de(sentence, rng):
  """Drops one attributive "的" between two CJK characters (重要的意义 -> 重要意义)."""
  spots = [i for i in range(1, len(sentence) - 1) if sentence[i] == "的"
           and _is_cjk(sentence[i - 1]) and _is_cjk(sentence[i + 1])
           and sentence[i - 1] not in _DE_KEEP_BEFORE and sentence[i + 1] not in _DE_KEEP_AFTER
           and sentence[i + 1] != "的"]
  if not spots:
    return None
  i = spots[rng.randrange(len(spots))]
  return sentence[:i] + sentence[i + 1:]


def _is_cjk(ch):
  return "\u4e00" <= ch <= "\u9fff"


def _rule_punctuation(sentence, rng):
  if sentence.endswith(("。", "！", "？")):
    return sentence[:-1]
  if "，" in sentence:
    return sentence.replace("，", " ", 1)
  return None


# Two-character words joined by 和 swap places ("工业和农业" -> "农业和工业"). Without a word
# segmenter the pair must be fenced off: punctuation (or the sentence edge) before it, and
# punctuation, the edge or 等 after it. Looser fences let in non-pairs ("崇高的敬意和衷心的感谢",
# "在押犯和战俘"), and 及 / 与 are often part of a word or a verb ("波及", "加强与").
_COORD = re.compile("(?:^|(?<=[、，；：]))([\u4e00-\u9fff]{2})(和)([\u4e00-\u9fff]{2})"
                    "(?=[、，。；：！？等]|$)")


# An adverb or conjunction opening the clause is no word of the pair ("却风和日丽").
_COORD_NOT_FIRST = set("却也都就还又更很并而但才")


def _rule_swap_coordination(sentence, rng):
  """Swaps the two words of one 'A和B' pair."""
  spots = [m for m in _COORD.finditer(sentence)
           if m.group(1) != m.group(3) and m.group(1)[0] not in _COORD_NOT_FIRST]
  if not spots:
    return None
  m = spots[rng.randrange(len(spots))]
  a, joiner, b = (sentence[m.start(i):m.end(i)] for i in (1, 2, 3))
  return sentence[:m.start()] + b + joiner + a + sentence[m.end():]


# Rules that change words or their order (tried after the synonym table); a punctuation change
# may come on top.
CONTENT_RULES = (_rule_digits, _rule_drop_le, _rule_drop_de, _rule_swap_coordination)


def rewrite(sentence, rng):
  """A light rewrite: a synonym swap if the table has one, else another content rule, then with
  even chance a punctuation change. None if no content rule applies."""
  text = _rule_synonym(sentence, rng)
  if text is None:
    for rule in rng.sample(CONTENT_RULES, len(CONTENT_RULES)):
      text = rule(sentence, rng)
      if text is not None:
        break
  if text is None:
    return None
  if rng.random() < 0.5:
    text = _rule_punctuation(text, rng) or text
  return text


def usable_sentence(line):
  return (10 <= len(line) <= 40 and line.endswith("。")
          and not any(ch in line for ch in "（）()《》“”‘’：\"'")
          and not any(unicodedata.category(ch).startswith("C") for ch in line))


def make_lcqmc(documents, sizes, rng):
  """{split: rows} with rows [text_a, text_b, label]; each split half paraphrases (1), half not.

  Positive: a sentence and its rewrite. Negative: a sentence and the rewrite of another sentence
  of the same article (same topic, and text_b is a rewrite in both classes, so only the meaning
  tells them apart). The articles are divided among the splits, so no sentence is in two splits.
  """
  pools = []
  for doc in documents:
    sentences = list(dict.fromkeys(s for s in doc if usable_sentence(s)))
    if len(sentences) >= 3:
      pools.append(sentences)
  rng.shuffle(pools)
  out, used_texts, doc_index = {}, set(), 0
  for split in sizes:
    positives, negatives = [], []
    half = sizes[split] // 2
    while len(positives) < half or len(negatives) < half:
      if doc_index == len(pools):
        raise ValueError("not enough People's Daily sentences for the synthetic LCQMC set")
      sentences = [s for s in pools[doc_index] if s not in used_texts]
      doc_index += 1
      rng.shuffle(sentences)
      while len(sentences) >= 1:
        if len(positives) < half and (len(negatives) >= half or rng.random() < 0.5):
          a = sentences.pop()
          b = rewrite(a, rng)
          if b is None:
            continue
          positives.append([a, b, "1"])
          used_texts.add(a)
        elif len(negatives) < half and len(sentences) >= 2:
          a, other = sentences.pop(), sentences.pop()
          b = rewrite(other, rng)
          if b is None:
            continue
          negatives.append([a, b, "0"])
          used_texts.update((a, other))
        else:
          break
    rows = positives + negatives
    rng.shuffle(rows)
    out[split] = rows
  return out
