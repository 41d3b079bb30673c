"""Synthetic XNLI for the sample data: hand-written premise / hypothesis templates, one
hypothesis per label for every premise. Used by tools/make_sample_data.py.
"""


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
  for split in premise_counts:
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
