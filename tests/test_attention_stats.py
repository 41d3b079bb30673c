"""tools/attention_stats.py and the encoder's attention maps it reads."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from model import modeling
from tools import attention_stats
from util import checkpoint as checkpoint_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我们喜欢这家店的菜很好吃不太")
TINY = {"vocab_size": len(VOCAB), "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 24, "max_position_embeddings": 64}


def tiny_encoder():
  return modeling.BertModel(modeling.BertConfig.from_dict(TINY), "electra", 8)


def test_attention_maps_are_distributions_over_real_tokens():
  encoder = tiny_encoder()
  input_ids = tf.constant([[2, 5, 6, 3, 0, 0], [2, 7, 8, 9, 10, 3]])
  input_mask = tf.cast(input_ids > 0, tf.int32)
  maps = encoder.attention_maps(input_ids, input_mask, tf.zeros_like(input_ids))
  assert len(maps) == 2
  for probs in maps:
    assert probs.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(tf.reduce_sum(probs, -1).numpy(), 1.0, rtol=1e-5)
    assert float(tf.reduce_max(probs[0, :, :, 4:])) < 1e-3  # padding gets no attention


def test_attention_map_is_the_one_the_layer_uses():
  """The map's weighted values, projected and normalised, are the attention block's output."""
  encoder = tiny_encoder()
  attention = encoder.layers[0].attention
  x = tf.random.stateless_normal([1, 5, 16], seed=[1, 2])
  mask_adder = tf.zeros([1, 1, 1, 5])
  probs = attention.attention_map(x, mask_adder)  # [1, N, L, L]
  value = tf.reshape(attention.value(x), [1, 5, 2, 8])
  context = tf.reshape(tf.einsum("bnqk,bknd->bqnd", probs, value), [1, 5, 16])
  expected = attention.output_layer_norm(attention.output_dense(context) + x)
  np.testing.assert_allclose(attention(x, mask_adder).numpy(), expected.numpy(), atol=1e-5)


def test_head_statistics_of_known_patterns():
  length = 4
  self_only = np.eye(length)[np.newaxis, np.newaxis]  # [B=1, N=1, L, L]
  uniform = np.full([1, 1, length, length], 1.0 / length)
  both = np.concatenate([self_only, uniform], axis=1)
  one_hot, spread = attention_stats.head_statistics(both, [length])
  assert one_hot["entropy"] == pytest.approx(0.0, abs=1e-6)
  assert one_hot["self"] == pytest.approx(1.0) and one_hot["max"] == pytest.approx(1.0)
  assert one_hot["neighbours"] == pytest.approx(0.0)
  assert spread["entropy"] == pytest.approx(np.log(length))
  assert spread["uniform"] == pytest.approx(np.log(length))
  assert spread["cls"] == pytest.approx(0.25) and spread["sep"] == pytest.approx(0.25)
  # Two neighbours inside, one at each end: (1 + 2 + 2 + 1) / 4 tokens x 1/4.
  assert spread["neighbours"] == pytest.approx(6 / 16)


def test_mean_pairwise_cosine():
  assert attention_stats.mean_pairwise_cosine(np.ones([3, 4])) == pytest.approx(1.0)
  assert attention_stats.mean_pairwise_cosine(np.eye(3)) == pytest.approx(0.0)


def write_model(model_dir, with_generator):
  os.makedirs(model_dir)
  config = modeling.BertConfig.from_dict(TINY)
  if with_generator:
    networks = modeling.ElectraNetworks(config, modeling.get_generator_config(config, 0.5), 8)
  else:
    networks = modeling.BertModel(config, "electra", 8)
  checkpoint_lib.CheckpointManager(str(model_dir)).save(modeling.named_variables(networks), 3)
  with open(os.path.join(model_dir, "discriminator_config.json"), "w", encoding="utf-8") as f:
    json.dump(TINY, f)
  with open(os.path.join(model_dir, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(VOCAB) + "\n")


def run_tool(cwd, *args):
  return subprocess.run([sys.executable, os.path.join(REPO, "tools", "attention_stats.py"), *args],
                        cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("with_generator", [False, True])
def test_tool_reports_every_encoder_with_relative_paths(tmp_path, with_generator):
  write_model(tmp_path / "model", with_generator)
  (tmp_path / "texts.txt").write_text("我们喜欢这家店\n\n菜很好吃\n不太好吃\n", encoding="utf-8")
  result = run_tool(tmp_path, "--model-dir", "model", "--text", "texts.txt", "--output", "s.json")
  assert result.returncode == 0, result.stderr
  stats = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
  assert stats["texts"] == 3
  encoders = {"discriminator", "generator"} if with_generator else {"discriminator"}
  assert set(stats) - {"model_dir", "texts"} == encoders
  for name in encoders:
    assert len(stats[name]["layers"]) == 2  # the generator keeps the depth by default
    for heads in stats[name]["layers"]:
      for head in heads:
        assert 0.0 <= head["entropy"] <= head["uniform"] + 1e-6
    assert name in result.stdout
  # Untrained encoders attend almost uniformly.
  first = stats["discriminator"]["layers"][0][0]
  assert first["entropy"] > 0.9 * first["uniform"]


def test_tool_bad_input_is_one_line(tmp_path):
  write_model(tmp_path / "model", False)
  missing = run_tool(tmp_path, "--model-dir", "model", "--text", "nothing.txt")
  assert missing.returncode != 0
  assert missing.stderr.strip() == "attention_stats.py: error: nothing.txt: no such file"
  (tmp_path / "one.txt").write_text("只有一行\n", encoding="utf-8")
  short = run_tool(tmp_path, "--model-dir", "model", "--text", "one.txt")
  assert "needs at least 2 non-empty lines" in short.stderr
  (tmp_path / "two.txt").write_text("一\n二\n", encoding="utf-8")
  (tmp_path / "empty").mkdir()
  no_model = run_tool(tmp_path, "--model-dir", "empty", "--text", "two.txt")
  assert no_model.returncode != 0
  assert len(no_model.stderr.strip().splitlines()) == 1, no_model.stderr
