"""Predicts with a fine-tuned model directory written by run_finetuning.py.

    python predict.py --model-dir DATA/models/NAME/finetuning_models/chnsenticorp_model_1 \\
        --input reviews.txt
    echo '{"question": "首都是哪里？", "context": "北京是中国的首都。"}' | \\
        python predict.py --model-dir .../cmrc2018_model_1 --top-k 3

Input (--input FILE, or - for stdin, the default):
  classification: one text per line; for sentence-pair tasks (lcqmc, bqcorpus, xnli) the two
    texts separated by a tab. A line may also be a JSON object {"text_a"/"text", "text_b", "id"}.
  QA (cmrc2018, drcd): JSON lines {"question": ..., "context": ..., "id": ...} ("id" optional),
    or a SQuAD-format JSON file ({"data": [{"paragraphs": [{"context", "qas": [...]}]}]}).
  Blank lines are skipped; ids default to the line number (QA in SQuAD files: the question id).

Output (stdout, or --output FILE, which may be a gs:// path), one record per input in input
order:
  --format tsv (default for classification): a header, then id, label, probability and the
    probability of every label; for QA: id, rank, answer, score, probability, char_start,
    char_end, one row per n-best answer (--top-k rows per input, 1 by default).
  --format json (default for QA): one JSON object per line; classification: {"id", "label",
    "probability", "probabilities": {label: p}}; QA: {"id", "answer", "score", "probability",
    "char_start", "char_end", "nbest": [--top-k entries, 5 by default, each with text, score,
    probability, char_start, char_end]}. char offsets index the context: text ==
    context[char_start:char_end]. QA probabilities are a softmax over the n_best_size best
    distinct answers (as the n-best files of run_finetuning.py).
Mistakes the user can fix (missing model directory, checkpoint or config, malformed input line)
end with a one-line error on stderr and exit status 1.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TensorFlow's start-up chatter quiet.

from util import fileio  # pylint: disable=wrong-import-position (after the log level is set)

PROGRAM = "predict.py"
FORMATS = ("tsv", "json")
# Inputs featurised and predicted at a time: bounds memory and lets output stream.
CHUNK_SIZE = 512


class InputError(ValueError):
  """A malformed input; the message names the line."""


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      prog=PROGRAM,
      description="Predict labels (classification) or answer spans (QA) with a fine-tuned "
      "ELECTRA model directory written by run_finetuning.py.",
      epilog="Classification input: one text per line (tab-separated pairs for lcqmc, bqcorpus, "
      "xnli). QA input: JSON lines {\"question\", \"context\", \"id\"?} or a SQuAD-format "
      ".json file.")
  parser.add_argument("--model-dir", required=True,
                      help="A fine-tuned model directory (finetuning_config.json, vocab.txt, "
                      "model.ckpt-N), e.g. DATA/models/NAME/finetuning_models/TASK_model_1.")
  parser.add_argument("--input", default="-",
                      help="Input file, or - for stdin (default).")
  parser.add_argument("--output", default="-",
                      help="Output file (local or gs://...), or - for stdout (default).")
  parser.add_argument("--task", help="Task to predict, for models fine-tuned on several tasks.")
  parser.add_argument("--batch-size", type=int,
                      help="Batch size (default: the model's predict_batch_size).")
  parser.add_argument("--top-k", type=int,
                      help="QA: answers per question (default 1 with tsv, 5 with json).")
  parser.add_argument("--format", choices=FORMATS,
                      help="Output format (default: tsv for classification, json for QA).")
  args = parser.parse_args(argv)
  if args.batch_size is not None and args.batch_size < 1:
    parser.error("--batch-size must be positive")
  if args.top_k is not None and args.top_k < 1:
    parser.error("--top-k must be positive")
  return args


def fail(message):
  """Exits with one line on stderr (no traceback): for mistakes the user can fix."""
  sys.exit(f"{PROGRAM}: error: {message}")


# ----------------------------------------------------------------------------------------------
# Input.

def read_text(path):
  if path == "-":
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:  # e.g. a StringIO put in place by a caller
      return sys.stdin.read().lstrip("\ufeff")
    try:
      return stdin.read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
      raise InputError(f"stdin is not UTF-8 text ({e.reason} at byte {e.start})") from None
  if not fileio.isfile(path):
    raise InputError(f"input file not found: {path}")
  try:
    return fileio.read_bytes(path).decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise InputError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def _json_object(line, line_number):
  try:
    value = json.loads(line)
  except json.JSONDecodeError as e:
    raise InputError(f"line {line_number}: not valid JSON ({e.msg}, column {e.colno})") from None
  if not isinstance(value, dict):
    raise InputError(f"line {line_number}: expected a JSON object, got {type(value).__name__}")
  return value


def _text_field(value, key, line_number, required=True):
  text = value.get(key)
  if text is None and not required:
    return None
  if not isinstance(text, str) or not text.strip():
    raise InputError(f"line {line_number}: \"{key}\" must be a non-empty string")
  return text


def classification_inputs(text, pair, task_name):
  """[(id, text_a, text_b or None)] of the non-blank lines of `text`."""
  inputs = []
  for line_number, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    if line.lstrip().startswith("{"):
      value = _json_object(line, line_number)
      key = "text_a" if "text_a" in value else "text"
      text_a = _text_field(value, key, line_number)
      text_b = _text_field(value, "text_b", line_number, required=pair)
      if text_b is not None and not pair:
        raise InputError(f"line {line_number}: {task_name} classifies single texts, but the "
                         f"line has a \"text_b\"")
      inputs.append((value.get("id", line_number), text_a, text_b))
    elif pair:
      fields = line.split("\t")
      if len(fields) != 2 or not all(field.strip() for field in fields):
        raise InputError(f"line {line_number}: {task_name} needs two non-empty texts separated "
                         f"by one tab, got {len(fields)} field(s)")
      inputs.append((line_number, fields[0], fields[1]))
    else:
      inputs.append((line_number, line, None))
  return inputs


def qa_inputs(text):
  """[(id, question, context)] of JSON lines or of a SQuAD-format JSON document."""
  if text.lstrip().startswith("{"):
    try:
      document = json.loads(text)
    except json.JSONDecodeError:
      document = None  # Not one JSON document: JSON lines.
    if isinstance(document, dict) and "data" in document:
      return squad_inputs(document)
  inputs = []
  for line_number, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    value = _json_object(line, line_number)
    question = _text_field(value, "question", line_number)
    if not isinstance(value.get("context"), str):
      raise InputError(f"line {line_number}: \"context\" must be a string")
    inputs.append((value.get("id", line_number), question, value["context"]))
  return inputs


def squad_inputs(document):
  inputs = []
  try:
    for article in document["data"]:
      for paragraph in article["paragraphs"]:
        context = paragraph["context"]
        for qa in paragraph["qas"]:
          inputs.append((qa.get("id", len(inputs) + 1), qa["question"], context))
  except (KeyError, TypeError) as e:
    raise InputError(f"not a SQuAD-format file: after {len(inputs)} questions, an entry lacks "
                     f"{e}") from None
  return inputs


# ----------------------------------------------------------------------------------------------
# Output.

def _tsv_cell(value):
  return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _json_line(value):
  return json.dumps(value, ensure_ascii=False)


def classification_lines(ids, results, label_list, output_format):
  for item_id, result in zip(ids, results):
    if output_format == "json":
      yield _json_line({"id": item_id, "label": result["label"],
                        "probability": result["probability"],
                        "probabilities": result["probabilities"]})
    else:
      cells = [item_id, result["label"], f"{result['probability']:.6f}"]
      cells += [f"{result['probabilities'][label]:.6f}" for label in label_list]
      yield "\t".join(_tsv_cell(cell) for cell in cells)


def classification_header(label_list):
  return "\t".join(["id", "label", "probability"] + [_tsv_cell(label) for label in label_list])


QA_TSV_HEADER = "id\trank\tanswer\tscore\tprobability\tchar_start\tchar_end"


def qa_lines(ids, nbests, top_k, output_format):
  for item_id, nbest in zip(ids, nbests):
    nbest = nbest[:top_k]
    if output_format == "json":
      best = nbest[0] if nbest else {}
      yield _json_line({"id": item_id, "answer": best.get("text", ""),
                        "score": best.get("score"), "probability": best.get("probability"),
                        "char_start": best.get("char_start"), "char_end": best.get("char_end"),
                        "nbest": [{key: entry[key] for key in (
                            "text", "score", "probability", "char_start", "char_end")}
                                  for entry in nbest]})
    elif not nbest:
      yield "\t".join([_tsv_cell(item_id), "1", "", "", "", "", ""])
    else:
      for rank, entry in enumerate(nbest, start=1):
        yield "\t".join(_tsv_cell(cell) for cell in (
            item_id, rank, entry["text"], f"{entry['score']:.6f}",
            f"{entry['probability']:.6f}", entry["char_start"], entry["char_end"]))


# ----------------------------------------------------------------------------------------------
# Main.

def load_predictor(args):
  from finetune import inference  # pylint: disable=import-outside-toplevel (TF import is slow)
  try:
    return inference.Predictor.from_model_dir(args.model_dir, args.task, args.batch_size)
  except inference.ModelDirError as e:
    fail(str(e))
  return None


def predict(predictor, args, out):
  """Writes the predictions of every input to `out`; returns the number of inputs."""
  from finetune import inference  # pylint: disable=import-outside-toplevel
  task = predictor.task
  output_format = args.format or ("json" if predictor.is_qa else "tsv")
  text = read_text(args.input)
  if predictor.is_qa:
    inputs = qa_inputs(text)
    top_k = args.top_k or (1 if output_format == "tsv" else 5)
    if output_format == "tsv":
      print(QA_TSV_HEADER, file=out)
  else:
    inputs = classification_inputs(text, inference.is_pair_task(task), task.name)
    if output_format == "tsv":
      print(classification_header(task.label_list), file=out)
  for start in range(0, len(inputs), CHUNK_SIZE):
    chunk = inputs[start:start + CHUNK_SIZE]
    ids = [item[0] for item in chunk]
    if predictor.is_qa:
      nbests = predictor.answer([inference.QAInput(question, context, item_id)
                                 for item_id, question, context in chunk])
      lines = qa_lines(ids, nbests, top_k, output_format)
    else:
      results = predictor.classify([(text_a, text_b) for _, text_a, text_b in chunk])
      lines = classification_lines(ids, results, task.label_list, output_format)
    for line in lines:
      print(line, file=out)
    out.flush()
  return len(inputs)


def main(argv=None, out=None):
  args = parse_args(argv)
  if out is None:
    out = sys.stdout
    if hasattr(out, "reconfigure"):
      out.reconfigure(encoding="utf-8")  # Chinese text, whatever the locale says
  # Cheap checks first, before TensorFlow is imported.
  if not fileio.isdir(args.model_dir):
    fail(f"model directory not found: {args.model_dir}")
  if args.input != "-" and not fileio.isfile(args.input):
    fail(f"input file not found: {args.input}")
  predictor = load_predictor(args)
  try:
    if args.output == "-":
      return predict(predictor, args, out)
    with fileio.open_file(args.output, "w") as f:  # written only once the model has loaded
      return predict(predictor, args, f)
  except InputError as e:
    fail(f"{args.input if args.input != '-' else 'stdin'}: {e}")
  return 0


if __name__ == "__main__":
  main()
