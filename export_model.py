"""Exports a fine-tuned model directory as a TensorFlow SavedModel.

Fine-tuned model -> SavedModel (tf.saved_model.save of a tf.Module):

    python export_model.py --model-dir DATA/models/NAME/finetuning_models/chnsenticorp_model_1 \\
        --output /tmp/chnsenticorp_export

  Signature `serving_default`: inputs `input_ids`, `input_mask`, `segment_ids`, int32
  [batch, length] (length <= 512; features as the task makes them, e.g. [CLS] a [SEP] (b [SEP])
  for classification, [CLS] question [SEP] context-window [SEP] for QA, with vocab.txt below).
  Outputs: the task head's `serving_outputs` (finetune/), e.g. classification `probabilities`
  and `logits` [batch, n_labels] (label order in labels.txt); QA `start_logits` / `end_logits`
  [batch, length] and, with the joint head, the beams as run_finetuning.py post-processes them;
  tagging per-token `logits`, `probabilities` and `predictions`. Assets: `assets/vocab.txt`,
  `assets/export_info.json` (task, max_seq_length, lower-casing and what the task records with
  `serving_info()`: its kind, labels, input format, settings) and, for tasks with labels,
  `assets/labels.txt` (one label per line); the loaded object also has the attributes
  `max_seq_length`, `labels` and `task_name` (variables). For example:

    saved_model_cli show --dir /tmp/chnsenticorp_export --all
    saved_model_cli run --dir /tmp/chnsenticorp_export --tag_set serve \\
        --signature_def serving_default \\
        --input_exprs 'input_ids=[[2,100,200,3]];input_mask=[[1,1,1,1]];segment_ids=[[0,0,0,0]]'

  or in Python: `tf.saved_model.load(DIR).signatures["serving_default"](input_ids=..., ...)`.

Hugging Face transformers folders are export_hf.py's job; this script forwards to it, so the
documented forms keep working:

    python export_model.py --pretrained-dir DATA/models/NAME --hf-output /tmp/NAME_hf
    python export_model.py --pretrained-dir DATA/models/NAME      (the two HF configs only)
    python export_model.py --model-dir .../chnsenticorp_model_1 \\
        --hf-output /tmp/chnsenticorp_encoder_hf   [--output SAVEDMODEL_DIR as well]
"""

import argparse
import json
import os
import shlex

import export_hf
from util import cli
from util import export_output
from util import fileio
from util import saved_model
from util import utils

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TensorFlow's start-up chatter quiet.

PROGRAM = "export_model.py"
SIGNATURE_KEY = saved_model.SIGNATURE_KEY
INFO_FILE = "export_info.json"
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      prog=PROGRAM,
      description="Export a fine-tuned ELECTRA model directory to a TensorFlow SavedModel. "
      "--pretrained-dir and --hf-output are forwarded to export_hf.py (Hugging Face folders).")
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--model-dir", help="A fine-tuned model directory written by "
                      "run_finetuning.py (finetuning_config.json, vocab.txt, model.ckpt-N).")
  parser.add_argument("--output", help="SavedModel directory (with --model-dir); with "
                      "--pretrained-dir and no --hf-output, where the HF configs go (default: "
                      "the pre-trained dir).")
  parser.add_argument("--task", help="Task to export, for models fine-tuned on several tasks.")
  parser.add_argument("--overwrite", action="store_true",
                      help="Replace an existing non-empty --output / --hf-output directory.")
  export_hf.add_hf_arguments(parser, source)
  args = parser.parse_args(argv)
  if args.model_dir and not (args.output or args.hf_output):
    parser.error("--model-dir needs --output (the SavedModel directory) and/or --hf-output")
  return args


# ----------------------------------------------------------------------------------------------
# SavedModel export.

def export_info(config, task, checkpoint):
  """export_info.json: the inputs and settings every export has, then what the task records
  about itself (`task.serving_info()`: its kind, labels, input format, settings)."""
  info = {
      "task": task.name,
      "max_seq_length": config.max_seq_length,
      "do_lower_case": config.do_lower_case,
      "vocab_file": VOCAB_FILE,
      "signature": SIGNATURE_KEY,
      "inputs": {name: "int32 [batch, length]" for name in INPUT_NAMES},
      "checkpoint": checkpoint,
  }
  info.update(task.serving_info())
  if "labels" in info:
    info["labels_file"] = LABELS_FILE
  return info


def serving_function(model, task):
  """The `serve` tf.function: the task's serving outputs on int32 [batch, length] inputs."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel

  @tf.function(input_signature=saved_model.int_inputs_signature(INPUT_NAMES))
  def serve(input_ids, input_mask, segment_ids):
    return inference.serving_outputs(model, task, input_ids, input_mask, segment_ids)

  return serve


def export_saved_model(model_dir, output, task_name=None, overwrite=False):
  """Writes the SavedModel of `model_dir` to `output`; returns its export_info dict."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel

  export_output.check_output(output, "--output", overwrite)  # before the slow model loading
  try:
    config, tasks, model = inference.load_finetuned(model_dir)
    task = inference.select_task(tasks, task_name)
  except inference.ModelDirError as e:
    raise export_output.ExportError(str(e)) from None
  checkpoint = inference.latest_checkpoint(model_dir)
  info = export_info(config, task, export_output.absolute(checkpoint))
  labels = info.get("labels", [])
  attributes = {
      "task_name": tf.constant(task.name),
      "max_seq_length": tf.constant(config.max_seq_length, tf.int32),
      "labels": tf.constant(labels, tf.string, shape=[len(labels)]),
  }
  assets = {
      "vocab_asset": saved_model.Asset(VOCAB_FILE, source=config.vocab_file),
      "info_asset": saved_model.Asset(INFO_FILE, text=json.dumps(
          info, indent=2, ensure_ascii=False) + "\n"),
  }
  if "labels" in info:
    assets["labels_asset"] = saved_model.Asset(
        LABELS_FILE, text="".join(label + "\n" for label in labels))
  output = saved_model.save(output, overwrite, list(model.all_variables().values()),
                            serving_function(model, task), attributes, assets)
  return utils.load_json(os.path.join(output, "assets", INFO_FILE))


# ----------------------------------------------------------------------------------------------
# Main.

def main(argv=None):
  args = parse_args(argv)
  if args.pretrained_dir:
    return export_hf.run_pretrained(args, PROGRAM)
  if not fileio.isdir(args.model_dir):
    cli.fail(PROGRAM, f"model directory not found: {args.model_dir}")
  result = {}
  if args.output:
    try:
      info = export_saved_model(args.model_dir, args.output, args.task, args.overwrite)
    except export_output.ExportError as e:
      cli.fail(PROGRAM, str(e))
    kind = f" ({info['task_type']})" if "task_type" in info else ""
    print(f"Exported {info['task']}{kind} from {info['checkpoint']} to "
          f"{export_output.absolute(args.output)}")
    print(f"Inspect it with: saved_model_cli show --dir {shlex.quote(args.output)} --all")
    result = info
  if args.hf_output:
    result = dict(result, hf_output=export_hf.run_finetuned(args, PROGRAM))
  return result


if __name__ == "__main__":
  main()
