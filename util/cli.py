"""Command-line plumbing shared by the scripts: one-line errors and the --hparams parser.

Free of TensorFlow on purpose: the scripts parse their flags (and answer --help) before they
import it, because that import is slow and prints start-up lines.
"""

import argparse
import sys

from util import hparams as hparams_lib


def fail(program, message):
  """Exits with one line on stderr (no traceback): for mistakes the user can fix."""
  sys.exit(f"{program}: error: {message}")


def hparams_parser(program, description, config_class, *, config_file, params_example,
                   data_dir_help, model_name_help, hparams_example):
  """The parser of a script taking --data-dir, --model-name and --hparams.

  Args:
    program: the script's name, as argparse's `prog`.
    description: one sentence on what the script does.
    config_class: the hparams_lib.Config subclass the flags build; --help lists its keys.
    config_file: the module documenting its defaults, e.g. "configure_pretraining.py".
    params_example: a shipped params file named in --help, e.g. "params/pretrain_small.json".
    data_dir_help / model_name_help: what the directory holds and what the name names; each
      flag's help adds that the value may come from the --hparams JSON instead.
    hparams_example: an example value of --hparams shown in its help.
  """
  parser = argparse.ArgumentParser(
      prog=program, description=description,
      epilog=hparams_lib.help_epilog(config_class, config_file, params_example))
  parser.add_argument("--data-dir", help=f"{data_dir_help} (may also be given as \"data_dir\" "
                      "in --hparams).")
  parser.add_argument("--model-name", help=f"{model_name_help} (may also be given as "
                      "\"model_name\" in --hparams).")
  parser.add_argument("--hparams", default="{}",
                      help="Hyper-parameters as a JSON object string or a .json file (a bare "
                      f"file name is also looked up in params/), e.g. {hparams_example}.")
  return parser


def config_from_args(program, config_class, args):
  """`config_class.from_args(args)`; unknown or ill-typed hparams, bad JSON or a missing params
  file end the program with one line (`fail`)."""
  try:
    return config_class.from_args(args)
  except ValueError as e:
    fail(program, str(e))
  return None
