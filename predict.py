"""Predicts with a fine-tuned model directory written by run_finetuning.py.

    python predict.py --model-dir DATA/models/NAME/finetuning_models/chnsenticorp_model_1 \\
        --input reviews.txt
    echo '国家主席江泽民在北京会见了美国总统克林顿。' | \\
        python predict.py --model-dir .../peoples_daily_ner_model_1
    echo '{"question": "首都是哪里？", "context": "北京是中国的首都。"}' | \\
        python predict.py --model-dir .../cmrc2018_model_1 --top-k 3

Input (--input FILE, or - for stdin, the default):
  classification: one text per line; for sentence-pair tasks (lcqmc, bqcorpus, xnli) the two
    texts separated by a tab. A line may also be a JSON object {"text_a"/"text", "text_b", "id"}.
  tagging (peoples_daily_ner): one text per line, or a JSON object {"text", "id"} a line; a
    text longer than the model is cut into pieces that fit, and tagged whole.
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
  tagging: json (default): {"id", "entities": [{"text", "type", "char_start", "char_end"}]}
    (offsets index the input line); tsv: id, type, char_start, char_end, text, a row per entity.
Mistakes the user can fix (missing model directory, checkpoint or config, malformed input line,
an input without any text) end with a one-line error on stderr and exit status 1. Inputs longer
than the model takes (classification texts beyond max_seq_length, QA questions beyond
max_query_length) are cut, as in fine-tuning; one warning line on stderr counts them.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TensorFlow's start-up chatter quiet.

# pylint: disable=wrong-import-position (after the log level is set)
from finetune import raw_inputs
from util import fileio
# pylint: enable=wrong-import-position

PROGRAM = "predict.py"
FORMATS = ("tsv", "json")
# Inputs featurised and predicted at a time: bounds memory and lets output stream.
CHUNK_SIZE = 512


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      prog=PROGRAM,
      description="Predict labels (classification), entities (tagging, e.g. "
      "peoples_daily_ner) or answer spans (QA) with a fine-tuned ELECTRA model directory "
      "written by run_finetuning.py.",
      epilog="Classification input: one text per line (tab-separated pairs for lcqmc, bqcorpus, "
      "xnli). Tagging input: one text per line; output: the entities of each line with their "
      "type and character offsets. QA input: JSON lines {\"question\", \"context\", "
      "\"id\"?} or a SQuAD-format .json file. Texts longer than the model takes are cut, and "
      "a warning line counts them.")
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
                      help="Output format (default: tsv for classification, json for QA and "
                      "tagging).")
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
      raise raw_inputs.InputError(
          f"stdin is not UTF-8 text ({e.reason} at byte {e.start})") from None
  if not fileio.isfile(path):
    raise raw_inputs.InputError(f"input file not found: {path}")
  try:
    return fileio.read_bytes(path).decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise raw_inputs.InputError(
        f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_input(path):
  """The text of `path` (or stdin); a one-line error when it cannot be read or has no text."""
  try:
    text = read_text(path)
  except raw_inputs.InputError as e:
    fail(str(e))
  if not text.strip():
    fail(f"{path if path != '-' else 'stdin'}: no input to predict on (it is empty or only "
         "blank lines)")
  return text


# ----------------------------------------------------------------------------------------------
# Main.

def load_predictor(args):
  from finetune import inference  # pylint: disable=import-outside-toplevel (TF import is slow)
  try:
    return inference.Predictor.from_model_dir(args.model_dir, args.task, args.batch_size)
  except inference.ModelDirError as e:
    fail(str(e))
  return None


def predict(predictor, args, text, out):
  """Writes the predictions of every input in `text` to `out`; returns the number of inputs."""
  task = predictor.task
  output_format = args.format or task.default_output_format
  inputs = task.read_raw_inputs(text)
  if not inputs:
    raise raw_inputs.InputError("no input to predict on (only blank lines)")
  task.truncated = task.truncated_tokens = 0
  header = task.output_header(output_format)
  if header is not None:
    print(header, file=out)
  for start in range(0, len(inputs), CHUNK_SIZE):
    chunk = inputs[start:start + CHUNK_SIZE]
    results = predictor.predict_raw([raw for _, raw in chunk])
    for line in task.output_lines([item_id for item_id, _ in chunk], results, output_format,
                                  args.top_k):
      print(line, file=out)
    out.flush()
  report_truncation(task, len(inputs))
  return len(inputs)


def report_truncation(task, n_inputs):
  """One warning line on stderr when inputs were cut to fit the model: the user's text was
  not read whole, and the prediction is about its first part only."""
  if not task.truncated:
    return
  what, limit = task.truncation_description()
  print(f"{PROGRAM}: warning: {task.truncated} of {n_inputs} inputs were cut to fit the model "
        f"({what} cut to {limit}; {task.truncated_tokens} tokens dropped in all); the "
        "predictions are about the part that was kept", file=sys.stderr)


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
  # A file is read now, so that an empty one is refused before the slow model load; stdin
  # once the model has loaded (a model directory error must not wait for the user's typing).
  text = None if args.input == "-" else read_input(args.input)
  predictor = load_predictor(args)
  text = read_input(args.input) if text is None else text
  source = args.input if args.input != "-" else "stdin"
  try:
    if args.output == "-":
      return predict(predictor, args, text, out)
    with fileio.open_file(args.output, "w") as f:  # written only once the model has loaded
      return predict(predictor, args, text, f)
  except raw_inputs.InputError as e:
    fail(f"{source}: {e}")
  return 0


if __name__ == "__main__":
  main()
