"""Exports a fine-tuned model as a SavedModel, or writes HuggingFace configs for a pre-trained one.

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

Pre-trained model -> Hugging Face transformers folders (PyTorch side: pip install torch
transformers safetensors; no TensorFlow needed there):

    python export_model.py --pretrained-dir DATA/models/NAME --hf-output /tmp/NAME_hf

  writes /tmp/NAME_hf/discriminator (ElectraForPreTraining) and /tmp/NAME_hf/generator
  (ElectraForMaskedLM), each with config.json, model.safetensors (written from NumPy, no
  torch), vocab.txt, tokenizer_config.json and special_tokens_map.json, from the newest
  checkpoint (see export_hf.py for the name mapping and its checks):

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

    python export_model.py --model-dir .../finetuning_models/chnsenticorp_model_1 \\
        --hf-output /tmp/chnsenticorp_encoder_hf   [--output SAVEDMODEL_DIR as well]

  Only the encoder (electra/...): this project's task heads (classification, QA with the
  joint/answerable variants) have no exact transformers class, so they are not mapped; the
  output lists them. ElectraModel.from_pretrained(DIR) gives the fine-tuned hidden states.
"""

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import uuid

import export_hf
from util import fileio

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TensorFlow's start-up chatter quiet.

PROGRAM = "export_model.py"
SIGNATURE_KEY = "serving_default"
INFO_FILE = "export_info.json"
LABELS_FILE = "labels.txt"
HF_CONFIG_FILES = {"discriminator": "hf_discriminator_config.json",
                   "generator": "hf_generator_config.json"}
HF_ARCHITECTURES = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}
# Our activations by their HuggingFace names ("gelu" is the exact erf GELU in both).
HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "tanh": "tanh", "linear": "linear"}


ExportError = export_hf.ExportError  # A mistake the user can fix; the message is one line.


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      prog=PROGRAM,
      description="Export a fine-tuned ELECTRA model directory to a TensorFlow SavedModel "
      "and/or its encoder to a Hugging Face ElectraModel folder, or a pre-training checkpoint "
      "directory to Hugging Face ElectraForPreTraining / ElectraForMaskedLM folders.")
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--model-dir", help="A fine-tuned model directory written by "
                      "run_finetuning.py (finetuning_config.json, vocab.txt, model.ckpt-N).")
  source.add_argument("--pretrained-dir", help="A pre-training checkpoint directory (e.g. "
                      "DATA/models/NAME written by run_pretraining.py).")
  parser.add_argument("--output", help="SavedModel directory (with --model-dir); with "
                      "--pretrained-dir and no --hf-output, where the HF configs go (default: "
                      "the pre-trained dir).")
  parser.add_argument("--hf-output", help="Write Hugging Face transformers folders here "
                      "(safetensors weights, config, tokenizer files): discriminator/ and "
                      "generator/ for --pretrained-dir, an ElectraModel folder of the encoder "
                      "for --model-dir.")
  parser.add_argument("--vocab-file", help="With --pretrained-dir --hf-output: the vocabulary "
                      "(default: vocab.txt in the directory or two levels up).")
  parser.add_argument("--task", help="Task to export, for models fine-tuned on several tasks.")
  parser.add_argument("--overwrite", action="store_true",
                      help="Replace an existing non-empty --output / --hf-output directory.")
  hf = parser.add_argument_group("--pretrained-dir sizes (override the directory's JSONs)")
  hf.add_argument("--model-size", choices=("small", "base", "large"))
  hf.add_argument("--embedding-size", type=int)
  hf.add_argument("--vocab-size", type=int)
  hf.add_argument("--generator-hidden-size", type=float,
                  help="Generator width as a fraction of the discriminator's (default 0.25).")
  hf.add_argument("--generator-layers", type=float,
                  help="Generator depth as a fraction of the discriminator's (default 1.0).")
  args = parser.parse_args(argv)
  if args.model_dir and not (args.output or args.hf_output):
    parser.error("--model-dir needs --output (the SavedModel directory) and/or --hf-output")
  return args


def fail(message):
  """Exits with one line on stderr (no traceback): for mistakes the user can fix."""
  sys.exit(f"{PROGRAM}: error: {message}")


def log(message):
  print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# SavedModel export.

def export_info(config, task, checkpoint, is_qa):
  info = {
      "task": task.name,
      "task_type": "qa" if is_qa else "classification",
      "max_seq_length": config.max_seq_length,
      "do_lower_case": config.do_lower_case,
      "vocab_file": "vocab.txt",
      "signature": SIGNATURE_KEY,
      "inputs": {name: "int32 [batch, length]"
                 for name in ("input_ids", "input_mask", "segment_ids")},
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


def build_serving_module(config, tasks, model, task, asset_dir, checkpoint=None):
  """A tf.Module with the `serve` tf.function, the model's variables and the assets."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel

  qa = inference.is_qa(task)
  head = model.heads[list(tasks).index(task)]
  beam_size = head.beam_size if qa and head.joint_prediction else 0

  def write(name, text):
    path = os.path.join(asset_dir, name)
    with open(path, "w", encoding="utf-8") as f:
      f.write(text)
    return path

  module = tf.Module()
  module.model_variables = list(model.all_variables().values())
  module.task_name = tf.Variable(task.name, trainable=False, name="task_name")
  module.max_seq_length = tf.Variable(config.max_seq_length, dtype=tf.int32, trainable=False,
                                      name="max_seq_length")
  labels = [] if qa else list(task.label_list)
  module.labels = tf.Variable(tf.constant(labels, tf.string, shape=[len(labels)]),
                              trainable=False, name="labels")
  fileio.copy(config.vocab_file, os.path.join(asset_dir, "vocab.txt"), overwrite=True)
  module.vocab_asset = tf.saved_model.Asset(os.path.join(asset_dir, "vocab.txt"))
  info = export_info(config, task, checkpoint, qa)
  module.info_asset = tf.saved_model.Asset(
      write(INFO_FILE, json.dumps(info, indent=2, ensure_ascii=False) + "\n"))
  if not qa:
    module.labels_asset = tf.saved_model.Asset(write(LABELS_FILE, "".join(
        label + "\n" for label in labels)))

  spec = lambda name: tf.TensorSpec([None, None], tf.int32, name=name)

  @tf.function(input_signature=[spec("input_ids"), spec("input_mask"), spec("segment_ids")])
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

  module.serve = serve
  return module


def export_saved_model(model_dir, output, task_name=None, overwrite=False):
  """Writes the SavedModel of `model_dir` to `output`; returns its export_info dict."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel

  output = _check_output(output, "--output", overwrite)
  try:
    config, tasks, model = inference.load_finetuned(model_dir)
    task = inference.select_task(tasks, task_name)
  except inference.ModelDirError as e:
    raise ExportError(str(e)) from None
  checkpoint = inference.latest_checkpoint(model_dir)
  staging = _staging_path(output)
  with tempfile.TemporaryDirectory() as asset_dir:
    module = build_serving_module(config, tasks, model, task, asset_dir,
                                  _absolute(checkpoint))
    try:  # tf.saved_model.save writes remote (gs://) directories itself.
      tf.saved_model.save(module, staging,
                          signatures={SIGNATURE_KEY: module.serve.get_concrete_function()})
    except BaseException:
      _remove_quietly(staging)
      raise
  _replace(staging, output)
  with fileio.open_file(os.path.join(output, "assets", INFO_FILE)) as f:
    return json.load(f)


def _absolute(path):
  return path if fileio.is_remote(path) else os.path.abspath(path)


def _check_output(output, flag, overwrite):
  """The output path (absolute if local), refused if it is a file or, without overwrite, a
  non-empty directory."""
  output = _absolute(output).rstrip("/")
  if fileio.exists(output) and not fileio.isdir(output):
    raise ExportError(f"{flag} {output} exists and is not a directory")
  if fileio.isdir(output) and fileio.listdir(output) and not overwrite:
    raise ExportError(f"{flag} {output} is not empty (pass --overwrite to replace it)")
  return output


def _staging_path(output):
  """A sibling of `output` whose name does not start with output's (ram:// matches prefixes)."""
  parent = fileio.parent(output)
  fileio.makedirs(parent)
  name = output.rsplit("/", 1)[-1]
  return f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"


def _remove_quietly(path):
  try:
    if fileio.exists(path):
      fileio.rmtree(path)
  except Exception:  # pylint: disable=broad-except (cleanup of a failed export; keep its error)
    pass


def _replace(staging, output):
  """Only a complete export replaces the old one (an atomic rename on a local disk; file by file
  on a remote file system)."""
  if fileio.isdir(output):
    fileio.rmtree(output)
  fileio.rename_tree(staging, output)


# ----------------------------------------------------------------------------------------------
# HuggingFace configs for a pre-training checkpoint.

def hf_electra_config(bert_config, embedding_size, role):
  """The ElectraConfig dict (HF's field names) of one network; role: discriminator/generator."""
  act = bert_config.hidden_act
  return {
      "architectures": [HF_ARCHITECTURES[role]],
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
      "layer_norm_eps": 1e-12,  # model/modeling.py LAYER_NORM_EPSILON, as the original
      "pad_token_id": 0,
  }


def _read_json(path):
  try:
    with fileio.open_file(path) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise ExportError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None


def _checkpoint_shapes(pretrained_dir):
  """(prefix, {name: shape}) of the directory's newest checkpoint, or (None, {})."""
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  try:
    prefix = checkpoint_lib.resolve_checkpoint(pretrained_dir)
  except FileNotFoundError:
    return None, {}
  reader = checkpoint_lib.read_prefix(prefix)
  return prefix, {name: list(shape) for name, shape in
                  reader.get_variable_to_shape_map().items()}


class PretrainedSizes:
  """The discriminator and generator BertConfigs and embedding sizes of a pre-trained model."""

  def __init__(self, disc, gen, disc_embedding, gen_embedding, tied_generator,
               untied_embeddings, sources):
    self.disc = disc
    self.gen = gen
    self.disc_embedding = disc_embedding
    self.gen_embedding = gen_embedding
    self.tied_generator = tied_generator  # the generator IS the discriminator encoder
    self.untied_embeddings = untied_embeddings  # generator has its own H_gen-wide embeddings
    self.sources = sources


def pretrained_sizes(pretrained_dir, shapes, model_size=None, embedding_size=None,
                     vocab_size=None, generator_hidden_size=None, generator_layers=None):
  """Sizes from the flags, else the directory's JSONs, else the checkpoint / size defaults."""
  from model import modeling  # pylint: disable=import-outside-toplevel
  path = lambda name: os.path.join(pretrained_dir, name)
  pretrain = _read_json(path("pretrain_config.json")) if fileio.exists(
      path("pretrain_config.json")) else {}
  sources = []
  word = shapes.get("electra/embeddings/word_embeddings")
  if vocab_size is None and word is not None and not fileio.exists(
      path("discriminator_config.json")):
    vocab_size = word[0]
  if model_size is not None or vocab_size is not None or not fileio.exists(
      path("discriminator_config.json")):
    size = model_size or pretrain.get("model_size") or "small"
    vocab = vocab_size or pretrain.get("vocab_size") or 21128
    disc = modeling.get_bert_config(size, vocab, pretrain.get("model_hparam_overrides"))
    sources.append(f"discriminator: model_size {size}, vocab_size {vocab}")
  else:
    disc = modeling.BertConfig.from_json_file(path("discriminator_config.json"))
    sources.append("discriminator: discriminator_config.json")
  untied_generator = pretrain.get("untied_generator", True) and pretrain.get(
      "electra_objective", True)
  untied_embeddings = bool(pretrain.get("untied_generator_embeddings", False))
  if shapes:  # The checkpoint knows which generator variables exist.
    untied_generator = any(name.startswith("generator/") for name in shapes)
    untied_embeddings = "generator/embeddings/word_embeddings" in shapes
  if not untied_generator:
    gen = disc
    sources.append("generator: the discriminator's encoder (tied generator)")
  elif (generator_hidden_size is None and generator_layers is None and model_size is None
        and vocab_size is None and fileio.exists(path("generator_config.json"))):
    gen = modeling.BertConfig.from_json_file(path("generator_config.json"))
    sources.append("generator: generator_config.json")
  else:
    hidden = generator_hidden_size or pretrain.get("generator_hidden_size", 0.25)
    layers = generator_layers or pretrain.get("generator_layers", 1.0)
    gen = modeling.get_generator_config(disc, hidden, layers)
    sources.append(f"generator: {hidden} x hidden, {layers} x layers of the discriminator")
  if embedding_size is not None:
    sources.append("embedding_size: --embedding-size")
  elif word is not None:
    embedding_size = word[1]
    sources.append("embedding_size: the checkpoint's word embeddings")
  elif "embedding_size" in pretrain:
    embedding_size = pretrain["embedding_size"] or disc.hidden_size
    sources.append("embedding_size: pretrain_config.json")
  else:
    small = (model_size or pretrain.get("model_size")) in (None, "small")
    embedding_size = 128 if small else disc.hidden_size
    sources.append("embedding_size: the model size's default")
  gen_embedding = gen.hidden_size if untied_embeddings else embedding_size
  return PretrainedSizes(disc, gen, embedding_size, gen_embedding, not untied_generator,
                         untied_embeddings, sources)


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
  if not sizes.tied_generator:
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


def _load_pretrained(pretrained_dir, **size_flags):
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


def export_hf_configs(pretrained_dir, output_dir=None, **size_flags):
  """Writes both HF configs (no weights); returns (paths {role: path}, prefix or None, notes)."""
  output_dir = output_dir or pretrained_dir
  prefix, _, sizes, notes = _load_pretrained(pretrained_dir, **size_flags)
  if prefix is None:
    notes.append(f"no checkpoint found in {pretrained_dir}: sizes not checked")
  fileio.makedirs(output_dir)
  paths = {}
  for role, config, embedding in (("discriminator", sizes.disc, sizes.disc_embedding),
                                  ("generator", sizes.gen, sizes.gen_embedding)):
    paths[role] = os.path.join(output_dir, HF_CONFIG_FILES[role])
    with fileio.open_file(paths[role], "w") as f:
      f.write(json.dumps(hf_electra_config(config, embedding, role), indent=2,
                         sort_keys=True) + "\n")
  return paths, prefix, notes


def find_vocab(pretrained_dir, vocab_file=None):
  """--vocab-file, else vocab.txt in the pre-trained dir or in DATA (DATA/models/NAME)."""
  if vocab_file:
    if not fileio.isfile(vocab_file):
      raise ExportError(f"--vocab-file {vocab_file} not found")
    return vocab_file
  data_dir = fileio.parent(fileio.parent(_absolute(pretrained_dir).rstrip("/")))
  candidates = [os.path.join(pretrained_dir, "vocab.txt"), os.path.join(data_dir, "vocab.txt")]
  for path in candidates:
    if fileio.isfile(path):
      return path
  raise ExportError(f"no vocabulary found ({' or '.join(candidates)}): pass --vocab-file")


def _write_staged(output, overwrite, write):
  """Calls write(local staging dir), then moves the complete result to `output`; a remote
  output is uploaded beside it first (export_hf writes local files)."""
  output = _check_output(output, "--hf-output", overwrite)
  staging = _staging_path(output)
  local = tempfile.mkdtemp() if fileio.is_remote(output) else None
  try:
    write(os.path.join(local, "out") if local else staging)
    if local:
      fileio.copy_tree(os.path.join(local, "out"), staging)
  except BaseException:
    _remove_quietly(staging)
    raise
  finally:
    if local:
      shutil.rmtree(local, ignore_errors=True)
  _replace(staging, output)
  return output


def pretrained_hf_models(sizes, shapes):
  """[(role, architecture, HF config dict, {HF name: Param})] of a pre-training checkpoint."""
  disc_config = hf_electra_config(sizes.disc, sizes.disc_embedding, "discriminator")
  disc_projection = sizes.disc_embedding != sizes.disc.hidden_size
  if "discriminator_predictions/dense/kernel" in shapes:
    disc = ("discriminator", "ElectraForPreTraining", disc_config,
            export_hf.discriminator_mapping(sizes.disc.num_hidden_layers, disc_projection))
  else:  # electra_objective false: no discriminator head, the encoder alone
    disc = ("discriminator", export_hf.ENCODER_ARCHITECTURE,
            dict(disc_config, architectures=[export_hf.ENCODER_ARCHITECTURE]),
            export_hf.encoder_mapping("", "electra", "electra/embeddings",
                                      sizes.disc.num_hidden_layers, disc_projection))
  if sizes.gen.hidden_act != "gelu":
    raise ExportError(f"the generator's hidden_act is {sizes.gen.hidden_act}: transformers' "
                      f"ElectraGeneratorPredictions always applies gelu")
  gen_scope = "electra" if sizes.tied_generator else "generator"
  gen_embeddings = "generator/embeddings" if sizes.untied_embeddings else "electra/embeddings"
  gen = ("generator", "ElectraForMaskedLM",
         dict(hf_electra_config(sizes.gen, sizes.gen_embedding, "generator"),
              tie_word_embeddings=True),
         export_hf.generator_mapping(gen_scope, gen_embeddings, sizes.gen.num_hidden_layers,
                                     sizes.gen_embedding != sizes.gen.hidden_size))
  return [disc, gen]


def export_hf_pretrained(pretrained_dir, hf_output, overwrite=False, vocab_file=None,
                         **size_flags):
  """Writes HF_OUTPUT/discriminator and /generator; returns ({role: path}, prefix, notes)."""
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  prefix, shapes, sizes, notes = _load_pretrained(pretrained_dir, **size_flags)
  if prefix is None:
    raise ExportError(f"no checkpoint found in {pretrained_dir}")
  vocab = find_vocab(pretrained_dir, vocab_file)
  pretrain_path = os.path.join(pretrained_dir, "pretrain_config.json")
  pretrain = _read_json(pretrain_path) if fileio.exists(pretrain_path) else {}
  do_lower_case = bool(pretrain.get("do_lower_case", True))
  models = pretrained_hf_models(sizes, shapes)
  export_hf.check_all_used([mapping for _, _, _, mapping in models], shapes)
  reader = checkpoint_lib.read_prefix(prefix)
  converted = [(role, export_hf.convert(mapping, reader.get_tensor, shapes, config, arch),
                config) for role, arch, config, mapping in models]
  if sizes.tied_generator:
    notes.append("the generator is the discriminator's encoder (untied_generator false): "
                 "generator/ holds a copy of it with the MLM head")
  elif not sizes.untied_embeddings:
    notes.append("the generator shares the discriminator's embeddings: both folders hold them")
  if models[0][1] == export_hf.ENCODER_ARCHITECTURE:
    notes.append("no discriminator head in the checkpoint: discriminator/ is an ElectraModel")

  def write(staging):
    with _local_copy(vocab) as local_vocab:  # export_hf reads local files only
      for role, tensors, config in converted:
        export_hf.write_folder(os.path.join(staging, role), config, tensors, local_vocab,
                               do_lower_case)

  output = _write_staged(hf_output, overwrite, write)
  notes.append(f"vocabulary: {vocab}, do_lower_case {do_lower_case}")
  return {role: os.path.join(output, role) for role, _, _ in converted}, prefix, notes


def export_hf_finetuned(model_dir, hf_output, overwrite=False):
  """Writes the encoder of a fine-tuned model directory as an ElectraModel folder; returns
  (path, checkpoint prefix, the task-head variables left out)."""
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  from finetune import finetuning_model  # pylint: disable=import-outside-toplevel
  from finetune import inference  # pylint: disable=import-outside-toplevel
  try:
    config = inference.load_config(model_dir)
    prefix = inference.latest_checkpoint(model_dir)
  except inference.ModelDirError as e:
    raise ExportError(str(e)) from None
  reader = checkpoint_lib.read_prefix(prefix)
  shapes = {name: list(shape) for name, shape in reader.get_variable_to_shape_map().items()}
  bert = finetuning_model.bert_config_from(config)
  word = shapes.get("electra/embeddings/word_embeddings")
  if word is None:
    raise ExportError(f"{prefix} has no electra/embeddings/word_embeddings")
  width = word[1]
  hf_config = dict(hf_electra_config(bert, width, "discriminator"),
                   architectures=[export_hf.ENCODER_ARCHITECTURE])
  mapping = export_hf.encoder_mapping("", "electra", "electra/embeddings",
                                      bert.num_hidden_layers, width != bert.hidden_size)
  heads = export_hf.check_all_used([mapping], shapes, export_hf.TASK_HEAD_SCOPE)
  tensors = export_hf.convert(mapping, reader.get_tensor, shapes, hf_config,
                              export_hf.ENCODER_ARCHITECTURE)
  def write(staging):
    with _local_copy(config.vocab_file) as local_vocab:  # export_hf reads local files only
      export_hf.write_folder(staging, hf_config, tensors, local_vocab, config.do_lower_case)

  return _write_staged(hf_output, overwrite, write), prefix, heads


@contextlib.contextmanager
def _local_copy(path):
  """`path` itself if local, else a temporary local copy of it."""
  if not fileio.is_remote(path):
    yield path
    return
  with tempfile.TemporaryDirectory() as directory:
    local = os.path.join(directory, path.rsplit("/", 1)[-1])
    fileio.copy(path, local, overwrite=True)
    yield local


# ----------------------------------------------------------------------------------------------
# Main.

def main(argv=None):
  args = parse_args(argv)
  size_flags = dict(model_size=args.model_size, embedding_size=args.embedding_size,
                    vocab_size=args.vocab_size, generator_hidden_size=args.generator_hidden_size,
                    generator_layers=args.generator_layers)
  if args.pretrained_dir:
    try:
      if args.hf_output:
        paths, prefix, notes = export_hf_pretrained(args.pretrained_dir, args.hf_output,
                                                    args.overwrite, args.vocab_file,
                                                    **size_flags)
      else:
        paths, prefix, notes = export_hf_configs(args.pretrained_dir, args.output,
                                                 **size_flags)
    except ExportError as e:
      fail(str(e))
    for note in notes:
      log(f"{PROGRAM}: {note}")
    if not args.hf_output:
      for path in paths.values():
        print(f"Wrote {path}" + (f" (sizes checked against {prefix})" if prefix else ""))
      print(f"For PyTorch, write Hugging Face folders with the weights: {PROGRAM} "
            f"--pretrained-dir {shlex.quote(args.pretrained_dir)} --hf-output DIR")
      return paths
    print(f"Exported {prefix} to Hugging Face transformers folders:")
    for role, path in paths.items():
      print(f"  {role}: {path} ({export_hf.PRETRAINED_ARCHITECTURES[role]})")
    print(f"Load them with PyTorch ({export_hf.INSTALL_HINT}; no TensorFlow needed):")
    print(f"  from transformers import AutoTokenizer, ElectraForPreTraining, ElectraForMaskedLM\n"
          f"  tokenizer = AutoTokenizer.from_pretrained({paths['discriminator']!r})\n"
          f"  discriminator = ElectraForPreTraining.from_pretrained({paths['discriminator']!r})\n"
          f"  generator = ElectraForMaskedLM.from_pretrained({paths['generator']!r})")
    return paths
  if not fileio.isdir(args.model_dir):
    fail(f"model directory not found: {args.model_dir}")
  result = {}
  if args.output:
    try:
      info = export_saved_model(args.model_dir, args.output, args.task, args.overwrite)
    except ExportError as e:
      fail(str(e))
    print(f"Exported {info['task']} ({info['task_type']}) from {info['checkpoint']} to "
          f"{_absolute(args.output)}")
    print(f"Inspect it with: saved_model_cli show --dir {shlex.quote(args.output)} --all")
    result = info
  if args.hf_output:
    try:
      path, prefix, heads = export_hf_finetuned(args.model_dir, args.hf_output, args.overwrite)
    except ExportError as e:
      fail(str(e))
    print(f"Exported the encoder of {prefix} to {path} (transformers ElectraModel)")
    if heads:
      print(f"Not exported: the task heads ({len(heads)} variables under "
            f"{export_hf.TASK_HEAD_SCOPE}: {', '.join(heads)}); this project's heads have no "
            f"exact transformers class, so they are not mapped onto one.")
    print(f"Load it with PyTorch ({export_hf.INSTALL_HINT}; no TensorFlow needed):\n"
          f"  ElectraModel.from_pretrained({path!r}), AutoTokenizer.from_pretrained({path!r})")
    result = dict(result, hf_output=path)
  return result


if __name__ == "__main__":
  main()
