"""The ELECTRA transformer: configs, encoder, generator and discriminator heads.

Same maths as the original BERT/ELECTRA code: post-LN transformer layers, exact erf GELU,
LayerNorm epsilon 1e-12, an additive attention mask of -10000, truncated-normal(0.02)
initialisation where the original used it and Glorot-uniform where it used tf.layers defaults.

Every variable is created with its full TF1 checkpoint name (see docs/ARCHITECTURE.md), so
`var.name[:-2]` equals the name in the released checkpoints. Variables are always float32;
with a lower `compute_dtype` (bfloat16/float16) they are cast where they are used, and
LayerNorm and softmax still run in float32.

Speed (figures in bench/README.md): the encoder works on [tokens, width] matrices, so every
projection is one large GEMM, and the query/key/value projections are one GEMM against the three
kernels concatenated at call time (the 1/sqrt(head_size) score scale is folded into the query
part). The element-wise stretches between GEMMs are fused XLA pieces with hand-written backward
passes and hashed dropout masks: model/fused_ops.py.
"""

import copy
import json
import math

import tensorflow as tf

from model import fused_ops
from model import sizes

LAYER_NORM_EPSILON = fused_ops.LAYER_NORM_EPSILON
ATTENTION_MASK_ADDER = -10000.0



class BertConfig:
  """Hyper-parameters of one transformer encoder (field names as in the original)."""

  def __init__(self, vocab_size, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
               intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
               initializer_range=0.02):
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_hidden_layers = num_hidden_layers
    self.num_attention_heads = num_attention_heads
    self.intermediate_size = intermediate_size
    self.hidden_act = hidden_act
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range

  @classmethod
  def from_dict(cls, values):
    config = cls(vocab_size=None)
    for key, value in values.items():
      if not hasattr(config, key):
        raise ValueError(f"Unknown BertConfig field '{key}'")
      setattr(config, key, value)
    return config

  @classmethod
  def from_json_file(cls, path):
    with tf.io.gfile.GFile(path, "r") as f:
      return cls.from_dict(json.load(f))

  def to_dict(self):
    return copy.deepcopy(self.__dict__)

  def to_json_string(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

  def __eq__(self, other):
    return isinstance(other, BertConfig) and self.__dict__ == other.__dict__

  def __repr__(self):
    return f"BertConfig({self.__dict__})"


def get_bert_config(model_size, vocab_size, model_hparam_overrides=None):
  """Maps small/base/large (+ overrides) to a BertConfig as the original does (model/sizes.py)."""
  return BertConfig.from_dict(
      {"vocab_size": vocab_size, **sizes.encoder_sizes(model_size, model_hparam_overrides)})


def get_generator_config(discriminator_config, hidden_fraction=sizes.GENERATOR_HIDDEN_FRACTION,
                         layers_fraction=sizes.GENERATOR_LAYERS_FRACTION):
  """The discriminator's config with the generator's sizes (sizes.generator_sizes)."""
  config = BertConfig.from_dict(discriminator_config.to_dict())
  for key, value in sizes.generator_sizes(discriminator_config.hidden_size,
                                          discriminator_config.num_hidden_layers,
                                          hidden_fraction, layers_fraction).items():
    setattr(config, key, value)
  return config


# ----------------------------------------------------------------------------------------------
# Elementary functions and initialisers.

# The element-wise functions live with their fused forms in model/fused_ops.py.
gelu = fused_ops.gelu
dropout = fused_ops.dropout

ACTIVATIONS = {"gelu": gelu, "relu": tf.nn.relu, "tanh": tf.tanh, "linear": None}


def get_activation(name):
  if name not in ACTIVATIONS:
    raise ValueError(f"Unsupported activation '{name}'")
  return ACTIVATIONS[name]


def truncated_normal(stddev=0.02):
  return lambda shape: tf.random.truncated_normal(shape, stddev=stddev)


def glorot_uniform(shape):
  """tf.layers' default kernel initializer, used by the original for some dense layers."""
  fan_in, fan_out = shape[-2], shape[-1]
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return tf.random.uniform(shape, -limit, limit)


def new_variable(name, shape, initializer):
  """A float32 variable whose name is its TF1 checkpoint name."""
  return tf.Variable(initializer(list(shape)), name=name, dtype=tf.float32)


def bias_activation(x, bias, activation):
  """activation(x + bias) for x [tokens, width]; GELU is fused, other activations are not."""
  if activation is gelu:
    return fused_ops.bias_gelu(x, tf.convert_to_tensor(bias))
  y = x + tf.cast(bias, x.dtype)
  return activation(y) if activation else y


def matmul_last_axis(x, kernel):
  """x [..., in] @ kernel [in, out] -> [..., out], as ONE 2-D MatMul over all leading axes.

  Not tf.einsum("blh,hd->bld"): that runs a batched product with the kernel broadcast over the
  batch, which in bfloat16 on a CPU without bfloat16 instructions took 16-20x as long as this
  2-D MatMul (forward and backward of [32, 128, 128] x [128, 512]; in float32 both take about
  as long).
  """
  y = tf.matmul(tf.reshape(x, [-1, kernel.shape[0]]), kernel)
  return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [kernel.shape[1]]], axis=0))


class Dense(tf.Module):
  """`<scope>/kernel` [in, out] and `<scope>/bias` [out], applied to the last axis."""

  def __init__(self, scope, in_dim, out_dim, kernel_init, activation=None):
    super().__init__(name=None)
    self.kernel = new_variable(f"{scope}/kernel", [in_dim, out_dim], kernel_init)
    self.bias = new_variable(f"{scope}/bias", [out_dim], tf.zeros)
    self.activation = activation

  def __call__(self, x):
    y = matmul_last_axis(x, tf.cast(self.kernel, x.dtype)) + tf.cast(self.bias, x.dtype)
    return self.activation(y) if self.activation else y

  def matmul(self, x2d):
    """x2d [tokens, in] @ kernel, without the bias (which the caller fuses into what follows)."""
    return tf.matmul(x2d, tf.cast(self.kernel, x2d.dtype))


class LayerNorm(tf.Module):
  """`<scope>/gamma` and `<scope>/beta`; computed in float32, returned in the input dtype."""

  def __init__(self, scope, dim):
    super().__init__(name=None)
    self.beta = new_variable(f"{scope}/beta", [dim], tf.zeros)
    self.gamma = new_variable(f"{scope}/gamma", [dim], tf.ones)

  def __call__(self, x):
    # (x - mean) * rsqrt(variance + eps) * gamma + beta, one fused pass (see _layer_norm_fwd).
    return fused_ops.layer_norm(x, tf.convert_to_tensor(self.gamma),
                                tf.convert_to_tensor(self.beta))


class Embeddings(tf.Module):
  """Word + token type + position embeddings of width E, then LayerNorm and dropout."""

  def __init__(self, scope, config, width):
    super().__init__(name=None)
    init = truncated_normal(config.initializer_range)
    self.width = width
    self.dropout_rate = config.hidden_dropout_prob
    self.word_embeddings = new_variable(f"{scope}/word_embeddings",
                                        [config.vocab_size, width], init)
    self.token_type_embeddings = new_variable(f"{scope}/token_type_embeddings",
                                              [config.type_vocab_size, width], init)
    self.position_embeddings = new_variable(f"{scope}/position_embeddings",
                                            [config.max_position_embeddings, width], init)
    self.layer_norm = LayerNorm(f"{scope}/LayerNorm", width)

  def __call__(self, input_ids, segment_ids, training=False):
    seq_length = tf.shape(input_ids)[1]
    x = (tf.gather(self.word_embeddings, input_ids)
         + tf.gather(self.token_type_embeddings, segment_ids)
         + self.position_embeddings[tf.newaxis, :seq_length])
    return dropout(self.layer_norm(x), self.dropout_rate, training)


class SelfAttention(tf.Module):
  """Multi-head self-attention with the output projection and post-LN residual."""

  def __init__(self, scope, config):
    super().__init__(name=None)
    hidden = config.hidden_size
    if hidden % config.num_attention_heads:
      raise ValueError(f"hidden_size {hidden} is not a multiple of num_attention_heads "
                       f"{config.num_attention_heads}")
    init = truncated_normal(config.initializer_range)
    self.num_heads = config.num_attention_heads
    self.head_size = hidden // self.num_heads
    self.query = Dense(f"{scope}/self/query", hidden, hidden, init)
    self.key = Dense(f"{scope}/self/key", hidden, hidden, init)
    self.value = Dense(f"{scope}/self/value", hidden, hidden, init)
    self.output_dense = Dense(f"{scope}/output/dense", hidden, hidden, init)
    self.output_layer_norm = LayerNorm(f"{scope}/output/LayerNorm", hidden)
    self.attention_dropout = config.attention_probs_dropout_prob
    self.hidden_dropout = config.hidden_dropout_prob

  def qkv_kernel_and_bias(self, dtype):
    """The three projections as one [H, 3H] kernel (in `dtype`) and float32 [3H] bias, with the
    1/sqrt(head_size) score scale folded into the query part (exact when head_size is a power
    of 4, e.g. 64): one GEMM instead of three, and no scaling pass over the scores."""
    scale = 1.0 / math.sqrt(self.head_size)
    kernel = tf.concat([self.query.kernel * scale, self.key.kernel, self.value.kernel], axis=1)
    bias = tf.concat([self.query.bias * scale, self.key.bias, self.value.bias], axis=0)
    return tf.cast(kernel, dtype), bias

  def _heads(self, x):
    """x [B, L, H] -> query (already scaled), key, value, each [B, N, L, D]."""
    batch_size, seq_length = tf.shape(x)[0], tf.shape(x)[1]
    hidden = x.shape[-1]
    kernel, bias = self.qkv_kernel_and_bias(x.dtype)
    qkv = tf.reshape(tf.matmul(tf.reshape(x, [-1, hidden]), kernel),
                     [batch_size, seq_length, 3 * hidden])
    return tf.unstack(fused_ops.split_heads(qkv, bias, 3, self.num_heads))

  def attention_map(self, x, mask_adder):
    """The attention probabilities [B, N, Lq, Lk] (float32, no dropout), for diagnostics."""
    query, key, _ = self._heads(x)
    scores = tf.matmul(query, key, transpose_b=True)
    return tf.cast(fused_ops.attention_probs(scores, mask_adder, 0.0, False), tf.float32)

  def __call__(self, x, mask_adder, training=False):
    """x [B, L, H] -> [B, L, H]; mask_adder float32 [B, 1, 1, L]."""
    hidden = x.shape[-1]
    x2d = tf.reshape(x, [-1, hidden])
    query, key, value = self._heads(x)
    scores = tf.matmul(query, key, transpose_b=True)  # [B, N, Lq, Lk], already scaled
    probs = fused_ops.attention_probs(scores, mask_adder, self.attention_dropout, training)
    context = tf.matmul(probs, value)  # [B, N, L, D]
    context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, hidden])
    attended = fused_ops.residual_layer_norm(
        self.output_dense.matmul(context), self.output_dense.bias, x2d, self.output_layer_norm,
        self.hidden_dropout, training)
    return tf.reshape(attended, tf.shape(x))


class TransformerLayer(tf.Module):
  """`<scope>/attention/...`, `<scope>/intermediate/dense`, `<scope>/output/...`."""

  def __init__(self, scope, config):
    super().__init__(name=None)
    init = truncated_normal(config.initializer_range)
    hidden, inner = config.hidden_size, config.intermediate_size
    self.attention = SelfAttention(f"{scope}/attention", config)
    self.intermediate = Dense(f"{scope}/intermediate/dense", hidden, inner, init,
                              activation=get_activation(config.hidden_act))
    self.output_dense = Dense(f"{scope}/output/dense", inner, hidden, init)
    self.output_layer_norm = LayerNorm(f"{scope}/output/LayerNorm", hidden)
    self.hidden_dropout = config.hidden_dropout_prob

  def __call__(self, x, mask_adder, training=False):
    attended = self.attention(x, mask_adder, training)
    attended2d = tf.reshape(attended, [-1, attended.shape[-1]])
    inner = bias_activation(self.intermediate.matmul(attended2d), self.intermediate.bias,
                            self.intermediate.activation)
    y = fused_ops.residual_layer_norm(
        self.output_dense.matmul(inner), self.output_dense.bias, attended2d,
        self.output_layer_norm, self.hidden_dropout, training)
    return tf.reshape(y, tf.shape(x))


class BertModel(tf.Module):
  """The encoder: embeddings (own or shared), optional E->H projection, post-LN layers.

  There is no pooler: the [CLS] representation is `sequence_output[:, 0]`.
  """

  def __init__(self, config, scope="electra", embedding_size=None, embeddings=None,
               compute_dtype=tf.float32):
    super().__init__(name=None)
    self.config = config
    self.scope = scope
    self.compute_dtype = tf.as_dtype(compute_dtype)
    if embeddings is None:
      embeddings = Embeddings(f"{scope}/embeddings", config, embedding_size or config.hidden_size)
    self.embeddings = embeddings
    self.embeddings_project = None
    if embeddings.width != config.hidden_size:
      self.embeddings_project = Dense(f"{scope}/embeddings_project", embeddings.width,
                                      config.hidden_size, glorot_uniform)
    self.layers = [TransformerLayer(f"{scope}/encoder/layer_{i}", config)
                   for i in range(config.num_hidden_layers)]

  def _embed(self, input_ids, input_mask, segment_ids, training):
    x = tf.cast(self.embeddings(input_ids, segment_ids, training), self.compute_dtype)
    if self.embeddings_project is not None:
      x = self.embeddings_project(x)
    # [B, 1, 1, L]: 0 where attending is allowed, -10000 on padding (broadcast over heads/queries).
    mask_adder = (1.0 - tf.cast(input_mask, tf.float32)) * ATTENTION_MASK_ADDER
    return x, mask_adder[:, tf.newaxis, tf.newaxis, :]

  def __call__(self, input_ids, input_mask, segment_ids, training=False):
    x, mask_adder = self._embed(input_ids, input_mask, segment_ids, training)
    for layer in self.layers:
      x = layer(x, mask_adder, training)
    return x

  def attention_maps(self, input_ids, input_mask, segment_ids):
    """Every layer's attention probabilities [B, N, L, L] (inference mode), for diagnostics."""
    x, mask_adder = self._embed(input_ids, input_mask, segment_ids, training=False)
    maps = []
    for layer in self.layers:
      maps.append(layer.attention.attention_map(x, mask_adder))
      x = layer(x, mask_adder)
    return maps


# ----------------------------------------------------------------------------------------------
# Pre-training heads.

class GeneratorHead(tf.Module):
  """`generator_predictions/*`: dense+gelu -> LayerNorm -> tied output embedding + output_bias."""

  def __init__(self, config, word_embeddings):
    super().__init__(name=None)
    width = word_embeddings.shape[1]
    self.word_embeddings = word_embeddings
    self.dense = Dense("generator_predictions/dense", config.hidden_size, width,
                       truncated_normal(config.initializer_range),
                       activation=get_activation(config.hidden_act))
    self.layer_norm = LayerNorm("generator_predictions/LayerNorm", width)
    self.output_bias = new_variable("generator_predictions/output_bias",
                                    [config.vocab_size], tf.zeros)

  def __call__(self, hidden):
    """hidden [..., H_gen] -> float32 logits [..., vocab]."""
    x = self.layer_norm(self.dense(hidden))
    logits = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]),
                       tf.cast(self.word_embeddings, x.dtype), transpose_b=True)
    logits = tf.cast(logits, tf.float32) + self.output_bias
    return tf.reshape(logits, tf.concat([tf.shape(hidden)[:-1], [-1]], axis=0))


class DiscriminatorHead(tf.Module):
  """`discriminator_predictions/dense` (gelu) and `/dense_1` -> one float32 logit per token."""

  def __init__(self, config):
    super().__init__(name=None)
    hidden = config.hidden_size
    self.dense = Dense("discriminator_predictions/dense", hidden, hidden,
                       truncated_normal(config.initializer_range),
                       activation=get_activation(config.hidden_act))
    self.dense_1 = Dense("discriminator_predictions/dense_1", hidden, 1, glorot_uniform)

  def __call__(self, hidden):
    return tf.cast(tf.squeeze(self.dense_1(self.dense(hidden)), -1), tf.float32)


class ElectraNetworks(tf.Module):
  """Every network of pre-training, named as in the released checkpoints.

  - discriminator: `electra/...` (always present; the encoder that fine-tuning uses);
  - generator: `generator/...`, sharing `electra/embeddings` unless
    `untied_generator_embeddings`; with `untied_generator=False` the generator IS the
    discriminator encoder (one `electra/...` tower, as the original's fully tied variant);
  - heads `generator_predictions/*` and (for the ELECTRA objective) `discriminator_predictions/*`.
  """

  def __init__(self, discriminator_config, generator_config, embedding_size=None,
               untied_generator_embeddings=False, untied_generator=True, electra_objective=True,
               compute_dtype=tf.float32):
    super().__init__(name=None)
    self.discriminator = BertModel(discriminator_config, "electra", embedding_size,
                                   compute_dtype=compute_dtype)
    if not electra_objective or not untied_generator:
      self.generator = self.discriminator
      generator_config = discriminator_config
    elif untied_generator_embeddings:
      self.generator = BertModel(generator_config, "generator", compute_dtype=compute_dtype)
    else:
      self.generator = BertModel(generator_config, "generator",
                                 embeddings=self.discriminator.embeddings,
                                 compute_dtype=compute_dtype)
    self.generator_head = GeneratorHead(generator_config, self.generator.embeddings.word_embeddings)
    self.discriminator_head = DiscriminatorHead(discriminator_config) if electra_objective else None


def named_variables(module):
  """{checkpoint name: variable} for every variable of `module` (shared ones listed once)."""
  return {checkpoint_name(v): v for v in module.variables}


def checkpoint_name(variable):
  name = variable.name
  return name[:-2] if name.endswith(":0") else name
