"""The ELECTRA transformer: configs, encoder, generator and discriminator heads.

Same maths as the original BERT/ELECTRA code: post-LN transformer layers, exact erf GELU,
LayerNorm epsilon 1e-12, an additive attention mask of -10000, truncated-normal(0.02)
initialisation where the original used it and Glorot-uniform where it used tf.layers defaults.

Every variable is created with its full TF1 checkpoint name (see docs/ARCHITECTURE.md), so
`var.name[:-2]` equals the name in the released checkpoints. Variables are always float32;
with a lower `compute_dtype` (bfloat16/float16) they are cast where they are used, and
LayerNorm and softmax still run in float32.

Speed (see bench/README.md). The maths above is unchanged; only how it is computed differs:
  - the encoder works on [tokens, width] matrices, so every projection is one large GEMM, and
    the query/key/value projections are one GEMM against the three kernels concatenated at call
    time (the 1/sqrt(head_size) score scale is folded into the query part);
  - every element-wise stretch between two GEMMs (bias + GELU; bias + dropout + residual +
    LayerNorm; mask + softmax + dropout; bias + head split) is ONE XLA-compiled function with a
    hand-written backward, so it costs one pass over memory forward and one backward instead of
    ten or more TensorFlow kernels. Inside an XLA-compiled train step these functions are simply
    inlined; in a step that is not compiled (bfloat16 on CPU, where oneDNN's bfloat16 GEMMs are
    twice as fast as XLA's) the GEMMs run on oneDNN and only these pieces go through XLA;
  - dropout masks come from a counter-based hash of (element index, a per-call random seed), so
    the backward pass regenerates a mask instead of storing it, and drawing a mask costs a few
    integer operations inside the fused loop instead of a separate random-number kernel.
"""

import contextlib
import copy
import functools
import json
import math
import os
import threading

import tensorflow as tf


def _prefer_wide_vectors():
  """Lets XLA's CPU code generator use 512-bit vectors where the CPU has them (LLVM otherwise
  prefers 256-bit on AVX-512 machines). The fused element-wise pieces below run about 25%
  faster (bias + GELU backward over 4096 x 1024: 4.7 -> 3.1 ms). XLA reads XLA_FLAGS when it
  first compiles, so setting it at import is in time; a value the user set is kept."""
  flags = os.environ.get("XLA_FLAGS", "")
  if "xla_cpu_prefer_vector_width" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_prefer_vector_width=512").strip()


_prefer_wide_vectors()

LAYER_NORM_EPSILON = 1e-12
ATTENTION_MASK_ADDER = -10000.0

# model_size -> (hidden_size, num_hidden_layers), as in the original's get_bert_config.
MODEL_SIZES = {"small": (256, 12), "base": (768, 12), "large": (1024, 24)}


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
  """Maps small/base/large (+ overrides) to a BertConfig as the original does.

  Overrides are applied before and after deriving heads and intermediate size, so an override of
  hidden_size changes the derived values while an explicit num_attention_heads still wins.
  """
  overrides = dict(model_hparam_overrides or {})
  if model_size not in MODEL_SIZES:
    raise ValueError(f"Unknown model_size '{model_size}' (expected one of {sorted(MODEL_SIZES)})")
  hidden_size, num_layers = MODEL_SIZES[model_size]
  values = {"vocab_size": vocab_size, "hidden_size": hidden_size, "num_hidden_layers": num_layers}
  values.update(overrides)
  values["num_attention_heads"] = max(1, values["hidden_size"] // 64)
  values["intermediate_size"] = 4 * values["hidden_size"]
  values.update(overrides)
  return BertConfig.from_dict(values)


def get_generator_config(discriminator_config, hidden_fraction=0.25, layers_fraction=1.0):
  """Generator sizing rule: hidden = round(H x fraction), heads = max(1, hidden // 64)."""
  config = BertConfig.from_dict(discriminator_config.to_dict())
  config.hidden_size = int(round(discriminator_config.hidden_size * hidden_fraction))
  config.num_hidden_layers = int(round(discriminator_config.num_hidden_layers * layers_fraction))
  config.intermediate_size = 4 * config.hidden_size
  config.num_attention_heads = max(1, config.hidden_size // 64)
  return config


# ----------------------------------------------------------------------------------------------
# Elementary functions and initialisers.

def gelu(x):
  """Exact GELU, x * Phi(x), with the Gaussian CDF through erf (not the tanh approximation)."""
  return 0.5 * x * (1.0 + tf.math.erf(x / tf.cast(math.sqrt(2.0), x.dtype)))


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


def dropout(x, rate, training):
  if not training or rate == 0.0:
    return x
  return tf.nn.dropout(x, rate=rate)


# ----------------------------------------------------------------------------------------------
# Fused element-wise pieces of the encoder (see the module docstring for why).
#
# Each piece is a pair of XLA-compiled functions, forward and backward, joined by
# tf.custom_gradient. The backward recomputes what is cheap to recompute (the dropout mask, the
# softmax, the LayerNorm statistics) from the forward's inputs, so nothing but the inputs has to
# be kept between the passes. Arithmetic is float32 inside; inputs and outputs keep their dtype.

class Fused:
  """`fn` as one fused piece: XLA-compiled by itself, or traced as plain ops inside
  `inline_fused_ops()` (inside a function that XLA compiles as a whole, which fuses them anyway;
  in TF 2.21 a jit-compiled function nested in a compiled step inside a tf.while_loop is
  recompiled on every iteration)."""

  def __init__(self, fn):
    self.plain = fn
    self.compiled = tf.function(fn, jit_compile=True, autograph=False)

  def __call__(self, *args):
    return (self.plain if getattr(_INLINE, "active", False) else self.compiled)(*args)


_INLINE = threading.local()


@contextlib.contextmanager
def inline_fused_ops():
  """Traces the fused pieces as plain ops: for code that is XLA-compiled as a whole."""
  previous = getattr(_INLINE, "active", False)
  _INLINE.active = True
  try:
    yield
  finally:
    _INLINE.active = previous


def _to_float32(x):
  """float32(x). bfloat16 -> float32 is a 16-bit shift, written out with integer ops: XLA's CPU
  code generator vectorises those twice as wide as its own bfloat16 conversion (a bias + GELU
  over 4096 x 1024 bfloat16 values: 2.6 -> 1.6 ms)."""
  if x.dtype != tf.bfloat16:
    return tf.cast(x, tf.float32)
  bits = tf.cast(tf.bitcast(x, tf.uint16), tf.uint32)
  return tf.bitcast(tf.bitwise.left_shift(bits, tf.constant(16, tf.uint32)), tf.float32)


def _from_float32(x, dtype):
  """float32 `x` in `dtype`; to bfloat16 with round-to-nearest-even (as tf.cast), NaN kept."""
  if dtype != tf.bfloat16:
    return tf.cast(x, dtype)
  bits = tf.bitcast(x, tf.uint32)
  lsb = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, tf.constant(16, tf.uint32)),
                               tf.constant(1, tf.uint32))
  rounded = tf.bitwise.right_shift(bits + tf.constant(0x7FFF, tf.uint32) + lsb,
                                   tf.constant(16, tf.uint32))
  rounded = tf.where(tf.math.is_nan(x), tf.constant(0x7FC0, tf.uint32), rounded)
  return tf.bitcast(tf.cast(rounded, tf.uint16), tf.bfloat16)


def _mix32(h):
  """murmur3's 32-bit finaliser: a bijection of uint32 that spreads every bit over the word."""
  h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))
  h = h * tf.constant(0x85EBCA6B, tf.uint32)
  h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(13, tf.uint32)))
  h = h * tf.constant(0xC2B2AE35, tf.uint32)
  return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))


def dropout_seed():
  """A fresh seed for one dropout mask: two int32 from TF's global generator (which
  tf.random.set_seed seeds, as it does tf.nn.dropout's)."""
  return tf.random.uniform([2], minval=0, maxval=2 ** 31 - 1, dtype=tf.int32)


def _keep_mask(shape, seed, rate):
  """Bernoulli(1 - rate) keep mask: hash(element index, seed) >= rate * 2^32.

  Counter-based like Philox, but a single round of murmur3's finaliser over the element index
  xor a per-call 32-bit key: a few integer operations that XLA fuses into the loop that uses
  the mask. Masks of different keys are hashes of disjoint index sets in all but a 2^-k fraction
  of cases (k = 32 - log2(size)), so they are practically independent. The keep probability is
  exact to 2^-32.
  """
  seed = tf.bitcast(seed, tf.uint32)
  key = _mix32(tf.bitwise.bitwise_xor(seed[0], _mix32(seed[1])))
  index = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
  h = _mix32(tf.bitwise.bitwise_xor(index, key))
  threshold = min(int(round(rate * 2.0 ** 32)), 2 ** 32 - 1)
  return h >= tf.constant(threshold, tf.uint32)


def _hash_dropout(x, seed, rate):
  """Inverted dropout of float32 `x` with the mask of (seed, rate); rate 0 is the identity."""
  if rate == 0.0:
    return x
  return tf.where(_keep_mask(tf.shape(x), seed, rate), x * (1.0 / (1.0 - rate)),
                  tf.zeros_like(x))


def _rows_sum(x):
  return tf.reduce_sum(x, axis=0)


# A bias gradient (the column sums of the gradient that leaves a fused backward piece) as a
# separate compiled function over the returned tensor: computed inside the piece, XLA's CPU
# backend materialises a float32 copy of the whole gradient for the reduction (for bias + GELU in
# bfloat16: 72 MB of memory traffic instead of 32).
_BIAS_GRAD = Fused(lambda dx: _rows_sum(_to_float32(dx)))


# -- mask + softmax + dropout of the attention scores ----------------------------------------------

def _attention_probs_fwd(scores, mask_adder, seed, rate):
  """(dropout(probs), probs) in the dtype of `scores`; (probs,) when rate is 0."""
  probs = tf.nn.softmax(_to_float32(scores) + mask_adder, axis=-1)
  if rate == 0.0:
    return (_from_float32(probs, scores.dtype),)
  return (_from_float32(_hash_dropout(probs, seed, rate), scores.dtype),
          _from_float32(probs, scores.dtype))


def _attention_probs_bwd(dy, y, probs):
  """The scores' gradient from the forward's outputs, without recomputing anything: with
  d = dropout'(dy) = dy * keep / (1 - rate) and y = probs * keep / (1 - rate), the softmax
  gradient probs * (d - sum(d * probs)) is dy * y - probs * sum(dy * y)."""
  dy_y = _to_float32(dy) * _to_float32(y)
  dscores = dy_y - _to_float32(probs) * tf.reduce_sum(dy_y, axis=-1, keepdims=True)
  return _from_float32(dscores, dy.dtype)


_ATTENTION_PROBS_FWD = Fused(_attention_probs_fwd)
_ATTENTION_PROBS_BWD = Fused(_attention_probs_bwd)


@functools.lru_cache(maxsize=None)
def _attention_probs_op(rate):
  @tf.custom_gradient
  def attention_probs(scores, mask_adder, seed):
    outputs = _ATTENTION_PROBS_FWD(scores, mask_adder, seed, rate)
    y, probs = outputs[0], outputs[-1]
    def grad(dy):
      return _ATTENTION_PROBS_BWD(dy, y, probs), None, None
    return y, grad
  return attention_probs


def attention_probs(scores, mask_adder, rate, training):
  """dropout(softmax(float32(scores) + mask_adder)) in the dtype of `scores` [B, N, Lq, Lk]."""
  rate = rate if training else 0.0
  seed = dropout_seed() if rate > 0 else tf.zeros([2], tf.int32)
  return _attention_probs_op(float(rate))(scores, mask_adder, seed)


# -- bias + dropout + residual + LayerNorm -------------------------------------------------------

def _normalize(h):
  """(h - mean) * rsqrt(variance + eps) over the last axis, and the rsqrt; float32."""
  mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
  rstd = tf.math.rsqrt(variance + LAYER_NORM_EPSILON)
  return (h - mean) * rstd, rstd


def _residual_layer_norm_input(x, bias, residual, seed, rate):
  h = _hash_dropout(_to_float32(x) + bias, seed, rate)
  return h + _to_float32(residual)


def _residual_layer_norm_fwd(x, bias, residual, gamma, beta, seed, rate):
  normalized, _ = _normalize(_residual_layer_norm_input(x, bias, residual, seed, rate))
  return _from_float32(normalized * gamma + beta, x.dtype)


def _residual_layer_norm_bwd(dy, x, bias, residual, gamma, beta, seed, rate):
  del beta
  normalized, rstd = _normalize(_residual_layer_norm_input(x, bias, residual, seed, rate))
  dy = _to_float32(dy)
  dgamma, dbeta = _rows_sum(dy * normalized), _rows_sum(dy)
  g = dy * gamma
  dh = rstd * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
               - normalized * tf.reduce_mean(g * normalized, axis=-1, keepdims=True))
  dx = _from_float32(_hash_dropout(dh, seed, rate), x.dtype)
  return dx, _from_float32(dh, residual.dtype), dgamma, dbeta


_RESIDUAL_LAYER_NORM_FWD = Fused(_residual_layer_norm_fwd)
_RESIDUAL_LAYER_NORM_BWD = Fused(_residual_layer_norm_bwd)


@functools.lru_cache(maxsize=None)
def _residual_layer_norm_op(rate):
  @tf.custom_gradient
  def residual_layer_norm(x, bias, residual, gamma, beta, seed):
    def grad(dy):
      dx, dresidual, dgamma, dbeta = _RESIDUAL_LAYER_NORM_BWD(dy, x, bias, residual, gamma, beta,
                                                              seed, rate)
      return dx, _BIAS_GRAD(dx), dresidual, dgamma, dbeta, None
    return _RESIDUAL_LAYER_NORM_FWD(x, bias, residual, gamma, beta, seed, rate), grad
  return residual_layer_norm


def residual_layer_norm(x, bias, residual, layer_norm, rate, training):
  """layer_norm(dropout(x + bias) + residual), x and residual [tokens, width]; float32 inside,
  returned in x's dtype. `bias` is a float32 [width] tensor, `layer_norm` a LayerNorm."""
  rate = rate if training else 0.0
  seed = dropout_seed() if rate > 0 else tf.zeros([2], tf.int32)
  return _residual_layer_norm_op(float(rate))(
      x, tf.convert_to_tensor(bias), residual, tf.convert_to_tensor(layer_norm.gamma),
      tf.convert_to_tensor(layer_norm.beta), seed)


# -- plain LayerNorm and dropout -----------------------------------------------------------------

def _layer_norm_fwd(x, gamma, beta):
  normalized, _ = _normalize(_to_float32(x))
  return _from_float32(normalized * gamma + beta, x.dtype)


def _layer_norm_bwd(dy, x, gamma):
  normalized, rstd = _normalize(_to_float32(x))
  dy = _to_float32(dy)
  axes = list(range(len(dy.shape) - 1))
  dgamma = tf.reduce_sum(dy * normalized, axis=axes)
  dbeta = tf.reduce_sum(dy, axis=axes)
  g = dy * gamma
  dx = rstd * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
               - normalized * tf.reduce_mean(g * normalized, axis=-1, keepdims=True))
  return _from_float32(dx, x.dtype), dgamma, dbeta


_LAYER_NORM_FWD = Fused(_layer_norm_fwd)
_LAYER_NORM_BWD = Fused(_layer_norm_bwd)


@tf.custom_gradient
def _layer_norm_op(x, gamma, beta):
  def grad(dy):
    return _LAYER_NORM_BWD(dy, x, gamma)
  return _LAYER_NORM_FWD(x, gamma, beta), grad


def _dropout_fwd(x, seed, rate):
  return _from_float32(_hash_dropout(_to_float32(x), seed, rate), x.dtype)


_DROPOUT = Fused(_dropout_fwd)


@functools.lru_cache(maxsize=None)
def _dropout_op(rate):
  @tf.custom_gradient
  def hash_dropout(x, seed):
    def grad(dy):
      return _DROPOUT(dy, seed, rate), None
    return _DROPOUT(x, seed, rate), grad
  return hash_dropout


def fused_dropout(x, rate, training):
  """Inverted dropout like `dropout`, with the hashed mask (one fused pass each way)."""
  if not training or rate == 0.0:
    return x
  return _dropout_op(float(rate))(x, dropout_seed())


# -- bias + GELU ---------------------------------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _bias_gelu_fwd(x, bias):
  z = _to_float32(x) + bias
  return _from_float32(0.5 * z * (1.0 + tf.math.erf(z * _SQRT_HALF)), x.dtype)


def _bias_gelu_bwd(dy, x, bias):
  z = _to_float32(x) + bias
  # d/dz [z * Phi(z)] = Phi(z) + z * phi(z)
  dz = _to_float32(dy) * (0.5 * (1.0 + tf.math.erf(z * _SQRT_HALF))
                                  + z * _INV_SQRT_2PI * tf.exp(-0.5 * tf.square(z)))
  return _from_float32(dz, x.dtype)


_BIAS_GELU_FWD = Fused(_bias_gelu_fwd)
_BIAS_GELU_BWD = Fused(_bias_gelu_bwd)


@tf.custom_gradient
def _bias_gelu_op(x, bias):
  def grad(dy):
    dx = _BIAS_GELU_BWD(dy, x, bias)
    return dx, _BIAS_GRAD(dx)
  return _BIAS_GELU_FWD(x, bias), grad


def bias_activation(x, bias, activation):
  """activation(x + bias) for x [tokens, width]; GELU is fused, other activations are not."""
  if activation is gelu:
    return _bias_gelu_op(x, tf.convert_to_tensor(bias))
  y = x + tf.cast(bias, x.dtype)
  return activation(y) if activation else y


# -- bias + split into heads ---------------------------------------------------------------------

def _split_heads_fwd(x, bias, num_parts, num_heads):
  """[B, L, P*N*D] + bias -> [P, B, N, L, D] (P = 3 for query, key and value)."""
  y = _from_float32(_to_float32(x) + bias, x.dtype)
  shape = tf.shape(x)
  y = tf.reshape(y, [shape[0], shape[1], num_parts, num_heads, -1])
  return tf.transpose(y, [2, 0, 3, 1, 4])


def _split_heads_bwd(dy):
  """The gradient of x for dy [P, B, N, L, D]: transposed back to [B, L, P*N*D]."""
  dx = tf.transpose(dy, [1, 3, 0, 2, 4])  # [B, L, P, N, D]
  shape = tf.shape(dx)
  return tf.reshape(dx, [shape[0], shape[1], -1])


_SPLIT_HEADS_FWD = Fused(_split_heads_fwd)
_SPLIT_HEADS_BWD = Fused(_split_heads_bwd)


@functools.lru_cache(maxsize=None)
def _split_heads_op(num_parts, num_heads):
  @tf.custom_gradient
  def split_heads(x, bias):
    def grad(dy):
      dx = _SPLIT_HEADS_BWD(dy)
      # The bias sum over the transposed-back gradient, in the same piece, reads it in the
      # transposed order (float32: 4.6 ms instead of 1 ms for the whole backward).
      return dx, _BIAS_GRAD(tf.reshape(dx, [-1, tf.shape(dx)[-1]]))
    return _SPLIT_HEADS_FWD(x, bias, num_parts, num_heads), grad
  return split_heads


def split_heads(x, bias, num_parts, num_heads):
  """x [B, L, P*N*D] + float32 bias -> [P, B, N, L, D], one fused pass each way."""
  return _split_heads_op(num_parts, num_heads)(x, tf.convert_to_tensor(bias))


class Dense(tf.Module):
  """`<scope>/kernel` [in, out] and `<scope>/bias` [out], applied to the last axis."""

  def __init__(self, scope, in_dim, out_dim, kernel_init, activation=None):
    super().__init__(name=None)
    self.kernel = new_variable(f"{scope}/kernel", [in_dim, out_dim], kernel_init)
    self.bias = new_variable(f"{scope}/bias", [out_dim], tf.zeros)
    self.activation = activation

  def __call__(self, x):
    kernel = tf.cast(self.kernel, x.dtype)
    y = tf.matmul(tf.reshape(x, [-1, kernel.shape[0]]), kernel) + tf.cast(self.bias, x.dtype)
    y = tf.reshape(y, tf.concat([tf.shape(x)[:-1], [kernel.shape[1]]], axis=0))
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
    return _layer_norm_op(x, tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta))


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
    return fused_dropout(self.layer_norm(x), self.dropout_rate, training)


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

  def __call__(self, x, mask_adder, training=False):
    """x [B, L, H] -> [B, L, H]; mask_adder float32 [B, 1, 1, L]."""
    batch_size, seq_length = tf.shape(x)[0], tf.shape(x)[1]
    hidden = x.shape[-1]
    x2d = tf.reshape(x, [-1, hidden])
    kernel, bias = self.qkv_kernel_and_bias(x.dtype)
    qkv = tf.reshape(tf.matmul(x2d, kernel), [batch_size, seq_length, 3 * hidden])
    query, key, value = tf.unstack(split_heads(qkv, bias, 3, self.num_heads))  # [B, N, L, D]
    scores = tf.matmul(query, key, transpose_b=True)  # [B, N, Lq, Lk], already scaled
    probs = attention_probs(scores, mask_adder, self.attention_dropout, training)
    context = tf.matmul(probs, value)  # [B, N, L, D]
    context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, hidden])
    attended = residual_layer_norm(self.output_dense.matmul(context), self.output_dense.bias,
                                   x2d, self.output_layer_norm, self.hidden_dropout, training)
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
    y = residual_layer_norm(self.output_dense.matmul(inner), self.output_dense.bias, attended2d,
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

  def __call__(self, input_ids, input_mask, segment_ids, training=False):
    x = tf.cast(self.embeddings(input_ids, segment_ids, training), self.compute_dtype)
    if self.embeddings_project is not None:
      x = self.embeddings_project(x)
    # [B, 1, 1, L]: 0 where attending is allowed, -10000 on padding (broadcast over heads/queries).
    mask_adder = (1.0 - tf.cast(input_mask, tf.float32)) * ATTENTION_MASK_ADDER
    mask_adder = mask_adder[:, tf.newaxis, tf.newaxis, :]
    for layer in self.layers:
      x = layer(x, mask_adder, training)
    return x


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
