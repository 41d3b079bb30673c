"""The release's params files train with the release's layer-wise learning rates.

The original (`model/optimization.py`, `_get_layer_lrs`) gives every variable
learning_rate * decay ** (L + 2 - depth), where depth comes from the first of these substrings
of its name: "/embeddings/" and "/embeddings_project/" 0, "encoder/layer_<i>/" i + 1,
"task_specific/" L + 2 (a variable matching none is an error). That table is written out here
again, apart from the project's code, and compared with the multipliers the project computes for
every variable of the fine-tuning model that each release params file builds.
"""

import glob
import os

import pytest
import tensorflow as tf

import configure_finetuning
from finetune import task_builder
from finetune.finetuning_model import FinetuningModel
from model import modeling
from model import optimization
from util import hparams as hparams_lib

# The Chinese release fine-tuned these tasks at small and base (params_<task>[_base].json).
RELEASE_TASKS = ("bqcorpus", "chnsenticorp", "cmrc2018", "drcd", "lcqmc", "xnli")
RELEASE_FILES = [f"params_{task}{suffix}.json" for task in RELEASE_TASKS
                 for suffix in ("", "_base")]
# Files of params/ that are not the release's fine-tuning settings.
OTHER_FILES = {"params_peoples_daily_ner.json", "params_waimai.json"}
ORIGINAL_LAYERWISE_DECAY = 0.8  # the original's default at small and base


def original_layer_lr_keys(n_layers):
  """{name substring: depth} as the original's _get_layer_lrs builds it."""
  keys = {"/embeddings/": 0, "/embeddings_project/": 0, "task_specific/": n_layers + 2}
  for layer in range(n_layers):
    keys[f"encoder/layer_{layer}/"] = layer + 1
  return keys


def original_multiplier(name, n_layers, decay):
  matches = [depth for key, depth in original_layer_lr_keys(n_layers).items() if key in name]
  assert len(matches) == 1, f"{name} matches {len(matches)} keys of the original"
  return decay ** (n_layers + 2 - matches[0])


@pytest.fixture
def data_dir(tmp_path):
  (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
  return tmp_path


@pytest.fixture
def names_only_variables(monkeypatch):
  """Variables are only counted and named here: a scalar each instead of a base-size tensor."""
  monkeypatch.setattr(modeling, "new_variable",
                      lambda name, shape, initializer: tf.Variable(0.0, name=name))


def release_config(file_name, data_dir):
  values = hparams_lib.load_hparams(os.path.join(hparams_lib.PARAMS_DIR, file_name))
  model_name = values.pop("model_name")
  return configure_finetuning.FinetuningConfig(model_name, str(data_dir), **values)


def test_every_fine_tuning_params_file_is_classified():
  present = {os.path.basename(path)
             for path in glob.glob(os.path.join(hparams_lib.PARAMS_DIR, "params_*.json"))}
  assert present == set(RELEASE_FILES) | OTHER_FILES


@pytest.mark.parametrize("file_name", RELEASE_FILES)
def test_release_params_give_the_originals_layer_learning_rates(file_name, data_dir,
                                                                names_only_variables):
  config = release_config(file_name, data_dir)
  assert config.model_size == ("base" if file_name.endswith("_base.json") else "small")
  assert config.legacy_layerwise_lr
  assert config.layerwise_lr_decay == ORIGINAL_LAYERWISE_DECAY
  model = FinetuningModel(config, task_builder.get_tasks(config))
  n_layers = model.bert_config.num_hidden_layers
  assert n_layers == 12
  names = list(model.trainable_variables)
  # The multipliers run_finetuning.py's trial runner hands the optimizer.
  multipliers = optimization.layerwise_lr_multipliers(
      names, n_layers, config.layerwise_lr_decay, legacy_top_layer=config.legacy_layerwise_lr)
  assert set(multipliers) == set(names)
  for name in names:
    expected = original_multiplier(name, n_layers, ORIGINAL_LAYERWISE_DECAY)
    assert multipliers[name] == pytest.approx(expected, rel=1e-12), name
  # Small has an embeddings_project (E 128 != H 256); base has none: both kinds are covered.
  has_projection = any("/embeddings_project/" in name for name in names)
  assert has_projection == (config.model_size == "small")


def test_code_default_keeps_the_fixed_depths(data_dir, names_only_variables):
  """Without the switch, heads sit at L + 1: the top layer gets decay, not decay ** 2."""
  config = configure_finetuning.FinetuningConfig("electra-small", str(data_dir),
                                                 task_names=["chnsenticorp"])
  assert not config.legacy_layerwise_lr
  model = FinetuningModel(config, task_builder.get_tasks(config))
  multipliers = optimization.layerwise_lr_multipliers(
      list(model.trainable_variables), 12, config.layerwise_lr_decay,
      legacy_top_layer=config.legacy_layerwise_lr)
  top = "electra/encoder/layer_11/output/dense/kernel"
  assert multipliers[top] == pytest.approx(config.layerwise_lr_decay)
  assert multipliers[top] == pytest.approx(
      original_multiplier(top, 12, config.layerwise_lr_decay) / config.layerwise_lr_decay)
