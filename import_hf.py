"""Imports Hugging Face transformers ELECTRA folders as a model directory (no torch needed).

    python import_hf.py --discriminator-dir chinese-electra-180g-small-discriminator \\
        [--generator-dir chinese-electra-180g-small-generator] --output DATA/models/NAME

reads each folder's config.json, weights (model.safetensors, else pytorch_model.bin, sharded or
not; a .bin is read without running its pickle's code) and tokenizer files, checks them, and
writes DATA/models/NAME in the release layout: a TF1 name-based checkpoint with the released
checkpoints' variable names, vocab.txt, discriminator_config.json, generator_config.json (with
--generator-dir) and pretrain_config.json. Fine-tuning then needs no sizes:

    python run_finetuning.py --data-dir DATA --model-name NAME --hparams params_cmrc2018.json

With --generator-dir the checkpoint also holds the generator and initialises continued
pre-training (the command is printed). The two folders' embeddings are stored once, shared, as
the release does; if they differ, --embeddings-from picks the folder whose embeddings are kept.
See model/hf_import.py for the checks and model/hf_mapping.py for the name mapping.
"""

import argparse
import json
import os
import sys

from model import hf_import
from util import cli
from util import export_output
from util import utils

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TensorFlow's start-up chatter quiet.

PROGRAM = "import_hf.py"


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      prog=PROGRAM,
      description="Import Hugging Face ElectraForPreTraining (or ElectraModel) and "
      "ElectraForMaskedLM folders as a release-layout model directory (DATA/models/NAME).")
  parser.add_argument("--discriminator-dir", required=True, help="An ElectraForPreTraining "
                      "(or ElectraModel) folder: config.json, model.safetensors or "
                      "pytorch_model.bin (sharded or not), vocab.txt or tokenizer.json.")
  parser.add_argument("--generator-dir", help="Its ElectraForMaskedLM folder (for continued "
                      "pre-training; fine-tuning needs the discriminator only).")
  parser.add_argument("--output", required=True, help="The model directory to write, "
                      "DATA/models/NAME (run_finetuning.py --data-dir DATA --model-name NAME).")
  parser.add_argument("--embeddings-from", choices=("discriminator", "generator"),
                      help="When the two folders' embeddings differ: whose to keep (the "
                      "checkpoint shares one set, as the release does).")
  parser.add_argument("--overwrite", action="store_true",
                      help="Replace an existing non-empty --output directory.")
  return parser.parse_args(argv)


def log(message):
  print(message, file=sys.stderr, flush=True)


def next_steps(output, model):
  """The fine-tuning (and continued pre-training) commands for the written directory."""
  data_dir = os.path.dirname(os.path.dirname(output))
  name = os.path.basename(output)
  lines = [f"Fine-tune it: python run_finetuning.py --data-dir {data_dir} --model-name {name} "
           f"--hparams '{{\"task_names\": [\"chnsenticorp\"]}}'"]
  if os.path.basename(os.path.dirname(output)) != "models":
    lines.append(f"(run_finetuning.py reads DATA/models/NAME: {output} is not in a models/ "
                 f"folder, move it there)")
  if model.gen is not None and hf_import.generator_rule_note(model) is None:
    hparams = dict(hf_import.pretrain_hparams(model), init_checkpoint=output)
    lines.append(f"Continue pre-training from it: python run_pretraining.py --data-dir "
                 f"{data_dir} --model-name {name}_continued --hparams '{json.dumps(hparams)}'")
  return lines


def main(argv=None):
  args = parse_args(argv)
  try:
    # The output is checked first: a wrong --output fails before gigabytes are read.
    output = export_output.check_output(args.output, "--output", args.overwrite)
    model = hf_import.import_folders(args.discriminator_dir, args.generator_dir,
                                     args.embeddings_from)
    note = hf_import.generator_rule_note(model)
    output = hf_import.write_model_dir(model, output, args.overwrite)
  except export_output.ExportError as e:
    cli.fail(PROGRAM, str(e))
  except OSError as e:  # an unreadable file, a full disk
    cli.fail(PROGRAM, utils.describe_error(e))
  for line in model.notes + ([note] if note else []):
    log(f"{PROGRAM}: {line}")
  sources = [model.disc] + ([model.gen] if model.gen is not None else [])
  print(f"Imported {', '.join(os.path.join(f.directory, f.weights_file) for f in sources)} "
        f"into {output}: {len(model.tensors)} checkpoint variables, do_lower_case "
        f"{model.do_lower_case}")
  for line in next_steps(output, model):
    print(line)
  return output


if __name__ == "__main__":
  main()
