"""Exports a model to Hugging Face transformers folders (for PyTorch; no torch needed here).

Pre-trained model -> discriminator and generator folders:

    python export_hf.py --pretrained-dir DATA/models/NAME --hf-output /tmp/NAME_hf

  writes /tmp/NAME_hf/discriminator (ElectraForPreTraining) and /tmp/NAME_hf/generator
  (ElectraForMaskedLM), each with config.json, model.safetensors (written from NumPy, no
  torch), vocab.txt, tokenizer_config.json and special_tokens_map.json, from the newest
  checkpoint (see model/hf_mapping.py for the name mapping and its checks):

    ElectraForPreTraining.from_pretrained("/tmp/NAME_hf/discriminator")
    ElectraForMaskedLM.from_pretrained("/tmp/NAME_hf/generator")
    AutoTokenizer.from_pretrained("/tmp/NAME_hf/discriminator")

  The vocabulary is the directory's vocab.txt or DATA/vocab.txt two levels up (--vocab-file to
  choose), lower-casing from pretrain_config.json. Sizes come from discriminator_config.json,
  generator_config.json and pretrain_config.json written by run_pretraining.py (without them:
  --model-size / --vocab-size / --embedding-size, the embedding size and vocabulary size
  defaulting to the checkpoint's) and are checked against the checkpoint's variable shapes. The
  generator config carries the discriminator's embedding_size: with tied embeddings (the
  default) the generator reads the shared E-wide embeddings through its own embeddings_project.
  Without --hf-output only the two configs are written, as hf_discriminator_config.json and
  hf_generator_config.json (to --output, default the pre-trained directory).

Fine-tuned model -> the encoder as a transformers ElectraModel folder:

    python export_hf.py --model-dir .../finetuning_models/chnsenticorp_model_1 \\
        --hf-output /tmp/chnsenticorp_encoder_hf

  Only the encoder (electra/...): this project's task heads (classification, QA with the
  joint/answerable variants) have no exact transformers class, so they are not mapped; the
  output lists them. ElectraModel.from_pretrained(DIR) gives the fine-tuned hidden states.

export_model.py (the SavedModel export) forwards --pretrained-dir and --hf-output here.
"""

import argparse
import os
import shlex
import sys

from model import hf_export
from model import hf_mapping
from model import sizes as model_sizes
from util import cli
from util import export_output

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TensorFlow's start-up chatter quiet.

PROGRAM = "export_hf.py"


def add_hf_arguments(parser, source):
  """The Hugging Face export's flags; `source` is the group of the mutually exclusive model
  directories (export_model.py adds them to its own parser and forwards them)."""
  source.add_argument("--pretrained-dir", help="A pre-training checkpoint directory (e.g. "
                      "DATA/models/NAME written by run_pretraining.py).")
  parser.add_argument("--hf-output", help="Write Hugging Face transformers folders here "
                      "(safetensors weights, config, tokenizer files): discriminator/ and "
                      "generator/ for --pretrained-dir, an ElectraModel folder of the encoder "
                      "for --model-dir.")
  parser.add_argument("--vocab-file", help="With --pretrained-dir --hf-output: the vocabulary "
                      "(default: vocab.txt in the directory or two levels up).")
  sizes = parser.add_argument_group("--pretrained-dir sizes (override the directory's JSONs)")
  sizes.add_argument("--model-size", choices=model_sizes.NAMES)
  sizes.add_argument("--embedding-size", type=int)
  sizes.add_argument("--vocab-size", type=int)
  sizes.add_argument("--generator-hidden-size", type=float,
                     help="Generator width as a fraction of the discriminator's (default 0.25).")
  sizes.add_argument("--generator-layers", type=float,
                     help="Generator depth as a fraction of the discriminator's (default 1.0).")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      prog=PROGRAM,
      description="Export a pre-training checkpoint directory to Hugging Face "
      "ElectraForPreTraining / ElectraForMaskedLM folders (or only their configs), or the "
      "encoder of a fine-tuned model directory to an ElectraModel folder.")
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--model-dir", help="A fine-tuned model directory written by "
                      "run_finetuning.py (finetuning_config.json, vocab.txt, model.ckpt-N).")
  add_hf_arguments(parser, source)
  parser.add_argument("--output", help="With --pretrained-dir and no --hf-output: where the "
                      "HF configs go (default: the pre-trained dir).")
  parser.add_argument("--overwrite", action="store_true",
                      help="Replace an existing non-empty --hf-output directory.")
  args = parser.parse_args(argv)
  if args.model_dir and not args.hf_output:
    parser.error("--model-dir needs --hf-output")
  return args


def log(message):
  print(message, file=sys.stderr, flush=True)


def size_flags(args):
  return dict(model_size=args.model_size, embedding_size=args.embedding_size,
              vocab_size=args.vocab_size, generator_hidden_size=args.generator_hidden_size,
              generator_layers=args.generator_layers)


def run_pretrained(args, program=PROGRAM):
  """--pretrained-dir: the folders with --hf-output, else the configs; returns their paths."""
  try:
    if args.hf_output:
      paths, prefix, notes = hf_export.export_pretrained(
          args.pretrained_dir, args.hf_output, args.overwrite, args.vocab_file, **size_flags(args))
    else:
      paths, prefix, notes = hf_export.export_configs(args.pretrained_dir, args.output,
                                                      **size_flags(args))
  except export_output.ExportError as e:
    cli.fail(program, str(e))
  for note in notes:
    log(f"{program}: {note}")
  if not args.hf_output:
    for path in paths.values():
      print(f"Wrote {path}" + (f" (sizes checked against {prefix})" if prefix else ""))
    print(f"For PyTorch, write Hugging Face folders with the weights: {program} "
          f"--pretrained-dir {shlex.quote(args.pretrained_dir)} --hf-output DIR")
    return paths
  print(f"Exported {prefix} to Hugging Face transformers folders:")
  classes = {role: hf_export.folder_architecture(path) for role, path in paths.items()}
  for role, path in paths.items():
    print(f"  {role}: {path} ({classes[role]})")
  print(f"Load them with PyTorch ({hf_mapping.INSTALL_HINT}; no TensorFlow needed):")
  print(f"  from transformers import AutoTokenizer, {', '.join(sorted(set(classes.values())))}\n"
        f"  tokenizer = AutoTokenizer.from_pretrained({paths['discriminator']!r})")
  for role, path in paths.items():
    print(f"  {role} = {classes[role]}.from_pretrained({path!r})")
  return paths


def export_finetuned_encoder(model_dir, hf_output, overwrite=False):
  """The encoder of a fine-tuned model directory as an ElectraModel folder; returns (path,
  checkpoint prefix, the task-head variables left out)."""
  from finetune import finetuning_model  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel
  try:
    config = inference.load_config(model_dir)
    prefix = inference.latest_checkpoint(model_dir)
  except inference.ModelDirError as e:
    raise export_output.ExportError(str(e)) from None
  path, heads = hf_export.export_encoder(prefix, finetuning_model.bert_config_from(config),
                                         config.vocab_file, config.do_lower_case, hf_output,
                                         overwrite)
  return path, prefix, heads


def run_finetuned(args, program=PROGRAM):
  """--model-dir --hf-output: the encoder's folder; returns its path."""
  try:
    path, prefix, heads = export_finetuned_encoder(args.model_dir, args.hf_output,
                                                   args.overwrite)
  except export_output.ExportError as e:
    cli.fail(program, str(e))
  print(f"Exported the encoder of {prefix} to {path} (transformers ElectraModel)")
  if heads:
    print(f"Not exported: the task heads ({len(heads)} variables under "
          f"{hf_mapping.TASK_HEAD_SCOPE}: {', '.join(heads)}); this project's heads have no "
          f"exact transformers class, so they are not mapped onto one.")
  print(f"Load it with PyTorch ({hf_mapping.INSTALL_HINT}; no TensorFlow needed):\n"
        f"  ElectraModel.from_pretrained({path!r}), AutoTokenizer.from_pretrained({path!r})")
  return path


def main(argv=None):
  args = parse_args(argv)
  if args.pretrained_dir:
    return run_pretrained(args)
  return run_finetuned(args)


if __name__ == "__main__":
  main()
