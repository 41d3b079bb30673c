"""Hugging Face transformers folders (and configs) of a pre-training directory or an encoder.

export_hf.py is the command line of this module; model/hf_mapping.py maps the names and writes
the folders. A pre-training directory's sizes come from the flags, else discriminator_config.json,
generator_config.json and pretrain_config.json written by run_pretraining.py, else the
checkpoint's variable shapes (model/sizes.sizes_from_shapes; the heads, which no shape records,
one per 64 hidden units as in the original), and are checked against the checkpoint's variable
shapes before anything is written. A checkpoint without generator variables (the bundled model
keeps only the discriminator's encoder) is exported as the discriminator alone.

TensorFlow is imported only to read checkpoints (and for remote paths), so importing this module
is cheap.
"""

import json
import os

from model import hf_mapping
from model import sizes as model_sizes
from util import export_output
from util import fileio
from util import utils

HF_CONFIG_FILES = {"discriminator": "hf_discriminator_config.json",
                   "generator": "hf_generator_config.json"}
PRETRAIN_CONFIG_FILE = "pretrain_config.json"
DISCRIMINATOR_CONFIG_FILE = "discriminator_config.json"
GENERATOR_CONFIG_FILE = "generator_config.json"
WORD_EMBEDDINGS = "electra/embeddings/word_embeddings"
# Variables of the generator (its own encoder or embeddings, and its MLM head). A checkpoint with
# none of them holds the discriminator alone (e.g. the bundled model, which keeps only its
# electra/* encoder): it is exported as the discriminator folder only.
GENERATOR_PREFIXES = ("generator/", "generator_predictions/")
ExportError = export_output.ExportError  # (one class: a mistake the user can fix)


def _read_json(path):
  try:
    return utils.load_json(path)
  except json.JSONDecodeError as e:
    raise ExportError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None


def read_pretrain_config(pretrained_dir):
  """pretrain_config.json of a pre-training directory, {} if it has none."""
  path = os.path.join(pretrained_dir, PRETRAIN_CONFIG_FILE)
  return _read_json(path) if fileio.exists(path) else {}


def read_shapes(prefix):
  """(checkpoint reader, {name: shape as a list}) of a checkpoint prefix."""
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  reader = checkpoint_lib.read_prefix(prefix)
  return reader, {name: list(shape) for name, shape in
                  reader.get_variable_to_shape_map().items()}


def _checkpoint_shapes(pretrained_dir):
  """(prefix, {name: shape}) of the directory's newest checkpoint, or (None, {})."""
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  try:
    prefix = checkpoint_lib.resolve_checkpoint(pretrained_dir)
  except FileNotFoundError:
    return None, {}
  return prefix, read_shapes(prefix)[1]


# ----------------------------------------------------------------------------------------------
# The sizes of a pre-trained model.

class PretrainedSizes:
  """The discriminator and generator BertConfigs and embedding sizes of a pre-trained model."""

  def __init__(self, disc, gen, disc_embedding, gen_embedding, tied_generator,
               untied_embeddings, sources, has_generator=True):
    self.disc = disc
    self.gen = gen
    self.disc_embedding = disc_embedding
    self.gen_embedding = gen_embedding
    self.tied_generator = tied_generator  # the generator IS the discriminator encoder
    self.untied_embeddings = untied_embeddings  # generator has its own H_gen-wide embeddings
    self.sources = sources
    self.has_generator = has_generator  # False: a discriminator-only checkpoint


def has_generator(shapes):
  """Whether checkpoint shapes {name: shape} hold any generator variable."""
  return any(name.startswith(GENERATOR_PREFIXES) for name in shapes)


def _discriminator_config(path, pretrain, model_size, vocab_size, sources):
  """From the flags when given (or without discriminator_config.json), else from that file."""
  from model import modeling  # pylint: disable=import-outside-toplevel
  if model_size is not None or vocab_size is not None or not fileio.exists(
      path(DISCRIMINATOR_CONFIG_FILE)):
    size = model_size or pretrain.get("model_size") or model_sizes.DEFAULT_MODEL_SIZE
    vocab = vocab_size or pretrain.get("vocab_size") or 21128
    sources.append(f"discriminator: model_size {size}, vocab_size {vocab}")
    return modeling.get_bert_config(size, vocab, pretrain.get("model_hparam_overrides"))
  sources.append(f"discriminator: {DISCRIMINATOR_CONFIG_FILE}")
  return modeling.BertConfig.from_json_file(path(DISCRIMINATOR_CONFIG_FILE))


def _discriminator_from_shapes(fields, pretrain, sources):
  """The discriminator's BertConfig from the checkpoint's shapes (model/sizes.sizes_from_shapes);
  the heads, which shapes do not record, from pretrain_config.json's overrides, else one per 64
  hidden units (the original's rule)."""
  from model import modeling  # pylint: disable=import-outside-toplevel
  heads = (pretrain.get("model_hparam_overrides") or {}).get("num_attention_heads")
  sources.append("discriminator: the checkpoint's variable shapes" +
                 ("" if heads else ", heads by the one-per-64-units rule"))
  values = dict(model_sizes.derived_sizes(fields["hidden_size"]), **fields)
  if heads:
    values["num_attention_heads"] = heads
  return modeling.BertConfig.from_dict(values)


def _generator_config(path, pretrain, disc, untied_generator, flags_given, hidden_fraction,
                      layers_fraction, sources, shapes=None):
  """The discriminator's own config (tied generator), generator_config.json unless a size
  flag is given, else the generator sizing rule with the flags' fractions, else the
  checkpoint's, else pretrain_config.json's."""
  from model import modeling  # pylint: disable=import-outside-toplevel
  if not untied_generator:
    sources.append("generator: the discriminator's encoder (tied generator)")
    return disc
  if not flags_given and fileio.exists(path(GENERATOR_CONFIG_FILE)):
    sources.append(f"generator: {GENERATOR_CONFIG_FILE}")
    return modeling.BertConfig.from_json_file(path(GENERATOR_CONFIG_FILE))
  recorded = model_sizes.generator_fractions(shapes or {}, disc.to_dict())
  hidden = hidden_fraction or recorded.get("generator_hidden_size") or pretrain.get(
      "generator_hidden_size", model_sizes.GENERATOR_HIDDEN_FRACTION)
  layers = layers_fraction or recorded.get("generator_layers") or pretrain.get(
      "generator_layers", model_sizes.GENERATOR_LAYERS_FRACTION)
  sources.append(f"generator: {hidden} x hidden, {layers} x layers of the discriminator")
  return modeling.get_generator_config(disc, hidden, layers)


def _embedding_size(pretrain, disc, word, model_size, embedding_size, sources):
  if embedding_size is not None:
    sources.append("embedding_size: --embedding-size")
    return embedding_size
  if word is not None:
    sources.append("embedding_size: the checkpoint's word embeddings")
    return word[1]
  if "embedding_size" in pretrain:
    sources.append("embedding_size: pretrain_config.json")
    return pretrain["embedding_size"] or disc.hidden_size
  size = model_sizes.MODEL_SIZES.get(model_size or pretrain.get("model_size")
                                     or model_sizes.DEFAULT_MODEL_SIZE)
  sources.append("embedding_size: the model size's default")
  return (size and size.embedding_size) or disc.hidden_size


def pretrained_sizes(pretrained_dir, shapes, model_size=None, embedding_size=None,
                     vocab_size=None, generator_hidden_size=None, generator_layers=None):
  """Sizes from the flags, else the directory's JSONs, else the checkpoint's shapes."""
  path = lambda name: os.path.join(pretrained_dir, name)
  pretrain = read_pretrain_config(pretrained_dir)
  sources = []
  word = shapes.get(WORD_EMBEDDINGS)
  has_config_file = fileio.exists(path(DISCRIMINATOR_CONFIG_FILE))
  recorded = model_sizes.sizes_from_shapes(shapes)
  if model_size is None and vocab_size is None and not has_config_file and recorded:
    disc = _discriminator_from_shapes(recorded[0], pretrain, sources)
  else:
    if vocab_size is None and word is not None and not has_config_file:
      vocab_size = word[0]
    disc = _discriminator_config(path, pretrain, model_size, vocab_size, sources)
  untied_generator = pretrain.get("untied_generator", True) and pretrain.get(
      "electra_objective", True)
  untied_embeddings = bool(pretrain.get("untied_generator_embeddings", False))
  if shapes:  # The checkpoint knows which generator variables exist.
    untied_generator = any(name.startswith("generator/") for name in shapes)
    untied_embeddings = "generator/embeddings/word_embeddings" in shapes
  flags_given = any(flag is not None for flag in (generator_hidden_size, generator_layers,
                                                  model_size, vocab_size))
  with_generator = not shapes or has_generator(shapes)
  gen = disc  # a discriminator-only checkpoint: nothing to size
  if with_generator:
    gen = _generator_config(path, pretrain, disc, untied_generator, flags_given,
                            generator_hidden_size, generator_layers, sources, shapes)
  embedding_size = _embedding_size(pretrain, disc, word, model_size, embedding_size, sources)
  gen_embedding = gen.hidden_size if untied_embeddings else embedding_size
  return PretrainedSizes(disc, gen, embedding_size, gen_embedding, not untied_generator,
                         untied_embeddings, sources, has_generator=with_generator)


def _expected_shapes(scope, config, embedding_scope, embedding_size):
  shapes = {
      f"{embedding_scope}/word_embeddings": [config.vocab_size, embedding_size],
      f"{embedding_scope}/position_embeddings": [config.max_position_embeddings, embedding_size],
      f"{embedding_scope}/token_type_embeddings": [config.type_vocab_size, embedding_size],
  }
  if embedding_size != config.hidden_size:
    shapes[f"{scope}/embeddings_project/kernel"] = [embedding_size, config.hidden_size]
  hidden, inner = config.hidden_size, config.intermediate_size
  for layer in range(config.num_hidden_layers):
    shapes[f"{scope}/encoder/layer_{layer}/attention/self/query/kernel"] = [hidden, hidden]
  shapes[f"{scope}/encoder/layer_0/intermediate/dense/kernel"] = [hidden, inner]
  return shapes


def check_sizes(sizes, shapes):
  """Disagreements between `sizes` and the checkpoint's variable shapes (empty if none)."""
  expected = _expected_shapes("electra", sizes.disc, "electra/embeddings", sizes.disc_embedding)
  networks = [("electra", sizes.disc)]
  if sizes.has_generator and not sizes.tied_generator:
    embedding_scope = "generator/embeddings" if sizes.untied_embeddings else "electra/embeddings"
    expected.update(_expected_shapes("generator", sizes.gen, embedding_scope,
                                     sizes.gen_embedding))
    networks.append(("generator", sizes.gen))
  problems = []
  for name, shape in sorted(expected.items()):
    if name not in shapes:
      problems.append(f"{name} is missing")
    elif shapes[name] != shape:
      problems.append(f"{name} is {shapes[name]}, expected {shape}")
  for scope, config in networks:
    extra = f"{scope}/encoder/layer_{config.num_hidden_layers}/attention/self/query/kernel"
    if extra in shapes:
      problems.append(f"the checkpoint's {scope} has more than {config.num_hidden_layers} layers")
  for scope in ("electra", "generator"):  # a projection the sizes say should not be there
    name = f"{scope}/embeddings_project/kernel"
    if name in shapes and name not in expected:
      problems.append(f"{name} exists, but the embedding size equals the hidden size")
  return problems


def load_pretrained(pretrained_dir, **size_flags):
  """(checkpoint prefix or None, {name: shape}, PretrainedSizes, notes), sizes checked."""
  if not fileio.isdir(pretrained_dir):
    raise ExportError(f"pre-trained model directory not found: {pretrained_dir}")
  prefix, shapes = _checkpoint_shapes(pretrained_dir)
  sizes = pretrained_sizes(pretrained_dir, shapes, **size_flags)
  notes = list(sizes.sources)
  if prefix is not None:
    problems = check_sizes(sizes, shapes)
    if problems:
      raise ExportError(f"the sizes do not match checkpoint {prefix}: {'; '.join(problems[:4])}"
                        f"{' ...' if len(problems) > 4 else ''} (fix them with --model-size / "
                        f"--embedding-size / --vocab-size / --generator-hidden-size)")
  return prefix, shapes, sizes, notes


def find_vocab(pretrained_dir, vocab_file=None):
  """--vocab-file, else vocab.txt in the pre-trained dir or in DATA (DATA/models/NAME)."""
  if vocab_file:
    if not fileio.isfile(vocab_file):
      raise ExportError(f"--vocab-file {vocab_file} not found")
    return vocab_file
  data_dir = fileio.parent(fileio.parent(export_output.absolute(pretrained_dir).rstrip("/")))
  candidates = [os.path.join(pretrained_dir, "vocab.txt"), os.path.join(data_dir, "vocab.txt")]
  for path in candidates:
    if fileio.isfile(path):
      return path
  raise ExportError(f"no vocabulary found ({' or '.join(candidates)}): pass --vocab-file")


# ----------------------------------------------------------------------------------------------
# Exports.

def export_configs(pretrained_dir, output_dir=None, **size_flags):
  """Writes both HF configs (no weights); returns (paths {role: path}, prefix or None, notes)."""
  output_dir = output_dir or pretrained_dir
  prefix, _, sizes, notes = load_pretrained(pretrained_dir, **size_flags)
  if prefix is None:
    notes.append(f"no checkpoint found in {pretrained_dir}: sizes not checked")
  if not sizes.has_generator:
    notes.append("the checkpoint holds no generator: only the discriminator's config is written")
  fileio.makedirs(output_dir)
  paths = {}
  roles = [("discriminator", sizes.disc, sizes.disc_embedding)]
  if sizes.has_generator:
    roles.append(("generator", sizes.gen, sizes.gen_embedding))
  for role, config, embedding in roles:
    paths[role] = os.path.join(output_dir, HF_CONFIG_FILES[role])
    utils.write_json(hf_mapping.hf_electra_config(config, embedding, role), paths[role])
  return paths, prefix, notes


def pretrained_models(sizes, shapes):
  """[(role, architecture, HF config dict, {HF name: Param})] of a pre-training checkpoint: the
  discriminator (ElectraForPreTraining, or ElectraModel without its head) and, when the
  checkpoint has one, the generator (ElectraForMaskedLM)."""
  disc_config = hf_mapping.hf_electra_config(sizes.disc, sizes.disc_embedding, "discriminator")
  disc_projection = sizes.disc_embedding != sizes.disc.hidden_size
  if "discriminator_predictions/dense/kernel" in shapes:
    disc = ("discriminator", "ElectraForPreTraining", disc_config,
            hf_mapping.discriminator_mapping(sizes.disc.num_hidden_layers, disc_projection))
  else:  # electra_objective false: no discriminator head, the encoder alone
    encoder = hf_mapping.ENCODER_ARCHITECTURE
    disc = ("discriminator", encoder, dict(disc_config, architectures=[encoder]),
            hf_mapping.encoder_mapping("", "electra", "electra/embeddings",
                                       sizes.disc.num_hidden_layers, disc_projection))
  if not sizes.has_generator:
    return [disc]
  if sizes.gen.hidden_act != "gelu":
    raise ExportError(f"the generator's hidden_act is {sizes.gen.hidden_act}: transformers' "
                      f"ElectraGeneratorPredictions always applies gelu")
  gen_scope = "electra" if sizes.tied_generator else "generator"
  gen_embeddings = "generator/embeddings" if sizes.untied_embeddings else "electra/embeddings"
  gen = ("generator", "ElectraForMaskedLM",
         dict(hf_mapping.hf_electra_config(sizes.gen, sizes.gen_embedding, "generator"),
              tie_word_embeddings=True),
         hf_mapping.generator_mapping(gen_scope, gen_embeddings, sizes.gen.num_hidden_layers,
                                      sizes.gen_embedding != sizes.gen.hidden_size))
  return [disc, gen]


def _sharing_notes(sizes, architectures):
  notes = []
  if not sizes.has_generator:
    notes.append("the checkpoint holds no generator (generator/*, generator_predictions/*): "
                 "only discriminator/ is written")
  elif sizes.tied_generator:
    notes.append("the generator is the discriminator's encoder (untied_generator false): "
                 "generator/ holds a copy of it with the MLM head")
  elif not sizes.untied_embeddings:
    notes.append("the generator shares the discriminator's embeddings: both folders hold them")
  if architectures[0] == hf_mapping.ENCODER_ARCHITECTURE:
    notes.append("no discriminator head in the checkpoint: discriminator/ is an ElectraModel")
  return notes


def export_pretrained(pretrained_dir, hf_output, overwrite=False, vocab_file=None,
                      **size_flags):
  """Writes HF_OUTPUT/discriminator and, when the checkpoint has a generator, /generator;
  returns ({role: path}, prefix, notes)."""
  prefix, shapes, sizes, notes = load_pretrained(pretrained_dir, **size_flags)
  if prefix is None:
    raise ExportError(f"no checkpoint found in {pretrained_dir}")
  vocab = find_vocab(pretrained_dir, vocab_file)
  do_lower_case = bool(read_pretrain_config(pretrained_dir).get("do_lower_case", True))
  models = pretrained_models(sizes, shapes)
  hf_mapping.check_all_used([mapping for _, _, _, mapping in models], shapes)
  reader, _ = read_shapes(prefix)
  converted = [(role, hf_mapping.convert(mapping, reader.get_tensor, shapes, config, arch),
                config) for role, arch, config, mapping in models]
  notes += _sharing_notes(sizes, [arch for _, arch, _, _ in models])

  def write(staging):
    with export_output.local_copy(vocab) as local_vocab:  # hf_mapping reads local files only
      for role, tensors, config in converted:
        hf_mapping.write_folder(os.path.join(staging, role), config, tensors, local_vocab,
                                do_lower_case)

  output = export_output.write_staged(hf_output, "--hf-output", overwrite, write)
  notes.append(f"vocabulary: {vocab}, do_lower_case {do_lower_case}")
  return {role: os.path.join(output, role) for role, _, _ in converted}, prefix, notes


def folder_architecture(folder):
  """The transformers class a written folder's config.json names."""
  return utils.load_json(os.path.join(folder, "config.json"))["architectures"][0]


def export_encoder(prefix, bert_config, vocab_file, do_lower_case, hf_output, overwrite=False):
  """Writes the encoder (electra/...) of checkpoint `prefix` as an ElectraModel folder; returns
  (path, the task-head variables left out)."""
  reader, shapes = read_shapes(prefix)
  word = shapes.get(WORD_EMBEDDINGS)
  if word is None:
    raise ExportError(f"{prefix} has no {WORD_EMBEDDINGS}")
  width = word[1]
  encoder = hf_mapping.ENCODER_ARCHITECTURE
  hf_config = dict(hf_mapping.hf_electra_config(bert_config, width, "discriminator"),
                   architectures=[encoder])
  mapping = hf_mapping.encoder_mapping("", "electra", "electra/embeddings",
                                       bert_config.num_hidden_layers,
                                       width != bert_config.hidden_size)
  heads = hf_mapping.check_all_used([mapping], shapes, hf_mapping.TASK_HEAD_SCOPE)
  tensors = hf_mapping.convert(mapping, reader.get_tensor, shapes, hf_config, encoder)

  def write(staging):
    with export_output.local_copy(vocab_file) as local_vocab:  # hf_mapping reads local files
      hf_mapping.write_folder(staging, hf_config, tensors, local_vocab, do_lower_case)

  return export_output.write_staged(hf_output, "--hf-output", overwrite, write), heads
