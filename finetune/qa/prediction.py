"""QA on raw (question, context) inputs: predict.py's input format, answers and output lines.

Raw pairs become `QAExample`s through `reading.make_example` (the same context cutting as for
the data files), are featurised into sliding windows by the task and turned back into answer
spans by `postprocess.predict_answers`, exactly as dev-set evaluation does.

Input: JSON lines {"question", "context", "id"?} or one SQuAD-format JSON document. Output:
"json" -- one object per input {"id", "answer", "score", "probability", "char_start",
"char_end", "nbest": [...]}; "tsv" -- id, rank, answer, score, probability, char_start,
char_end, one row per n-best answer. char offsets index the context.
"""

import dataclasses
import json

from finetune import raw_inputs
from finetune.qa import postprocess
from finetune.qa import reading

# The split name under which prediction inputs are featurised (the task keeps per-split records
# of its windows; they are dropped before every new set of inputs).
PREDICT_SPLIT = "predict"
TSV_HEADER = "id\trank\tanswer\tscore\tprobability\tchar_start\tchar_end"
NBEST_FIELDS = ("text", "score", "probability", "char_start", "char_end")


@dataclasses.dataclass
class QAInput:
  """One question about one context; `id` is only carried along."""
  question: str
  context: str
  id: object = None


def read_inputs(text):
  """[(id, QAInput)] of JSON lines or of a SQuAD-format JSON document."""
  if text.lstrip().startswith("{"):
    try:
      document = json.loads(text)
    except json.JSONDecodeError:
      document = None  # Not one JSON document: JSON lines.
    if isinstance(document, dict) and "data" in document:
      return squad_inputs(document)
  inputs = []
  for line_number, line in raw_inputs.numbered_lines(text):
    value = raw_inputs.json_object(line, line_number)
    question = raw_inputs.text_field(value, "question", line_number)
    if not isinstance(value.get("context"), str):
      raise raw_inputs.InputError(f"line {line_number}: \"context\" must be a string")
    item_id = value.get("id", line_number)
    inputs.append((item_id, QAInput(question, value["context"], item_id)))
  return inputs


def squad_inputs(document):
  inputs = []
  try:
    for article in document["data"]:
      for paragraph in article["paragraphs"]:
        for qa in paragraph["qas"]:
          item_id = qa.get("id", len(inputs) + 1)
          inputs.append((item_id, QAInput(qa["question"], paragraph["context"], item_id)))
  except (KeyError, TypeError) as e:
    raise raw_inputs.InputError(f"not a SQuAD-format file: after {len(inputs)} questions, an "
                                f"entry lacks {e}") from None
  return inputs


def qa_examples(task, inputs, split=PREDICT_SPLIT):
  """QAExamples (eids 0..n-1, qas_id = str(position)) of `inputs`, after dropping what the task
  held for `split`. Questions about the same context share its doc tokens."""
  task.forget_split(split)
  docs = {}
  examples = []
  for index, item in enumerate(inputs):
    doc = docs.get(item.context)
    if doc is None:
      doc = docs[item.context] = reading.split_context(item.context)
    examples.append(reading.make_example(task.name, index, split, str(index), item.question, doc))
  return examples


def answer(task, predictor, inputs):
  """The n-best answers (config.n_best_size) of each QAInput (or dict with "question" and
  "context"), best first: [{"text", "score", "probability", "char_start", "char_end"}], the
  char offsets into that input's context. An empty list when no span is allowed."""
  inputs = [item if isinstance(item, QAInput) else QAInput(item["question"], item["context"])
            for item in inputs]
  if not inputs:
    return []
  config = task.config
  examples = qa_examples(task, inputs)
  features = [feature for example in examples
              for feature in task.featurize(example, is_training=False)]
  keys = postprocess.JOINT_KEYS if config.joint_prediction else postprocess.PLAIN_KEYS
  outputs = predictor.run(features, ("eid",) + keys)
  eids = outputs.pop("eid")
  _, nbest = postprocess.predict_answers(examples, task.window_arrays(PREDICT_SPLIT), eids,
                                         outputs, config.n_best_size, config.max_answer_length)
  task.forget_split(PREDICT_SPLIT)
  return [nbest[example.qas_id] for example in examples]


def output_lines(ids, nbests, output_format, top_k=None):
  """predict.py's lines: --top-k answers per input (default 1 with tsv, 5 with json)."""
  top_k = top_k or (1 if output_format == "tsv" else 5)
  for item_id, nbest in zip(ids, nbests):
    nbest = nbest[:top_k]
    if output_format == "json":
      best = nbest[0] if nbest else {}
      yield raw_inputs.json_line({
          "id": item_id, "answer": best.get("text", ""), "score": best.get("score"),
          "probability": best.get("probability"), "char_start": best.get("char_start"),
          "char_end": best.get("char_end"),
          "nbest": [{key: entry[key] for key in NBEST_FIELDS} for entry in nbest]})
    elif not nbest:
      yield raw_inputs.tsv_line([item_id, 1, "", "", "", "", ""])
    else:
      for rank, entry in enumerate(nbest, start=1):
        yield raw_inputs.tsv_line([item_id, rank, entry["text"], f"{entry['score']:.6f}",
                                   f"{entry['probability']:.6f}", entry["char_start"],
                                   entry["char_end"]])
