"""The bundled pre-trained model (sample_data/models/electra-mini) loads and predicts.

It is what the demo fine-tunes to show learning; tools/ship_pretrained_model.py made it from a
2-layer pre-training run (its MODEL_CARD.json says how to reproduce it).
"""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from model import modeling
from model import tokenization
from util import checkpoint as checkpoint_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "sample_data", "models", "electra-mini")


def load_shipped_encoder():
  config = modeling.BertConfig.from_json_file(os.path.join(SHIPPED, "discriminator_config.json"))
  with open(os.path.join(SHIPPED, "pretrain_config.json"), encoding="utf-8") as f:
    embedding_size = json.load(f)["embedding_size"]
  encoder = modeling.BertModel(config, "electra", embedding_size=embedding_size)
  restored = checkpoint_lib.restore(SHIPPED, modeling.named_variables(encoder))
  return encoder, restored


def test_shipped_model_is_small_and_documented():
  size = sum(os.path.getsize(os.path.join(SHIPPED, name)) for name in os.listdir(SHIPPED))
  assert size <= 20e6
  with open(os.path.join(SHIPPED, "MODEL_CARD.json"), encoding="utf-8") as f:
    card = json.load(f)
  assert card["step"] > 0 and card["held_out_eval"]["held_out"]
  corpus = card["fingerprints"]["corpus_sha256"]
  assert corpus and all(len(digest) == 64 for digest in corpus.values()) and card["reproduce"]


def test_shipped_model_loads_every_encoder_variable_and_encodes_text():
  encoder, restored = load_shipped_encoder()
  assert set(restored) == set(modeling.named_variables(encoder))
  tokenizer = tokenization.FullTokenizer(os.path.join(SHIPPED, "vocab.txt"))
  ids = tokenizer.convert_tokens_to_ids(["[CLS]"] + tokenizer.tokenize("这家店的菜很好吃") + ["[SEP]"])
  assert tokenizer.vocab["[UNK]"] not in ids
  hidden = encoder(tf.constant([ids]), tf.ones([1, len(ids)], tf.int32),
                   tf.zeros([1, len(ids)], tf.int32)).numpy()
  assert hidden.shape == (1, len(ids), encoder.config.hidden_size)
  assert np.isfinite(hidden).all() and hidden.std() > 0.1


def test_the_card_puts_the_training_evaluation_first(tmp_path):
  ship_pretrained_model = import_ship_tool()
  (tmp_path / "results").mkdir()
  rows = [{"global_step": 5, "eval_mask_prob": 0.25}, {"global_step": 10},
          {"global_step": 10, "eval_mask_prob": 0.15}, {"global_step": 10, "eval_mask_prob": 0.4}]
  (tmp_path / "results" / "unsup_results_history.jsonl").write_text(
      "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
  assert ship_pretrained_model.held_out_rows(str(tmp_path), 10) == rows[1:]
  assert ship_pretrained_model.held_out_rows(str(tmp_path), 7) == []
  assert ship_pretrained_model.held_out_rows(str(tmp_path / "none"), 10) == []


def import_ship_tool():
  sys.path.insert(0, os.path.join(REPO, "tools"))
  import ship_pretrained_model  # pylint: disable=import-outside-toplevel
  return ship_pretrained_model


def write_gains_report(path, epochs=10, seed=1):
  """A gains bench output: a progress line, then its JSON line."""
  hparams = {"num_train_epochs": epochs, "learning_rate": 3e-4, "task_names": ["chnsenticorp"],
             "do_test": True, "seed": seed}
  arm = {"mean": 80.0, "min": 79.0, "max": 81.0, "scores": [79.0, 81.0], "std": 1.4,
         "test_mean": 77.0, "test_min": 76.0, "test_max": 78.0, "test_scores": [76.0, 78.0],
         "seconds": 3.0, "command": ["python", "run_finetuning.py", "--hparams",
                                     json.dumps(hparams)]}
  report = {"bench": "pretraining_gains", "trials": 2, "tasks": {"chnsenticorp": {
      "pretrained": arm, "scratch": dict(arm, mean=75.0, test_mean=74.0), "gain_mean": 5.0,
      "test_gain_mean": 3.0, "naive_bayes_dev": 82.0}}}
  path.write_text("progress line\n" + json.dumps(report) + "\n", encoding="utf-8")
  return path


def test_the_card_keeps_each_gains_table_with_its_settings(tmp_path):
  ship_pretrained_model = import_ship_tool()
  path = write_gains_report(tmp_path / "gains.json")
  row = ship_pretrained_model.gains_summary(str(path))["tasks"]["chnsenticorp"]
  assert row["settings"] == {"num_train_epochs": 10, "learning_rate": 3e-4}
  assert row["pretrained"]["test_mean"] == 77.0 and "command" not in row["pretrained"]
  assert (row["gain_mean"], row["test_gain_mean"]) == (5.0, 3.0)


def test_gains_only_replaces_the_gains_and_keeps_the_rest_of_the_card(tmp_path, capsys):
  ship_pretrained_model = import_ship_tool()
  card = {"step": 5000, "fingerprints": {"vocab_sha256": "ab" * 32},
          "finetuning_gains": [{"trials": 3, "tasks": {}}]}
  (tmp_path / "MODEL_CARD.json").write_text(json.dumps(card), encoding="utf-8")
  (tmp_path / "model.ckpt-5000.index").write_bytes(b"weights")
  reports = [write_gains_report(tmp_path / "short.json", epochs=3),
             write_gains_report(tmp_path / "long.json", epochs=10)]
  ship_pretrained_model.main(["--gains-only", "--output", str(tmp_path), "--gains",
                              *map(str, reports)])
  updated = json.loads((tmp_path / "MODEL_CARD.json").read_text(encoding="utf-8"))
  assert {key: updated[key] for key in ("step", "fingerprints")} == {
      key: card[key] for key in ("step", "fingerprints")}
  assert [table["tasks"]["chnsenticorp"]["settings"]["num_train_epochs"]
          for table in updated["finetuning_gains"]] == [3, 10]
  assert (tmp_path / "model.ckpt-5000.index").read_bytes() == b"weights"
  assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("MODEL")) == [
      "MODEL_CARD.json"]
  assert "replaced the fine-tuning gains" in capsys.readouterr().out

  # A gains file that is not the bench's output: one line, and the card as it was.
  before = (tmp_path / "MODEL_CARD.json").read_text(encoding="utf-8")
  (tmp_path / "bad.json").write_text("not json\n", encoding="utf-8")
  with pytest.raises(SystemExit) as error:
    ship_pretrained_model.main(["--gains-only", "--output", str(tmp_path), "--gains",
                                str(tmp_path / "bad.json")])
  assert str(error.value).startswith("ship_pretrained_model.py: ")
  assert (tmp_path / "MODEL_CARD.json").read_text(encoding="utf-8") == before
  with pytest.raises(SystemExit):  # --gains-only without --gains: a usage error
    ship_pretrained_model.main(["--gains-only", "--output", str(tmp_path)])


def test_a_table_joined_from_several_runs_keeps_its_settings_and_seeds(tmp_path):
  ship_pretrained_model = import_ship_tool()
  from bench import merge_gains  # pylint: disable=import-outside-toplevel
  parts = [str(write_gains_report(tmp_path / "a.json")),
           str(write_gains_report(tmp_path / "b.json", seed=3))]
  (tmp_path / "joined.json").write_text(json.dumps(merge_gains.merge(parts)), encoding="utf-8")
  row = ship_pretrained_model.gains_summary(str(tmp_path / "joined.json"))["tasks"]["chnsenticorp"]
  assert row["settings"] == {"num_train_epochs": 10, "learning_rate": 3e-4}
  assert row["pretrained"]["seeds"] == [1, 2, 3, 4] and len(row["pretrained"]["scores"]) == 4


def write_pretraining_dir(root):
  """A finished pre-training run as run_pretraining.py leaves it, in miniature: a checkpoint
  with the discriminator, the generator, both heads, Adam's slots and global_step."""
  model_dir = root / "models" / "mini"
  model_dir.mkdir(parents=True)
  weights = {"electra/embeddings/word_embeddings": np.ones([6, 4], np.float32),
             "electra/encoder/layer_0/output/dense/kernel": np.ones([4, 4], np.float32),
             "discriminator_predictions/dense/kernel": np.ones([4, 4], np.float32),
             "generator/encoder/layer_0/output/dense/kernel": np.ones([2, 2], np.float32),
             "generator_predictions/output_bias": np.ones([6], np.float32)}
  tensors = dict(weights, global_step=np.int64(40))
  for name, value in weights.items():
    tensors[name + "/adam_m"] = tensors[name + "/adam_v"] = np.zeros_like(value)
  checkpoint_lib.CheckpointManager(str(model_dir)).save(tensors, 40)
  (model_dir / "pretrain_config.json").write_text(json.dumps({"seed": 3}), encoding="utf-8")
  (model_dir / "discriminator_config.json").write_text("{}", encoding="utf-8")
  (root / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
  (root / "corpus.txt").write_text("一二三\n", encoding="utf-8")
  return model_dir, weights


@pytest.mark.parametrize("discriminator_only", [False, True])
def test_shipping_keeps_the_model_as_released_and_leaves_out_the_optimizer(tmp_path,
                                                                           discriminator_only):
  ship_pretrained_model = import_ship_tool()
  model_dir, weights = write_pretraining_dir(tmp_path / "data")
  out = tmp_path / "shipped"
  ship_pretrained_model.main(["--model-dir", str(model_dir), "--corpus",
                              str(tmp_path / "data" / "corpus.txt"), "--output", str(out)]
                             + ["--discriminator-only"] * discriminator_only)
  kept = {name for name in weights if name.startswith("electra/") or not discriminator_only}
  reader = tf.train.load_checkpoint(str(out / "model.ckpt-40"))
  assert set(reader.get_variable_to_shape_map()) == kept | {"global_step"}
  assert reader.get_tensor("global_step") == 40
  card = json.loads((out / "MODEL_CARD.json").read_text(encoding="utf-8"))
  assert card["variables"] == len(kept)
  assert card["parameters"] == sum(weights[name].size for name in kept)
  assert card["seed"] == 3 and card["fingerprints"]["corpus_sha256"]["corpus.txt"]
