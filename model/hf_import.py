"""Hugging Face transformers ELECTRA folders read into a release-layout model directory.

import_hf.py is the command line of this module; model/hf_mapping.py holds the name mapping
(the export's, read backwards). A folder is `config.json`, the weights and the tokenizer files:

  weights     model.safetensors, else pytorch_model.bin, each possibly sharded, read
              without torch (model/hf_files.py); tf_model.h5 is not read.
  vocabulary  vocab.txt, else the WordPiece vocabulary inside tokenizer.json (transformers 5
              writes only that).
  lower-case  tokenizer_config.json's do_lower_case (ElectraTokenizer's default true if absent).

Every check runs before anything is written and fails with one line (HfImportError): a folder
that is not ELECTRA or not the expected class, tensors that are unknown or missing (listed),
shapes that disagree with config.json, a vocabulary whose size differs from the embeddings, a
tokenizer this project's cannot reproduce, and a generator that disagrees with the
discriminator. The release shares one set of embeddings (`electra/embeddings`) between the two
networks, while each HF folder holds its own copy: the copies must be identical (they are when
both folders come from one checkpoint), else `embeddings_from` must say which to keep. A
generator whose embeddings are as wide as its hidden layers and differ in width from the
discriminator's is the untied variant (`generator/embeddings`, untied_generator_embeddings).

The output directory holds what run_pretraining.py leaves and fine-tuning reads: the TF1
name-based checkpoint `model.ckpt-0` (+ `checkpoint` state file; `global_step` 0, no optimizer
slots, as the released checkpoints), `vocab.txt`, `discriminator_config.json` /
`generator_config.json` (BertConfig fields) and `pretrain_config.json` (the size
hyper-parameters). It is written into a staging directory and moved into place when complete
(util/export_output.py). TensorFlow is imported only to write the checkpoint.
"""

import collections
import os

import numpy as np

from model import hf_mapping
from model import sizes as model_sizes
from model.hf_files import HfImportError, listed, read_json, read_weights
from util import export_output
from util import utils

CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
# Model directory files, as run_pretraining.py names them.
DISCRIMINATOR_CONFIG_FILE = "discriminator_config.json"
GENERATOR_CONFIG_FILE = "generator_config.json"
PRETRAIN_CONFIG_FILE = "pretrain_config.json"
# run_pretraining.py's default max_seq_length (configure_pretraining.py).
DEFAULT_PRETRAIN_SEQ_LENGTH = 128
EMBEDDING_PARAMETERS = ("word_embeddings.weight", "position_embeddings.weight",
                        "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")
ROLE_FLAGS = {"discriminator": "--discriminator-dir", "generator": "--generator-dir"}


# ----------------------------------------------------------------------------------------------
# Tokenizer files.

def read_vocabulary(directory):
  """The tokens by id: vocab.txt, else tokenizer.json's WordPiece vocabulary."""
  path = os.path.join(directory, VOCAB_FILE)
  if os.path.isfile(path):
    return hf_mapping.read_vocab(path), VOCAB_FILE
  path = os.path.join(directory, TOKENIZER_FILE)
  if not os.path.isfile(path):
    raise HfImportError(f"{directory} has no {VOCAB_FILE} or {TOKENIZER_FILE}")
  model = read_json(path).get("model") or {}
  if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
    raise HfImportError(f"{path} holds no WordPiece vocabulary (model type "
                        f"{model.get('type')!r}): ELECTRA's tokenizer is WordPiece")
  by_id = {token_id: token for token, token_id in model["vocab"].items()}
  if sorted(by_id) != list(range(len(model["vocab"]))):
    raise HfImportError(f"{path}: the vocabulary's ids are not 0..{len(model['vocab']) - 1}")
  return [by_id[i] for i in range(len(by_id))], TOKENIZER_FILE


def read_lower_case(directory):
  """do_lower_case from tokenizer_config.json (else tokenizer.json's normalizer, else true,
  ElectraTokenizer's default); a setting this project's tokenizer cannot follow is an error."""
  path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
  settings = read_json(path) if os.path.isfile(path) else {}
  if "do_lower_case" not in settings and os.path.isfile(os.path.join(directory, TOKENIZER_FILE)):
    normalizer = read_json(os.path.join(directory, TOKENIZER_FILE)).get("normalizer") or {}
    settings = {"do_lower_case": normalizer.get("lowercase", True),
                "tokenize_chinese_chars": normalizer.get("handle_chinese_chars", True),
                "strip_accents": normalizer.get("strip_accents")}
    path = os.path.join(directory, TOKENIZER_FILE)
  lower = settings.get("do_lower_case", True)
  if not isinstance(lower, bool):
    raise HfImportError(f"{path}: do_lower_case is {lower!r}, not true or false")
  if settings.get("tokenize_chinese_chars", True) is False:
    raise HfImportError(f"{path}: tokenize_chinese_chars is false; this project's tokenizer "
                        f"always splits Chinese characters")
  strip = settings.get("strip_accents")
  if strip is not None and strip != lower:
    raise HfImportError(f"{path}: strip_accents {strip} with do_lower_case {lower}; this "
                        f"project's tokenizer strips accents exactly when it lower-cases")
  return lower


# ----------------------------------------------------------------------------------------------
# One folder.

Folder = collections.namedtuple(
    "Folder", "directory architecture config tensors vocab do_lower_case weights_file notes")


def _architecture(directory, config, role):
  path = os.path.join(directory, CONFIG_FILE)
  if config.get("model_type") != "electra":
    raise HfImportError(f"{path}: model_type is {config.get('model_type')!r}, not 'electra' "
                        f"(this imports ELECTRA models only)")
  names = config.get("architectures") or []
  architecture = names[0] if len(names) == 1 else None
  if architecture not in hf_mapping.IMPORT_ROLES:
    raise HfImportError(f"{path}: architectures {names} is not one of "
                        f"{sorted(hf_mapping.IMPORT_ROLES)}")
  if hf_mapping.IMPORT_ROLES[architecture] != role:
    other = hf_mapping.IMPORT_ROLES[architecture]
    raise HfImportError(f"{path} is an {architecture}, a {other}: pass it as "
                        f"{ROLE_FLAGS[other]}")
  return architecture


def read_config(directory, role):
  """(architecture, config.json over ElectraConfig's defaults), checked."""
  path = os.path.join(directory, CONFIG_FILE)
  if not os.path.isdir(directory):
    raise HfImportError(f"{ROLE_FLAGS[role]} {directory} is not a directory")
  if not os.path.isfile(path):
    raise HfImportError(f"{directory} has no {CONFIG_FILE}: not a transformers model folder")
  config = read_json(path)
  if not isinstance(config, dict):
    raise HfImportError(f"{path} does not hold a JSON object")
  architecture = _architecture(directory, config, role)
  config = hf_mapping.with_hf_defaults(config)
  problems = hf_mapping.config_problems(config)
  if problems:
    raise HfImportError(f"{path}: {'; '.join(problems)}")
  return architecture, config


def check_tensors(directory, weights_file, architecture, config, tensors):
  """The weights of `architecture` only, each shaped as config.json says; the tied output
  layer and position-id buffers dropped. Returns (tensors, notes)."""
  source = os.path.join(directory, weights_file)
  tensors = {name: value for name, value in tensors.items()
             if name not in hf_mapping.NON_WEIGHT_TENSORS}
  expected = hf_mapping.expected_hf_shapes(config, architecture)
  tied = tensors.pop(hf_mapping.TIED_OUTPUT_WEIGHT, None) if architecture == \
      "ElectraForMaskedLM" else None
  unknown = sorted(set(tensors) - set(expected))
  if unknown:
    raise HfImportError(f"{source} has {len(unknown)} tensor(s) that {architecture} does not "
                        f"have: {listed(unknown)}")
  missing = sorted(set(expected) - set(tensors))
  if missing:
    raise HfImportError(f"{source} lacks {len(missing)} tensor(s) of {architecture}: "
                        f"{listed(missing)}")
  wrong = [f"{name} {list(tensors[name].shape)} (config.json: {shape})"
           for name, shape in expected.items() if list(tensors[name].shape) != shape]
  if wrong:
    raise HfImportError(f"{source}: {len(wrong)} shape(s) disagree with config.json: "
                        f"{listed(wrong, 3)}")
  notes = []
  if architecture == "ElectraForMaskedLM":
    _check_tied_output(source, config, tensors, tied)
  kinds = sorted({str(v.dtype) for v in tensors.values()} - {"float32"})
  if kinds:
    notes.append(f"{source}: {', '.join(kinds)} weights widened to float32")
  return tensors, notes


def _check_tied_output(source, config, tensors, tied):
  if not config["tie_word_embeddings"]:
    raise HfImportError(f"{source}: tie_word_embeddings is false; this project's generator "
                        f"ties its output layer to the word embeddings")
  word = tensors["electra.embeddings.word_embeddings.weight"]
  if tied is not None and not np.array_equal(tied, word):
    raise HfImportError(f"{source}: {hf_mapping.TIED_OUTPUT_WEIGHT} differs from the word "
                        f"embeddings it is tied to")


def read_folder(directory, role):
  """A checked Folder: config and tokenizer files first (cheap), then the weights."""
  architecture, config = read_config(directory, role)
  vocab, vocab_source = read_vocabulary(directory)
  if len(vocab) != config["vocab_size"]:
    raise HfImportError(f"{os.path.join(directory, vocab_source)} has {len(vocab)} tokens but "
                        f"the embeddings (config.json vocab_size) have {config['vocab_size']}")
  lacking = [t for t in hf_mapping.SPECIAL_TOKENS.values() if t not in vocab]
  if lacking:
    raise HfImportError(f"{os.path.join(directory, vocab_source)} lacks the special tokens "
                        f"{', '.join(lacking)}")
  do_lower_case = read_lower_case(directory)
  weights_file, tensors = read_weights(directory)
  tensors, notes = check_tensors(directory, weights_file, architecture, config, tensors)
  return Folder(directory, architecture, config, tensors, vocab, do_lower_case, weights_file,
                notes)


# ----------------------------------------------------------------------------------------------
# Discriminator + generator -> checkpoint variables.

class ImportedModel:
  """Checkpoint variables and the sizes of the model directory to write."""

  def __init__(self, tensors, disc, gen, untied_embeddings, vocab, do_lower_case, notes):
    self.tensors = tensors  # {checkpoint name: float32 array}
    self.disc = disc  # Folder
    self.gen = gen  # Folder or None
    self.untied_embeddings = untied_embeddings
    self.vocab = vocab
    self.do_lower_case = do_lower_case
    self.notes = notes


def _check_pair(disc, gen):
  for key in ("vocab_size", "max_position_embeddings", "type_vocab_size"):
    if disc.config[key] != gen.config[key]:
      raise HfImportError(f"the generator's {key} {gen.config[key]} differs from the "
                          f"discriminator's {disc.config[key]}")
  if gen.vocab != disc.vocab:
    raise HfImportError(f"the two folders' vocabularies differ ({gen.directory} and "
                        f"{disc.directory})")
  if gen.do_lower_case != disc.do_lower_case:
    raise HfImportError(f"the two folders' tokenizers differ in do_lower_case "
                        f"({disc.do_lower_case} and {gen.do_lower_case})")


def _embedding_layout(disc, gen, embeddings_from):
  """(untied embeddings?, notes) of a generator: shared tables must agree (or be chosen)."""
  if gen.config["embedding_size"] != disc.config["embedding_size"]:
    if gen.config["embedding_size"] != gen.config["hidden_size"]:
      raise HfImportError(
          f"the generator's embedding_size {gen.config['embedding_size']} is neither the "
          f"discriminator's {disc.config['embedding_size']} (shared embeddings, as released) "
          f"nor its hidden size {gen.config['hidden_size']} (untied embeddings)")
    if embeddings_from:
      raise HfImportError("--embeddings-from applies to shared embeddings; these are untied")
    return True, ["the generator has its own embeddings (untied_generator_embeddings)"]
  prefix = "electra.embeddings."
  deltas = {name: float(np.max(np.abs(disc.tensors[prefix + name].astype(np.float64)
                                      - gen.tensors[prefix + name])))
            for name in EMBEDDING_PARAMETERS}
  differing = {name: delta for name, delta in deltas.items() if delta != 0}
  if not differing:
    return False, ["the two folders' embeddings are identical: stored once, shared"]
  if not embeddings_from:
    raise HfImportError(
        f"the two folders' embeddings differ (max |delta| {max(differing.values()):.3g} in "
        f"{listed(sorted(differing), 2)}); the release shares one set: pass --embeddings-from "
        f"discriminator or generator to keep that folder's")
  return False, [f"the folders' embeddings differ (max |delta| "
                 f"{max(differing.values()):.3g}): the {embeddings_from}'s are kept, shared"]


def combine(disc, gen=None, embeddings_from=None):
  """ImportedModel of a discriminator Folder and an optional generator Folder."""
  notes = list(disc.notes)
  tensors = hf_mapping.checkpoint_tensors(
      hf_mapping.import_mapping(disc.architecture, disc.config), disc.tensors)
  untied = False
  if gen is None:
    if embeddings_from:
      raise HfImportError("--embeddings-from needs --generator-dir")
    return ImportedModel(tensors, disc, None, False, disc.vocab, disc.do_lower_case, notes)
  _check_pair(disc, gen)
  untied, layout_notes = _embedding_layout(disc, gen, embeddings_from)
  notes += gen.notes + layout_notes
  scope = "generator/embeddings" if untied else "electra/embeddings"
  gen_tensors = hf_mapping.checkpoint_tensors(
      hf_mapping.import_mapping(gen.architecture, gen.config, "generator", scope), gen.tensors)
  for name, value in gen_tensors.items():
    if name not in tensors or embeddings_from == "generator":
      tensors[name] = value
  return ImportedModel(tensors, disc, gen, untied, disc.vocab, disc.do_lower_case, notes)


def import_folders(disc_dir, gen_dir=None, embeddings_from=None):
  """Reads and checks both folders; returns the ImportedModel (nothing written)."""
  disc = read_folder(disc_dir, "discriminator")
  gen = read_folder(gen_dir, "generator") if gen_dir else None
  return combine(disc, gen, embeddings_from)


# ----------------------------------------------------------------------------------------------
# The model directory's configs.

def _size_name(bert_fields):
  for size in model_sizes.MODEL_SIZES.values():
    if (size.hidden_size, size.num_hidden_layers) == (bert_fields["hidden_size"],
                                                      bert_fields["num_hidden_layers"]):
      return size.name
  return None


def pretrain_hparams(model):
  """The size hyper-parameters run_pretraining.py takes for this model (its pretrain_config.json
  keys): the discriminator's fields as model_hparam_overrides, the generator as fractions."""
  disc = hf_mapping.bert_config_fields(model.disc.config)
  values = {"vocab_size": disc["vocab_size"],
            "embedding_size": model.disc.config["embedding_size"],
            "do_lower_case": model.do_lower_case,
            "model_hparam_overrides": {k: v for k, v in disc.items() if k != "vocab_size"}}
  size = _size_name(disc)
  if size:
    values["model_size"] = size
  positions = disc["max_position_embeddings"]
  if positions < DEFAULT_PRETRAIN_SEQ_LENGTH:  # pre-training's default would not fit the model
    values["max_seq_length"] = positions
  if model.gen is not None:
    gen = model.gen.config
    values.update(generator_hidden_size=gen["hidden_size"] / disc["hidden_size"],
                  generator_layers=gen["num_hidden_layers"] / disc["num_hidden_layers"],
                  untied_generator_embeddings=model.untied_embeddings)
  return values


def generator_rule_note(model):
  """A note when run_pretraining.py's generator rule (model/sizes.py) would not rebuild this
  generator from pretrain_hparams (continued pre-training would then fail on its shapes)."""
  if model.gen is None:
    return None
  disc = hf_mapping.bert_config_fields(model.disc.config)
  gen = hf_mapping.bert_config_fields(model.gen.config)
  values = pretrain_hparams(model)
  rebuilt = dict(disc, **model_sizes.generator_sizes(
      disc["hidden_size"], disc["num_hidden_layers"], values["generator_hidden_size"],
      values["generator_layers"]))
  differing = sorted(key for key in gen if gen[key] != rebuilt[key])
  if not differing:
    return None
  return (f"run_pretraining.py builds generators by its sizing rule, which gives this one other "
          f"{', '.join(differing)}: the checkpoint serves fine-tuning, not continued pre-training")


def model_dir_files(model):
  """{file name: JSON object} of the configs written beside the checkpoint."""
  files = {DISCRIMINATOR_CONFIG_FILE: hf_mapping.bert_config_fields(model.disc.config),
           PRETRAIN_CONFIG_FILE: pretrain_hparams(model)}
  if model.gen is not None:
    files[GENERATOR_CONFIG_FILE] = hf_mapping.bert_config_fields(model.gen.config)
  return files


def write_model_dir(model, output, overwrite=False):
  """Writes the checkpoint, vocab.txt and configs into a staging directory, then moves it to
  `output`; returns the output path."""

  def write(staging):
    from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
    os.makedirs(staging, exist_ok=True)
    variables = dict(model.tensors, global_step=np.array(0, np.int64))
    checkpoint_lib.CheckpointManager(staging).save(variables, 0)
    for name, values in model_dir_files(model).items():
      utils.write_json(values, os.path.join(staging, name))
    utils.write_text(os.path.join(staging, VOCAB_FILE),
                     "".join(token + "\n" for token in model.vocab))

  return export_output.write_staged(output, "--output", overwrite, write)
