"""Exports a fine-tuned model directory as a TensorFlow SavedModel.

Fine-tuned model -> SavedModel (tf.saved_model.save of a tf.Module):

    python export_model.py --model-dir DATA/models/NAME/finetuning_models/chnsenticorp_model_1 \\
        --output /tmp/chnsenticorp_export

  Signature `serving_default`: inputs `input_ids`, `input_mask`, `segment_ids`, int32
  [batch, length] (length <= 512; features as the task makes them: [CLS] a [SEP] (b [SEP]) for
  classification, [CLS] question [SEP] context-window [SEP] for QA, with vocab.txt below).
  Outputs: classification `probabilities` and `logits` [batch, n_labels] (label order in
  labels.txt); QA `start_logits` / `end_logits` [batch, length] (outside the context and [CLS]
  they are -1000 lower; for the joint head, the end logits given the best start), and with the
  joint head the beams `start_top_log_probs` / `start_top_index` [batch, K] and
  `end_top_log_probs` / `end_top_index` [batch, K, K] (K = beam_size; sequences shorter than K
  are zero-padded to K tokens for the beams) as run_finetuning.py post-processes them, plus
  `answerable_logit` [batch] with the answerable classifier. Assets: `assets/labels.txt` (one
  label per line, classification), `assets/vocab.txt` and `assets/export_info.json` (task, labels,
  max_seq_length, lower-casing, QA window settings); the loaded object also has the attributes
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

def export_info(config, task, checkpoint, is_qa):
  info = {
      "task": task.name,
      "task_type": "qa" if is_qa else "classification",
      "max_seq_length": config.max_seq_length,
      "do_lower_case": config.do_lower_case,
      "vocab_file": VOCAB_FILE,
      "signature": SIGNATURE_KEY,
      "inputs": {name: "int32 [batch, length]" for name in INPUT_NAMES},
      "checkpoint": checkpoint,
  }
  if is_qa:
    info.update(input_format="[CLS] question [SEP] context window [SEP] (segment 1 from the "
                "context), zero-padded",
                max_query_length=config.max_query_length, doc_stride=config.doc_stride,
                n_best_size=config.n_best_size, max_answer_length=config.max_answer_length,
                joint_prediction=config.joint_prediction, beam_size=config.beam_size,
                answerable_classifier=config.answerable_classifier)
  else:
    info.update(labels=list(task.label_list), labels_file=LABELS_FILE,
                input_format="[CLS] text_a [SEP] (text_b [SEP], segment 1), zero-padded")
  return info


def serving_function(model, task):
  """The `serve` tf.function: the task's serving outputs on int32 [batch, length] inputs."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel

  qa = inference.is_qa(task)
  head = model.heads[list(model.tasks).index(task)]
  beam_size = head.beam_size if qa and head.joint_prediction else 0

  @tf.function(input_signature=saved_model.int_inputs_signature(INPUT_NAMES))
  def serve(input_ids, input_mask, segment_ids):
    length = tf.shape(input_ids)[1]
    if beam_size:  # top-k over positions needs at least beam_size of them
      pad = [[0, 0], [0, tf.maximum(beam_size - length, 0)]]
      input_ids, input_mask, segment_ids = (tf.pad(x, pad) for x in (
          input_ids, input_mask, segment_ids))
    outputs = inference.serving_outputs(model, task, input_ids, input_mask, segment_ids)
    if qa:
      outputs["start_logits"] = outputs["start_logits"][:, :length]
      outputs["end_logits"] = outputs["end_logits"][:, :length]
    return outputs

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
  info = export_info(config, task, export_output.absolute(checkpoint), inference.is_qa(task))
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
    print(f"Exported {info['task']} ({info['task_type']}) from {info['checkpoint']} to "
          f"{export_output.absolute(args.output)}")
    print(f"Inspect it with: saved_model_cli show --dir {shlex.quote(args.output)} --all")
    result = info
  if args.hf_output:
    result = dict(result, hf_output=export_hf.run_finetuned(args, PROGRAM))
  return result


if __name__ == "__main__":
  main()
