"""Pre-training configuration: every hyper-parameter of the original ELECTRA with its default.

Release settings of the Chinese models live in params/pretrain_{small,small_ex,base,large}.json:
all use the 21128-token Chinese BERT vocabulary and max_seq_length 512; small: lr 5e-4, batch 1024,
1M steps; small-ex: small with embedding_size 256 and 24 layers, batch 384, 2M steps; base: lr 2e-4,
batch 256, 1M steps, embedding 768; large: lr 1e-4 (the Chinese README; the English one says
2e-4), batch 96, 2M steps, embedding 1024. Generators are 1/4 of the discriminator's hidden size for
every size (as in the released checkpoints). Other hparams keep the defaults below.

Sizes: model_size (model/sizes.py) with model_hparam_overrides, or, when init_checkpoint names
a model to continue pre-training, the sizes that model records (its config files, else its
checkpoint's variable shapes); a size written in the hyper-parameters may not contradict them.
Every value is checked against its valid range (util/hparam_checks.RANGES) when the config is built.

Deviation from the original: vocab_size defaults to 21128 (not 30522) so that a default pre-training
run and a default fine-tuning run agree on the embedding shape.
"""

import os

from model import sizes
from util import device_options
from util import hparams as hparams_lib


class PretrainingConfig(hparams_lib.Config):
  """Hyper-parameters and paths of one pre-training run."""

  _CHOICES = {
      "model_size": sizes.NAMES,
      "mixed_precision": device_options.PRECISIONS,
      "strategy": device_options.STRATEGIES,
  }

  def __init__(self, model_name, data_dir, hparams_source=hparams_lib.CODE_SOURCE, **kwargs):
    self.model_name = model_name
    self.data_dir = data_dir
    self._set_defaults()
    self._set_paths(model_name, data_dir)

    self.update(kwargs)
    if self.max_predictions_per_seq is None:
      self.max_predictions_per_seq = _max_predictions(self.mask_prob, self.max_seq_length)
    if self.debug:
      self._apply_debug_defaults()
    for key, value in self._size_defaults(self.model_size).items():
      setattr(self, key, value)
    # Applied a second time so that explicit user values win over the debug / size defaults.
    self.update(kwargs)
    # Continued pre-training: the model it starts from decides the sizes (debug replaces the
    # encoder with its tiny model, which cannot load another model's weights anyway).
    if self.init_checkpoint and not self.debug:
      recorded = sizes.read_recorded_sizes(self.init_checkpoint, with_generator=True)
      if recorded is not None:
        self._take_recorded_sizes(recorded, kwargs, hparams_source)
    self.check_ranges()

  def masking(self, training):
    """(mask_prob, max_predictions_per_seq) of a training or an evaluation batch."""
    if training or self.eval_mask_prob is None:
      return self.mask_prob, self.max_predictions_per_seq
    return self.eval_mask_prob, _max_predictions(self.eval_mask_prob, self.max_seq_length)

  def _size_defaults(self, name):
    return sizes.get(name).pretraining_defaults()

  def _set_defaults(self):
    # general
    self.debug = False  # tiny model and a few steps, for checking that everything runs
    self.do_train = True
    self.do_eval = False
    # objective
    self.electra_objective = True  # False: BERT-style masked LM only
    self.gen_weight = 1.0
    self.disc_weight = 50.0
    self.mask_prob = 0.15
    # Held-out evaluation masks at this rate (None: mask_prob, as the original), so runs trained
    # at different mask_prob can be compared on one masked-LM task.
    self.eval_mask_prob = None
    # optimisation
    self.learning_rate = 5e-4
    self.lr_decay_power = 1.0  # 1.0: linear decay to 0
    self.weight_decay_rate = 0.01
    self.num_warmup_steps = 10000
    # training loop
    self.iterations_per_loop = 200
    self.save_checkpoints_steps = 1000
    self.keep_checkpoint_max = 5
    self.num_train_steps = 1000000
    self.num_eval_steps = 100  # on held-out shards: at most this many batches of one pass
    # Also evaluate after every checkpoint written while training (needs do_eval); each result
    # is a row of results/unsup_results_history.jsonl and a point of the TensorBoard eval curve.
    self.eval_at_checkpoints = False
    self.log_every_steps = 100
    # model
    self.model_size = sizes.DEFAULT_MODEL_SIZE  # the sizes and their defaults: model/sizes.py
    self.model_hparam_overrides = {}  # BertConfig fields overriding the model_size defaults
    self.embedding_size = None  # None: same as the hidden size
    self.vocab_size = 21128
    self.do_lower_case = True
    # generator
    self.uniform_generator = False  # replace tokens uniformly at random (ablation)
    self.untied_generator_embeddings = False
    self.untied_generator = True  # False: generator and discriminator share all weights
    self.generator_layers = sizes.GENERATOR_LAYERS_FRACTION  # of the discriminator's layers
    self.generator_hidden_size = sizes.GENERATOR_HIDDEN_FRACTION  # of its hidden size
    self.disallow_correct = False  # never sample the original token
    self.temperature = 1.0
    # sizing
    self.max_seq_length = 128
    self.train_batch_size = 128
    self.eval_batch_size = 128
    self.max_predictions_per_seq = None  # None: derived from mask_prob and max_seq_length
    # Training records are shuffled through a buffer of this many after the shards are
    # interleaved. The original's 100 makes every batch come from a few neighbouring documents
    # (the shards hold the corpus in blocks), which kept small models on the masked-LM plateau
    # (docs/LEARNING.md section 7); the release's params/pretrain_*.json keep 100.
    self.shuffle_buffer_size = 10000
    # As the original, training reads its shards and parses its batches in parallel without
    # keeping their order, so on a busy machine the same seed can see records in another order
    # (and, small runs being sensitive to it, end elsewhere). True keeps the order: a run is
    # then repeatable from its seed on the same machine and thread count, a little slower when
    # one read stalls the others.
    self.deterministic_data_order = False
    # runtime (additions to the original)
    # A checkpoint (directory or prefix) to start from when model_dir has none, e.g. a released
    # model for continued pre-training: every variable found by name is loaded, the optimizer
    # slots (absent from released checkpoints) start at zero.
    self.init_checkpoint = None
    self.seed = 1
    self._set_runtime_defaults()

  def _set_paths(self, model_name, data_dir):
    # Comma-separated globs are allowed, as in the original.
    self.pretrain_tfrecords = os.path.join(
        data_dir, "pretrain_tfrecords", "pretrain_data.tfrecord*")
    # Held-out documents (build_pretraining_dataset.py --eval-fraction); evaluation reads them
    # when they exist, else the training shards as the original.
    self.pretrain_eval_tfrecords = os.path.join(
        data_dir, "pretrain_tfrecords", "pretrain_eval.tfrecord*")
    self.vocab_file = os.path.join(data_dir, "vocab.txt")
    self.model_dir = os.path.join(data_dir, "models", model_name)
    results_dir = os.path.join(self.model_dir, "results")
    self.results_txt = os.path.join(results_dir, "unsup_results.txt")
    self.results_json = os.path.join(results_dir, "unsup_results.json")
    self.results_history = os.path.join(results_dir, "unsup_results_history.jsonl")

  def _apply_debug_defaults(self):
    self.train_batch_size = 8
    self.num_train_steps = 20
    self.eval_batch_size = 4
    self.iterations_per_loop = 1
    self.num_eval_steps = 2

  def encoder_hparams(self):
    """BertConfig fields of the discriminator (model_size defaults + model_hparam_overrides).

    debug replaces them with the original's tiny 3-layer, 144-wide, 4-head model.
    """
    return hparams_lib.encoder_hparams(
        self.model_size, self.vocab_size, self.model_hparam_overrides, debug=self.debug)


def _max_predictions(mask_prob, max_seq_length):
  """Room for the expected number of masked tokens plus a little slack."""
  return int((mask_prob + 0.005) * max_seq_length)
