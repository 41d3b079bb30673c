"""Our TF1-named ELECTRA checkpoint variables as Hugging Face transformers parameters, both ways.

export_hf.py (model/hf_export.py) and import_hf.py (model/hf_import.py) use this module. For a
pre-trained model the export writes `OUT/discriminator/` (ElectraForPreTraining) and
`OUT/generator/` (ElectraForMaskedLM); for a fine-tuned model directory, OUT itself is an
`ElectraModel` folder (the encoder only: the task heads have no exact transformers class). Each
folder holds:

  config.json              ElectraConfig (HF field names)
  model.safetensors        float32 weights, HF parameter names, written from NumPy
  vocab.txt                the WordPiece vocabulary
  tokenizer_config.json    ElectraTokenizer with the project tokenizer's settings
  special_tokens_map.json

Name mapping (the old transformers TF->PT converter's rules): a TF Dense `<scope>/kernel`
[in, out] is the nn.Linear `<name>.weight` [out, in] (transposed), `<scope>/bias` its `.bias`;
LayerNorm gamma/beta are `.weight`/`.bias`; embedding tables keep their layout. The generator
shares `electra/embeddings` by default: in HF its embeddings are its own copy, so the shared
tables are written into both folders. The MLM output layer `generator_lm_head.weight` is tied to
the generator's word embeddings (tie_word_embeddings, as in our GeneratorHead), so, as
`save_pretrained` does, only its bias (`generator_predictions/output_bias`) is written.

Every HF parameter the architecture has must come from exactly one checkpoint variable with the
expected shape, and every checkpoint variable must be used (optimizer slots and `global_step`
excepted; for a fine-tuned model, the `task_specific/` heads are listed as not exported):
anything else is an ExportError.

The import reads the same mapping backwards (`checkpoint_tensors`): kernels transposed back,
the tied `generator_lm_head.weight` (saved by .bin files) checked against the word embeddings
and dropped, as are the position-id buffers older transformers saved (`NON_WEIGHT_TENSORS`). A
config.json field left out takes ElectraConfig's default (`HF_CONFIG_DEFAULTS`).

This module needs NumPy and, to write the weights, the `safetensors` package; it never imports
TensorFlow or PyTorch (the caller passes a function that reads one checkpoint variable).
"""

import collections
import os

from util import export_output
from util import utils

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                  "cls_token": "[CLS]", "mask_token": "[MASK]"}
PRETRAINED_ARCHITECTURES = {"discriminator": "ElectraForPreTraining",
                            "generator": "ElectraForMaskedLM"}
ENCODER_ARCHITECTURE = "ElectraModel"
# What the PyTorch side needs (no TensorFlow there).
INSTALL_HINT = "pip install torch transformers safetensors"
# Checkpoint variables that are not model weights.
OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v")
NON_MODEL_VARIABLES = ("global_step",)
TASK_HEAD_SCOPE = "task_specific/"
# Our activations by their HuggingFace names ("gelu" is the exact erf GELU in both).
HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "tanh": "tanh", "linear": "linear"}
# model/modeling.py LAYER_NORM_EPSILON, as the original; transformers calls it layer_norm_eps.
LAYER_NORM_EPS = 1e-12
# transformers' ElectraConfig defaults, which apply to the fields a config.json leaves out.
HF_CONFIG_DEFAULTS = {
    "vocab_size": 30522, "embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 12,
    "num_attention_heads": 4, "intermediate_size": 1024, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
    "layer_norm_eps": LAYER_NORM_EPS, "position_embedding_type": "absolute",
    "tie_word_embeddings": True,
}
# The BertConfig fields (model/modeling.py) that an ElectraConfig carries under the same name.
BERT_CONFIG_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size", "hidden_act", "hidden_dropout_prob",
                      "attention_probs_dropout_prob", "max_position_embeddings",
                      "type_vocab_size", "initializer_range")
# Which of our networks each transformers class holds (import_hf.py reads these).
IMPORT_ROLES = {"ElectraForPreTraining": "discriminator", ENCODER_ARCHITECTURE: "discriminator",
                "ElectraForMaskedLM": "generator"}
# Saved tensors that are not weights: position-id buffers (transformers < 4.31 saved them).
NON_WEIGHT_TENSORS = ("electra.embeddings.position_ids", "embeddings.position_ids")
# The MLM output layer, tied to the generator's word embeddings (a .bin holds both).
TIED_OUTPUT_WEIGHT = "generator_lm_head.weight"


class Param(collections.namedtuple("Param", "tf_name transpose")):
  """Where one HF parameter comes from: a checkpoint variable, transposed or not."""


def is_model_variable(name):
  return name not in NON_MODEL_VARIABLES and not name.endswith(OPTIMIZER_SUFFIXES)


# ----------------------------------------------------------------------------------------------
# The mapping.

def hf_electra_config(bert_config, embedding_size, role):
  """The ElectraConfig dict (HF's field names) of one network; role: discriminator/generator."""
  act = bert_config.hidden_act
  return {
      "architectures": [PRETRAINED_ARCHITECTURES[role]],
      "model_type": "electra",
      "vocab_size": bert_config.vocab_size,
      "embedding_size": embedding_size,
      "hidden_size": bert_config.hidden_size,
      "num_hidden_layers": bert_config.num_hidden_layers,
      "num_attention_heads": bert_config.num_attention_heads,
      "intermediate_size": bert_config.intermediate_size,
      "hidden_act": HF_ACTIVATIONS.get(act, act),
      "hidden_dropout_prob": bert_config.hidden_dropout_prob,
      "attention_probs_dropout_prob": bert_config.attention_probs_dropout_prob,
      "max_position_embeddings": bert_config.max_position_embeddings,
      "type_vocab_size": bert_config.type_vocab_size,
      "initializer_range": bert_config.initializer_range,
      "layer_norm_eps": LAYER_NORM_EPS,
      "pad_token_id": 0,
  }


def _linear(mapping, hf_name, tf_scope):
  mapping[f"{hf_name}.weight"] = Param(f"{tf_scope}/kernel", True)
  mapping[f"{hf_name}.bias"] = Param(f"{tf_scope}/bias", False)


def _layer_norm(mapping, hf_name, tf_scope):
  mapping[f"{hf_name}.weight"] = Param(f"{tf_scope}/gamma", False)
  mapping[f"{hf_name}.bias"] = Param(f"{tf_scope}/beta", False)


def encoder_mapping(prefix, scope, embedding_scope, num_layers, has_projection):
  """{HF name: Param} of one ElectraModel; `prefix` is "electra." inside the task models."""
  mapping = collections.OrderedDict()
  for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
    mapping[f"{prefix}embeddings.{table}.weight"] = Param(f"{embedding_scope}/{table}", False)
  _layer_norm(mapping, f"{prefix}embeddings.LayerNorm", f"{embedding_scope}/LayerNorm")
  if has_projection:
    _linear(mapping, f"{prefix}embeddings_project", f"{scope}/embeddings_project")
  for i in range(num_layers):
    hf, tf_layer = f"{prefix}encoder.layer.{i}", f"{scope}/encoder/layer_{i}"
    for part in ("query", "key", "value"):
      _linear(mapping, f"{hf}.attention.self.{part}", f"{tf_layer}/attention/self/{part}")
    _linear(mapping, f"{hf}.attention.output.dense", f"{tf_layer}/attention/output/dense")
    _layer_norm(mapping, f"{hf}.attention.output.LayerNorm",
                f"{tf_layer}/attention/output/LayerNorm")
    _linear(mapping, f"{hf}.intermediate.dense", f"{tf_layer}/intermediate/dense")
    _linear(mapping, f"{hf}.output.dense", f"{tf_layer}/output/dense")
    _layer_norm(mapping, f"{hf}.output.LayerNorm", f"{tf_layer}/output/LayerNorm")
  return mapping


def discriminator_mapping(num_layers, has_projection):
  """ElectraForPreTraining <- electra/... and discriminator_predictions/dense, dense_1."""
  mapping = encoder_mapping("electra.", "electra", "electra/embeddings", num_layers,
                            has_projection)
  _linear(mapping, "discriminator_predictions.dense", "discriminator_predictions/dense")
  _linear(mapping, "discriminator_predictions.dense_prediction",
          "discriminator_predictions/dense_1")
  return mapping


def generator_mapping(scope, embedding_scope, num_layers, has_projection):
  """ElectraForMaskedLM <- the generator tower (scope "generator", or "electra" when the
  generator is the discriminator's encoder), its embeddings and generator_predictions/*."""
  mapping = encoder_mapping("electra.", scope, embedding_scope, num_layers, has_projection)
  _linear(mapping, "generator_predictions.dense", "generator_predictions/dense")
  _layer_norm(mapping, "generator_predictions.LayerNorm", "generator_predictions/LayerNorm")
  mapping["generator_lm_head.bias"] = Param("generator_predictions/output_bias", False)
  return mapping


def expected_hf_shapes(hf_config, architecture):
  """{parameter name: shape} that transformers' `architecture` has for `hf_config` (a dict),
  as its save_pretrained writes them (the tied generator_lm_head.weight left out); written
  from modeling_electra.py independently of the TF mapping, which is checked against it."""
  e, h = hf_config["embedding_size"], hf_config["hidden_size"]
  inner, vocab = hf_config["intermediate_size"], hf_config["vocab_size"]
  prefix = "" if architecture == ENCODER_ARCHITECTURE else "electra."
  shapes = {
      f"{prefix}embeddings.word_embeddings.weight": [vocab, e],
      f"{prefix}embeddings.position_embeddings.weight": [hf_config["max_position_embeddings"], e],
      f"{prefix}embeddings.token_type_embeddings.weight": [hf_config["type_vocab_size"], e],
      f"{prefix}embeddings.LayerNorm.weight": [e],
      f"{prefix}embeddings.LayerNorm.bias": [e],
  }
  if e != h:
    shapes.update({f"{prefix}embeddings_project.weight": [h, e],
                   f"{prefix}embeddings_project.bias": [h]})
  for i in range(hf_config["num_hidden_layers"]):
    layer = f"{prefix}encoder.layer.{i}"
    for name, out_dim, in_dim in (("attention.self.query", h, h), ("attention.self.key", h, h),
                                  ("attention.self.value", h, h),
                                  ("attention.output.dense", h, h),
                                  ("intermediate.dense", inner, h), ("output.dense", h, inner)):
      shapes[f"{layer}.{name}.weight"] = [out_dim, in_dim]
      shapes[f"{layer}.{name}.bias"] = [out_dim]
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
      shapes[f"{layer}.{name}.weight"] = [h]
      shapes[f"{layer}.{name}.bias"] = [h]
  if architecture == "ElectraForPreTraining":
    shapes.update({"discriminator_predictions.dense.weight": [h, h],
                   "discriminator_predictions.dense.bias": [h],
                   "discriminator_predictions.dense_prediction.weight": [1, h],
                   "discriminator_predictions.dense_prediction.bias": [1]})
  elif architecture == "ElectraForMaskedLM":
    shapes.update({"generator_predictions.dense.weight": [e, h],
                   "generator_predictions.dense.bias": [e],
                   "generator_predictions.LayerNorm.weight": [e],
                   "generator_predictions.LayerNorm.bias": [e],
                   "generator_lm_head.bias": [vocab]})
  elif architecture != ENCODER_ARCHITECTURE:
    raise ValueError(f"unknown architecture {architecture}")
  return shapes


def convert(mapping, read_variable, tf_shapes, hf_config, architecture):
  """{HF name: float32 C-contiguous array}; ExportError unless the mapping gives exactly the
  parameters `architecture` expects, each from an existing variable of the right shape."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  expected = expected_hf_shapes(hf_config, architecture)
  problems = []
  unmapped = sorted(set(expected) - set(mapping))
  if unmapped:
    problems.append(f"HF parameters left unmapped: {', '.join(unmapped[:5])}")
  unknown = sorted(set(mapping) - set(expected))
  if unknown:
    problems.append(f"mapped names {architecture} does not have: {', '.join(unknown[:5])}")
  missing = sorted(p.tf_name for p in mapping.values() if p.tf_name not in tf_shapes)
  if missing:
    problems.append(f"the checkpoint lacks {', '.join(missing[:5])}"
                    f"{' ...' if len(missing) > 5 else ''}")
  if problems:
    raise export_output.ExportError(
        f"cannot map the checkpoint onto {architecture}: {'; '.join(problems)}")
  tensors = collections.OrderedDict()
  for hf_name, param in mapping.items():
    shape = list(tf_shapes[param.tf_name])
    if param.transpose:
      shape = shape[::-1]
    if shape != expected[hf_name]:
      raise export_output.ExportError(
          f"{param.tf_name} {list(tf_shapes[param.tf_name])} does not fit "
          f"{architecture}'s {hf_name} {expected[hf_name]} (wrong sizes?)")
    value = np.asarray(read_variable(param.tf_name), dtype=np.float32)
    tensors[hf_name] = np.ascontiguousarray(value.T if param.transpose else value)
  return tensors


def check_all_used(mappings, tf_names, allowed_unused_prefix=None):
  """ExportError if a model variable of the checkpoint is used by no mapping; returns the
  unused ones under `allowed_unused_prefix` (task heads, reported as not exported)."""
  used = {p.tf_name for mapping in mappings for p in mapping.values()}
  unused = sorted(name for name in tf_names if is_model_variable(name) and name not in used)
  allowed = [n for n in unused if allowed_unused_prefix and n.startswith(allowed_unused_prefix)]
  left = [n for n in unused if n not in allowed]
  if left:
    raise export_output.ExportError(
        f"{len(left)} checkpoint variable(s) have no place in the HF models: "
        f"{', '.join(left[:5])}{' ...' if len(left) > 5 else ''}")
  return allowed


# ----------------------------------------------------------------------------------------------
# Reading (import_hf.py): HF parameters back to checkpoint variables.

def with_hf_defaults(hf_config):
  """config.json's values over ElectraConfig's defaults."""
  return dict(HF_CONFIG_DEFAULTS, **hf_config)


def config_problems(hf_config):
  """What in a (defaults-filled) ElectraConfig our encoder cannot reproduce; [] if nothing."""
  problems = []
  if hf_config["hidden_act"] not in HF_ACTIVATIONS.values():
    problems.append(f"hidden_act {hf_config['hidden_act']!r} (this project has "
                    f"{', '.join(sorted(HF_ACTIVATIONS.values()))})")
  if hf_config["layer_norm_eps"] != LAYER_NORM_EPS:
    problems.append(f"layer_norm_eps {hf_config['layer_norm_eps']} (this project's LayerNorm "
                    f"uses {LAYER_NORM_EPS}, as the original)")
  if hf_config["position_embedding_type"] != "absolute":
    problems.append(f"position_embedding_type {hf_config['position_embedding_type']!r} "
                    f"(this project has absolute position embeddings only)")
  return problems


def bert_config_fields(hf_config):
  """The BertConfig fields (model/modeling.py) of a defaults-filled ElectraConfig dict: the
  inverse of `hf_electra_config`."""
  ours = {hf: tf for tf, hf in HF_ACTIVATIONS.items()}
  fields = {key: hf_config[key] for key in BERT_CONFIG_FIELDS}
  fields["hidden_act"] = ours[hf_config["hidden_act"]]
  return fields


def import_mapping(architecture, hf_config, scope="electra", embedding_scope="electra/embeddings"):
  """{HF name: Param} of one transformers model read back into our names: the discriminator
  (ElectraForPreTraining, or ElectraModel: the encoder alone) or the generator tower under
  `scope` with its embeddings under `embedding_scope` (ElectraForMaskedLM)."""
  layers = hf_config["num_hidden_layers"]
  projection = hf_config["embedding_size"] != hf_config["hidden_size"]
  if architecture == "ElectraForPreTraining":
    return discriminator_mapping(layers, projection)
  if architecture == ENCODER_ARCHITECTURE:
    return encoder_mapping("", "electra", "electra/embeddings", layers, projection)
  if architecture == "ElectraForMaskedLM":
    return generator_mapping(scope, embedding_scope, layers, projection)
  raise ValueError(f"unknown architecture {architecture}")


def checkpoint_shapes(mapping, hf_shapes):
  """{checkpoint name: shape} that `mapping` makes of HF parameters shaped `hf_shapes`."""
  return {param.tf_name: list(hf_shapes[hf_name])[::-1] if param.transpose
          else list(hf_shapes[hf_name]) for hf_name, param in mapping.items()}


def checkpoint_tensors(mapping, hf_tensors):
  """{checkpoint name: float32 array} of the HF tensors `mapping` names (kernels transposed
  back to TF's [in, out]); every name of the mapping must be in `hf_tensors`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  tensors = collections.OrderedDict()
  for hf_name, param in mapping.items():
    value = np.asarray(hf_tensors[hf_name], dtype=np.float32)
    tensors[param.tf_name] = np.ascontiguousarray(value.T if param.transpose else value)
  return tensors


# ----------------------------------------------------------------------------------------------
# Writing.

def tokenizer_config(do_lower_case, model_max_length):
  """The project tokenizer (model/tokenization.py: BERT BasicTokenizer + WordPiece) as HF's
  ElectraTokenizer settings: spaces around CJK ideographs, lower-casing with accent stripping
  (strip_accents null follows do_lower_case, as ours strips accents only when lower-casing)."""
  return dict(SPECIAL_TOKENS, tokenizer_class="ElectraTokenizer", do_lower_case=do_lower_case,
              tokenize_chinese_chars=True, strip_accents=None, do_basic_tokenize=True,
              model_max_length=model_max_length, clean_up_tokenization_spaces=True)


def read_vocab(vocab_file):
  """The tokens as model/tokenization.py's load_vocab reads them (lines split on "\\n" only,
  stripped), so the written vocab.txt gives every token the id the project gives it."""
  with open(vocab_file, "rb") as f:
    lines = f.read().split(b"\n")
  if lines and not lines[-1]:
    lines.pop()
  return [line.decode("utf-8", "ignore").strip() for line in lines]


def save_safetensors(tensors, path):
  try:
    from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise export_output.ExportError("writing model.safetensors needs the safetensors package: "
                                    "pip install safetensors") from None
  # "format": "pt" is what transformers' save_pretrained writes and what from_pretrained reads.
  save_file(dict(tensors), path, metadata={"format": "pt"})
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(path, 0o666 & ~umask)  # safetensors creates the file owner-only


def write_folder(directory, hf_config, tensors, vocab_file, do_lower_case):
  """One from_pretrained-able folder: config, weights, vocabulary and tokenizer files."""
  os.makedirs(directory, exist_ok=True)
  vocab = read_vocab(vocab_file)
  missing = [token for token in SPECIAL_TOKENS.values() if token not in vocab]
  if missing:
    raise export_output.ExportError(
        f"{vocab_file} lacks the special tokens {', '.join(missing)}")
  if len(vocab) > hf_config["vocab_size"]:
    raise export_output.ExportError(
        f"{vocab_file} has {len(vocab)} tokens, more than the model's vocab_size "
        f"{hf_config['vocab_size']} (wrong vocabulary?)")
  hf_config = dict(hf_config, pad_token_id=vocab.index("[PAD]"))
  utils.write_json(hf_config, os.path.join(directory, CONFIG_FILE))
  save_safetensors(tensors, os.path.join(directory, WEIGHTS_FILE))
  utils.write_text(os.path.join(directory, VOCAB_FILE), "".join(token + "\n" for token in vocab))
  utils.write_json(tokenizer_config(do_lower_case, hf_config["max_position_embeddings"]),
                   os.path.join(directory, TOKENIZER_CONFIG_FILE))
  utils.write_json(SPECIAL_TOKENS, os.path.join(directory, SPECIAL_TOKENS_FILE))
