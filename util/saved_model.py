"""A TensorFlow SavedModel with one serving signature over int32 [batch, length] inputs.

What export_model.py writes, without knowing what the model computes: the variables, a `serve`
function of the named inputs, scalar or vector attributes the loaded object carries as
variables (e.g. `max_seq_length`), and asset files (copies of files, or text written here). The
SavedModel is saved into a staging directory beside the output and moved into place when
complete (util/export_output.py). TensorFlow is imported when a function needs it, so the
export script answers --help without it.
"""

import os
import tempfile

from util import export_output
from util import fileio
from util import utils

SIGNATURE_KEY = "serving_default"


class Asset:
  """One file under the SavedModel's assets/: a copy of `source`, or `text` written here."""

  def __init__(self, filename, source=None, text=None):
    if (source is None) == (text is None):
      raise ValueError("an asset has either a source file or a text")
    self.filename = filename
    self.source = source
    self.text = text

  def write(self, directory):
    path = os.path.join(directory, self.filename)
    if self.source is not None:
      fileio.copy(self.source, path, overwrite=True)
    else:
      utils.write_text(path, self.text)
    return path


def int_inputs_signature(input_names):
  """The input_signature of a function of int32 [batch, length] tensors named `input_names`."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return [tf.TensorSpec([None, None], tf.int32, name=name) for name in input_names]


def build_module(variables, serve, attributes, assets, asset_dir):
  """A tf.Module holding `variables`, the `serve` tf.function, each attribute as a
  non-trainable variable of that name, and each {attribute name: Asset} written to
  `asset_dir` as a tf.saved_model.Asset."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  module = tf.Module()
  module.model_variables = list(variables)
  for name, value in attributes.items():
    setattr(module, name, tf.Variable(value, trainable=False, name=name))
  for name, asset in assets.items():
    setattr(module, name, tf.saved_model.Asset(asset.write(asset_dir)))
  module.serve = serve
  return module


def save(output, overwrite, variables, serve, attributes, assets):
  """Writes the SavedModel (signature SIGNATURE_KEY: `serve`) to `output`, refused if it is a
  non-empty directory without `overwrite`; returns the output path."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as asset_dir:
    module = build_module(variables, serve, attributes, assets, asset_dir)
    signatures = {SIGNATURE_KEY: module.serve.get_concrete_function()}
    # tf.saved_model.save writes remote (gs://) directories itself.
    return export_output.write_staged(
        output, "--output", overwrite,
        lambda staging: tf.saved_model.save(module, staging, signatures=signatures),
        local_files=False)
