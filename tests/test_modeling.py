"""Model structure against the released checkpoint layouts, and the model's maths."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from model import modeling

LAYOUT_DIR = os.path.join(os.path.dirname(__file__), "fixtures", "checkpoint_layout")


def read_layout(file_name):
  shapes, total = {}, None
  with open(os.path.join(LAYOUT_DIR, file_name), encoding="utf-8") as f:
    for line in f:
      name, _, rest = line.strip().partition(" ")
      if name == "TOTAL_PARAMS":
        total = int(rest)
      elif name:
        shapes[name] = [int(d) for d in rest.strip("[]").split(",") if d.strip()]
  return shapes, total


# (layout file, model_size, embedding_size, overrides) as the Chinese release configured them.
RELEASED = [
    ("electra_small_chinese.txt", "small", 128, {}),
    ("electra_small_ex_chinese.txt", "small", 256, {"num_hidden_layers": 24}),
    ("electra_base_chinese.txt", "base", 768, {}),
    ("electra_large_chinese.txt", "large", 1024, {}),
]


@pytest.mark.parametrize("layout,size,embedding_size,overrides", RELEASED)
def test_names_and_shapes_match_released_layout(layout, size, embedding_size, overrides):
  expected, total = read_layout(layout)
  disc = modeling.get_bert_config(size, 21128, overrides)
  gen = modeling.get_generator_config(disc, 0.25)
  nets = modeling.ElectraNetworks(disc, gen, embedding_size)
  got = {name: v.shape.as_list() for name, v in modeling.named_variables(nets).items()}
  assert got == expected
  assert sum(int(np.prod(s)) for s in got.values()) == total


def small_configs(**overrides):
  disc = modeling.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                             num_attention_heads=2, intermediate_size=64,
                             max_position_embeddings=16, **overrides)
  return disc, modeling.get_generator_config(disc, 0.5)


def test_generator_shares_discriminator_embeddings_by_default():
  disc, gen = small_configs()
  nets = modeling.ElectraNetworks(disc, gen, embedding_size=8)
  assert nets.generator.embeddings is nets.discriminator.embeddings
  names = modeling.named_variables(nets)
  assert not any(n.startswith("generator/embeddings/") for n in names)
  assert names["generator/embeddings_project/kernel"].shape == (8, 16)
  assert nets.generator_head.word_embeddings is names["electra/embeddings/word_embeddings"]


def test_untied_generator_embeddings_variant():
  disc, gen = small_configs()
  names = modeling.named_variables(
      modeling.ElectraNetworks(disc, gen, embedding_size=8, untied_generator_embeddings=True))
  assert names["generator/embeddings/word_embeddings"].shape == (50, 16)
  assert "generator/embeddings_project/kernel" not in names
  assert names["generator_predictions/dense/kernel"].shape == (16, 16)


def test_fully_tied_generator_and_bert_objective_have_one_encoder():
  disc, gen = small_configs()
  for kwargs in ({"untied_generator": False}, {"electra_objective": False}):
    names = modeling.named_variables(modeling.ElectraNetworks(disc, gen, **kwargs))
    assert not any(n.startswith("generator/") for n in names)
    assert names["generator_predictions/dense/kernel"].shape == (32, 32)
  names = modeling.named_variables(modeling.ElectraNetworks(disc, gen, electra_objective=False))
  assert not any(n.startswith("discriminator_predictions") for n in names)


def test_generator_sizing_rule():
  disc = modeling.get_bert_config("base", 21128)
  gen = modeling.get_generator_config(disc, 1 / 3)
  assert (gen.hidden_size, gen.num_attention_heads, gen.intermediate_size) == (256, 4, 1024)
  assert modeling.get_generator_config(disc, 0.05).num_attention_heads == 1


def test_get_bert_config_overrides_win():
  config = modeling.get_bert_config("small", 100, {"hidden_size": 128, "num_attention_heads": 8})
  assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == (128, 8, 512)
  with pytest.raises(ValueError, match="model_size"):
    modeling.get_bert_config("huge", 100)


def test_config_json_round_trip(tmp_path):
  config = modeling.get_bert_config("small", 21128)
  path = tmp_path / "config.json"
  path.write_text(config.to_json_string())
  assert modeling.BertConfig.from_json_file(str(path)) == config
  with pytest.raises(ValueError, match="bogus"):
    modeling.BertConfig.from_dict({"bogus": 1})


def test_gelu_is_exact_erf():
  x = np.linspace(-4, 4, 17).astype(np.float32)
  expected = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
  np.testing.assert_allclose(modeling.gelu(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_layer_norm_epsilon_and_affine():
  ln = modeling.LayerNorm("ln", 4)
  x = tf.constant([[1.0, 2.0, 3.0, 4.0]])
  mean, var = 2.5, 1.25
  expected = (x.numpy() - mean) / np.sqrt(var + 1e-12)
  np.testing.assert_allclose(ln(x).numpy(), expected, rtol=1e-5)


def numpy_encoder(model, ids, mask, segments):
  """Straightforward NumPy post-LN BERT, written independently of the TF code."""
  v = {n: t.numpy() for n, t in modeling.named_variables(model).items()}
  def ln(x, p):
    m, s = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - m) / np.sqrt(s + 1e-12) * v[p + "/gamma"] + v[p + "/beta"]
  def dense(x, p):
    return x @ v[p + "/kernel"] + v[p + "/bias"]
  gelu = np.vectorize(lambda t: 0.5 * t * (1 + math.erf(t / math.sqrt(2))))
  e = "electra/embeddings/"
  x = (v[e + "word_embeddings"][ids] + v[e + "token_type_embeddings"][segments]
       + v[e + "position_embeddings"][: ids.shape[1]])
  x = ln(x, e + "LayerNorm")
  if "electra/embeddings_project/kernel" in v:
    x = dense(x, "electra/embeddings_project")
  heads = model.config.num_attention_heads
  d = model.config.hidden_size // heads
  adder = (1.0 - mask[:, None, None, :]) * -10000.0
  for i in range(model.config.num_hidden_layers):
    p = f"electra/encoder/layer_{i}/"
    split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, d).transpose(0, 2, 1, 3)
    q, k, val = (split(dense(x, p + "attention/self/" + n)) for n in ("query", "key", "value"))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + adder
    prob = np.exp(s - s.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    ctx = (prob @ val).transpose(0, 2, 1, 3).reshape(x.shape)
    att = ln(dense(ctx, p + "attention/output/dense") + x, p + "attention/output/LayerNorm")
    inter = gelu(dense(att, p + "intermediate/dense"))
    x = ln(dense(inter, p + "output/dense") + att, p + "output/LayerNorm")
  return x


def test_encoder_matches_numpy_reference():
  tf.random.set_seed(3)
  disc, _ = small_configs()
  model = modeling.BertModel(disc, "electra", embedding_size=8)
  rng = np.random.default_rng(0)
  ids = rng.integers(0, 50, size=(2, 7))
  mask = np.array([[1] * 7, [1] * 4 + [0] * 3])
  segments = np.array([[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 0]])
  got = model(tf.constant(ids), tf.constant(mask), tf.constant(segments)).numpy()
  want = numpy_encoder(model, ids, mask.astype(np.float32), segments)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_padding_does_not_change_unpadded_outputs():
  tf.random.set_seed(4)
  disc, _ = small_configs()
  model = modeling.BertModel(disc)
  ids = tf.constant([[5, 6, 7, 8]])
  short = model(ids[:, :3], tf.ones([1, 3], tf.int32), tf.zeros([1, 3], tf.int32))
  padded = model(ids, tf.constant([[1, 1, 1, 0]]), tf.zeros([1, 4], tf.int32))
  np.testing.assert_allclose(short.numpy(), padded.numpy()[:, :3], atol=1e-3)


def test_bfloat16_compute_keeps_float32_variables_and_close_outputs():
  tf.random.set_seed(5)
  disc, _ = small_configs()
  model = modeling.BertModel(disc)
  fast = modeling.BertModel(disc, compute_dtype=tf.bfloat16)
  for src, dst in zip(model.variables, fast.variables):
    dst.assign(src)
  ids = tf.constant([[1, 2, 3, 4, 5]])
  args = (ids, tf.ones_like(ids), tf.zeros_like(ids))
  out32, out16 = model(*args), fast(*args)
  assert out16.dtype == tf.bfloat16 and all(v.dtype == tf.float32 for v in fast.variables)
  np.testing.assert_allclose(tf.cast(out16, tf.float32).numpy(), out32.numpy(), atol=0.1)


def test_heads_output_shapes():
  disc, gen = small_configs()
  nets = modeling.ElectraNetworks(disc, gen, embedding_size=8)
  hidden = tf.zeros([2, 3, gen.hidden_size])
  assert nets.generator_head(hidden).shape == (2, 3, 50)
  assert nets.discriminator_head(tf.zeros([2, 3, 32])).shape == (2, 3)


def test_matmul_last_axis_is_a_product_over_the_last_axis_for_any_leading_shape():
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(4, 6)).astype(np.float32)
  for shape in ((5, 4), (2, 3, 4), (2, 1, 3, 4)):
    x = rng.normal(size=shape).astype(np.float32)
    y = modeling.matmul_last_axis(tf.constant(x), tf.constant(kernel)).numpy()
    assert y.shape == shape[:-1] + (6,)
    np.testing.assert_allclose(y, np.einsum("...h,hd->...d", x, kernel), rtol=1e-5, atol=1e-5)
