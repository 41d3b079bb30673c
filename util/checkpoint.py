"""TF1 name-based checkpoints: save, restore, and initialise from released checkpoints.

Variables are keyed by their TF1 checkpoint names (`electra/encoder/layer_0/...`, see
docs/ARCHITECTURE.md), so our checkpoints have the layout of the original ELECTRA's and the
released models load by name. We write with `tf.raw_ops.SaveV2` on the variables' read values
rather than `tf.compat.v1.train.Saver` or `tf.train.Checkpoint`: Saver refuses mirrored variables
under a distribution strategy, and tf.train.Checkpoint keys by object graph, not by name. Reading
a variable in cross-replica context gives its (identical) local copy, so this works for mirrored,
multi-worker and TPU variables alike; assigning in cross-replica context updates every copy.
"""

import os
import re
import uuid

import tensorflow as tf

from util import utils

CHECKPOINT_BASENAME = "model.ckpt"
_MAX_NAMES_IN_MESSAGES = 20
# Written aside by save_checkpoint / write_checkpoint_state (and SaveV2 inside them) and renamed
# into place: any left in a model directory that no run holds are from a killed run.
TEMPORARY_PATTERNS = ("*.tmp-*", "*.tempstate*")


class CheckpointError(ValueError):
  """A checkpoint that cannot be loaded (missing, truncated or corrupt files); names the file."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
  """A checkpoint named (by a state file) whose files are gone; callers that catch a missing
  checkpoint as FileNotFoundError (predict.py, run_finetuning.py) report it in one line too."""


# ----------------------------------------------------------------------------------------------
# Writing.

def save_checkpoint(prefix, named_variables):
  """Writes {name: variable} as a TF1 checkpoint at `prefix` (`prefix.index`, `prefix.data-*`).

  The data goes to a temporary prefix first and is renamed into place with the index last, so
  `prefix.index` only ever exists for a complete checkpoint. Callers update the `checkpoint`
  state file afterwards (CheckpointManager does), so a crash mid-save leaves the state file
  pointing at the previous, complete checkpoint.
  """
  if not named_variables:
    raise ValueError(f"No variables to save to '{prefix}'")
  names = sorted(named_variables)
  utils.mkdir(os.path.dirname(prefix))
  temp_prefix = f"{prefix}.tmp-{uuid.uuid4().hex}"
  with tf.device("/cpu:0"):  # SaveV2 only has a CPU kernel; read values are copied to host.
    tensors = [tf.convert_to_tensor(named_variables[name]) for name in names]
    tf.raw_ops.SaveV2(prefix=temp_prefix, tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
  _rename_checkpoint(temp_prefix, prefix)
  return prefix


def _rename_checkpoint(source_prefix, target_prefix):
  """Moves the data shards, then the index: the index marks a checkpoint as complete."""
  files = tf.io.gfile.glob(source_prefix + ".*")
  index = source_prefix + ".index"
  for path in sorted(files, key=lambda p: p == index):
    tf.io.gfile.rename(path, target_prefix + path[len(source_prefix):], overwrite=True)


def delete_checkpoint(prefix):
  # ".*" cannot match a longer step number: model.ckpt-1.* does not match model.ckpt-10.index.
  for path in tf.io.gfile.glob(prefix + ".*"):
    tf.io.gfile.remove(path)


def write_checkpoint_state(model_dir, names):
  """Writes the TF1 `checkpoint` state file naming `names` (oldest first, newest last).

  Names are stored relative to model_dir, which tf.train.get_checkpoint_state resolves against
  the directory itself, so the file is right from any working directory. (TF's
  update_checkpoint_state rewrites a relative model_dir against the current directory and
  writes "../../model.ckpt-N", which breaks resuming with a relative --data-dir.) The file is
  written aside and renamed into place, so it is never seen half-written.
  """
  lines = [f'model_checkpoint_path: "{names[-1]}"']
  lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
  path = os.path.join(model_dir, "checkpoint")
  tmp = f"{path}.tmp-{uuid.uuid4().hex}"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  tf.io.gfile.rename(tmp, path, overwrite=True)


class CheckpointManager:
  """Numbered checkpoints `<model_dir>/model.ckpt-<step>`, keeping the newest `keep_max`.

  The `checkpoint` state file is the TF1 one (`tf.train.latest_checkpoint(model_dir)` reads it);
  it stores paths relative to model_dir so that a model directory can be moved or copied.
  The state file is not trusted blindly: checkpoints on disk count too (a kill between a save
  and the state update), and resuming takes the newest one that passes `checkpoint_problem`.
  """

  def __init__(self, model_dir, keep_max=5):
    if keep_max is not None and keep_max < 1:
      raise ValueError(f"keep_max must be at least 1 (or None to keep all), got {keep_max}")
    self.model_dir = model_dir
    self.keep_max = keep_max

  def save(self, named_variables, step):
    """Writes the checkpoint for `step`, then the state file, then deletes the oldest ones."""
    prefix = os.path.join(self.model_dir, f"{CHECKPOINT_BASENAME}-{int(step)}")
    save_checkpoint(prefix, named_variables)
    self.make_newest(prefix)
    return prefix

  def make_newest(self, prefix):
    """Names the complete checkpoint `prefix` as the newest in the state file, with the older
    complete ones up to keep_max; then deletes older ones beyond the limit (orphans included).

    A checkpoint is deleted only once the state file names a newer complete one; newer
    checkpoints than `prefix` (unloadable ones it was chosen over) are neither named nor deleted.
    """
    step = checkpoint_step(prefix)
    older = sorted((p for p in self.known_prefixes()
                    if checkpoint_step(p) < step and tf.io.gfile.exists(p + ".index")),
                   key=checkpoint_step)
    kept = older + [prefix]
    removed = []
    if self.keep_max is not None and len(kept) > self.keep_max:
      removed, kept = kept[:-self.keep_max], kept[-self.keep_max:]
    write_checkpoint_state(self.model_dir, [os.path.basename(p) for p in kept])
    # Deleted only once the state file no longer names them.
    for old_prefix in removed:
      delete_checkpoint(old_prefix)

  def all_checkpoints(self):
    """Absolute prefixes listed in the state file, oldest first."""
    try:
      state = tf.train.get_checkpoint_state(self.model_dir)
    except (tf.errors.OpError, ValueError):  # A corrupt state file names nothing.
      state = None
    return list(state.all_model_checkpoint_paths) if state else []

  def known_prefixes(self):
    """Prefixes named in the state file or with files on disk, newest (highest step) first."""
    prefixes = {os.path.join(self.model_dir, os.path.basename(p)) for p in self.all_checkpoints()}
    pattern = os.path.join(self.model_dir, f"{CHECKPOINT_BASENAME}-*")
    for path in tf.io.gfile.glob(pattern):
      prefix = _strip_checkpoint_suffix(path)
      if _NUMBERED.search(prefix):  # Not a temporary file.
        prefixes.add(prefix)
    return sorted(prefixes, key=checkpoint_step, reverse=True)

  def latest(self):
    """The newest checkpoint named in the state file whose index exists, or None."""
    return tf.train.latest_checkpoint(self.model_dir)

  def loadable_candidates(self):
    """Yields (prefix, problem or None) from the newest known checkpoint to the oldest."""
    for prefix in self.known_prefixes():
      yield prefix, checkpoint_problem(prefix)

  def remove_temporaries(self):
    """Deletes the temporary files of killed saves; call only while holding the run lock."""
    removed = []
    for pattern in TEMPORARY_PATTERNS:
      for path in tf.io.gfile.glob(os.path.join(self.model_dir, pattern)):
        if not tf.io.gfile.isdir(path):
          tf.io.gfile.remove(path)
          removed.append(os.path.basename(path))
    return removed


_NUMBERED = re.compile(r"-(\d+)$")


def checkpoint_step(prefix):
  """The step in a `model.ckpt-<step>` prefix; -1 for other names."""
  match = _NUMBERED.search(str(prefix))
  return int(match.group(1)) if match else -1


def checkpoint_problem(prefix):
  """Why the checkpoint at `prefix` cannot be loaded, or None if it can.

  Cheap (no tensor is read): the index must exist and parse, every data shard it refers to
  must exist, and the data must hold at least the bytes of every fixed-size tensor in it (a
  SaveV2 data file is exactly their concatenation), which catches a truncated file.
  """
  name = os.path.basename(prefix)
  if not tf.io.gfile.exists(prefix + ".index"):
    return f"{name}.index is missing"
  try:
    reader = read_prefix(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
  except (tf.errors.OpError, ValueError, IndexError) as e:
    return f"{name}.index cannot be read ({_first_line(e)})"
  data_files = tf.io.gfile.glob(prefix + ".data-*-of-*")
  shards = {int(path.rsplit("-of-", 1)[1]) for path in data_files}
  expected = max(shards) if shards else 1
  if shapes and len(data_files) < expected:
    return f"{name}.data-* is missing ({len(data_files)} of {expected} shards)"
  needed = sum(_num_elements(shapes[key]) * dtypes[key].size for key in shapes
               if dtypes[key] != tf.string)
  size = sum(tf.io.gfile.stat(path).length for path in data_files)
  if size < needed:
    return (f"{os.path.basename(sorted(data_files)[-1])} is truncated ({size} bytes, its "
            f"tensors need {needed})")
  return None


def _num_elements(shape):
  count = 1
  for dim in shape:
    count *= dim
  return count


def _first_line(error):
  text = getattr(error, "message", None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


# ----------------------------------------------------------------------------------------------
# Reading.

def resolve_checkpoint(path):
  """A directory -> its latest checkpoint; a checkpoint prefix (or one of its files) -> prefix.

  A directory without a `checkpoint` state file but with exactly one checkpoint in it (as the
  released model archives are unpacked) resolves to that checkpoint.
  """
  path = str(path)
  prefix = _strip_checkpoint_suffix(path)
  # A prefix first: ram:// calls every path that begins another one a directory.
  if tf.io.gfile.exists(prefix + ".index") and not tf.io.gfile.isdir(prefix + ".index"):
    return prefix
  if tf.io.gfile.isdir(path):
    return _latest_in_directory(path)
  raise FileNotFoundError(
      f"Checkpoint '{path}' not found: it is neither a directory holding checkpoints nor a "
      f"checkpoint prefix ('{prefix}.index' does not exist)")


def _latest_in_directory(directory):
  latest = tf.train.latest_checkpoint(directory)
  if latest:
    return latest
  named = CheckpointManager(directory).all_checkpoints()
  if named:  # The state file names a checkpoint whose index is gone: never guess another.
    raise MissingCheckpointError(
        f"Checkpoint '{named[-1]}' (named in {directory}/checkpoint) cannot be loaded: "
        f"{os.path.basename(named[-1])}.index is missing")
  prefixes = sorted(p[:-len(".index")]
                    for p in tf.io.gfile.glob(os.path.join(directory, "*.index")))
  if len(prefixes) == 1:
    return prefixes[0]
  found = (f"several checkpoints ({', '.join(map(os.path.basename, prefixes))}) and "
           if prefixes else "")
  raise FileNotFoundError(
      f"No checkpoint found in directory '{directory}': {found}no 'checkpoint' state file "
      f"naming an existing checkpoint")


def _strip_checkpoint_suffix(path):
  """model.ckpt-5.index / model.ckpt-5.data-00000-of-00001 -> model.ckpt-5."""
  if path.endswith(".index"):
    return path[:-len(".index")]
  head, dot, tail = path.rpartition(".")
  if dot and tail.startswith("data-") and "-of-" in tail:
    return head
  return path


def restore(path, named_variables, allow_missing=False):
  """Assigns every variable from the checkpoint at `path` (a prefix or a directory).

  Raises ValueError if the checkpoint lacks some variables (unless `allow_missing`) or if a
  shape or dtype differs; nothing is assigned in that case. Returns the restored names.
  """
  prefix = resolve_checkpoint(path)
  reader = open_checkpoint(prefix)
  shapes = reader.get_variable_to_shape_map()
  missing = sorted(set(named_variables) - set(shapes))
  if missing and not allow_missing:
    raise ValueError(f"Checkpoint '{prefix}' lacks {len(missing)} of the "
                     f"{len(named_variables)} variables: {_name_list(missing)}")
  present = sorted(set(named_variables) & set(shapes))
  _check_compatible(prefix, reader, {name: named_variables[name] for name in present})
  _assign_all(prefix, reader, {name: named_variables[name] for name in present})
  return present


def init_from_checkpoint(path, named_variables, skip=("global_step",)):
  """Initialises from a released or pre-trained checkpoint by name, tolerating differences.

  Loads every variable whose name the checkpoint has; variables it lacks (optimizer slots
  `<var>/adam_m` -- released checkpoints have none, google-research/electra#25 -- or new task
  heads) keep their initial values, and checkpoint entries the model lacks are ignored. Names in
  `skip` are never loaded: by default the step counter, so that a run initialised from a
  checkpoint trained for 1M steps starts its own schedule at step 0; they are reported with the
  unused entries. A shape or dtype mismatch is a ValueError (wrong model size or vocabulary).
  Returns (loaded_names, missing_in_checkpoint, unused_in_checkpoint), each sorted.
  """
  prefix = resolve_checkpoint(path)
  reader = open_checkpoint(prefix)
  in_checkpoint = set(reader.get_variable_to_shape_map())
  wanted = set(named_variables) - set(skip)
  loaded = sorted(wanted & in_checkpoint)
  missing = sorted(wanted - in_checkpoint)
  unused = sorted(in_checkpoint - set(loaded))
  _check_compatible(prefix, reader, {name: named_variables[name] for name in loaded})
  _assign_all(prefix, reader, {name: named_variables[name] for name in loaded})
  utils.log(f"Initialised {len(loaded)} variables from {prefix}; {len(missing)} not in the "
            f"checkpoint{_examples(missing)}; {len(unused)} checkpoint entries "
            f"unused{_examples(unused)}")
  return loaded, missing, unused


def check_compatible(path, named_variables, skip=("global_step",)):
  """What init_from_checkpoint checks, without loading: ValueError naming the first variable
  whose shape or dtype differs between the model and the checkpoint at `path`."""
  prefix = resolve_checkpoint(path)
  reader = open_checkpoint(prefix)
  shared = set(named_variables) & set(reader.get_variable_to_shape_map()) - set(skip)
  _check_compatible(prefix, reader, {name: named_variables[name] for name in shared})


def _check_compatible(prefix, reader, named_variables):
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  for name, variable in sorted(named_variables.items()):
    if list(shapes[name]) != variable.shape.as_list():
      raise ValueError(f"Shape mismatch for variable '{name}': the model has "
                       f"{variable.shape.as_list()}, checkpoint '{prefix}' has "
                       f"{list(shapes[name])}")
    if dtypes[name] != variable.dtype:
      raise ValueError(f"Dtype mismatch for variable '{name}': the model has "
                       f"{variable.dtype.name}, checkpoint '{prefix}' has {dtypes[name].name}")


def open_checkpoint(prefix):
  """tf.train.load_checkpoint after checkpoint_problem: a CheckpointError names the bad file."""
  problem = checkpoint_problem(prefix)
  if problem:
    raise CheckpointError(f"Checkpoint '{prefix}' cannot be loaded: {problem}")
  return read_prefix(prefix)


def read_prefix(prefix):
  """The reader of checkpoint `prefix` itself (no check; see open_checkpoint).

  Not tf.train.load_checkpoint: it first asks whether the path is a directory, which a
  prefix-matching file system answers yes for a prefix (ram://, used by the remote file-system
  tests), and then fails looking for a `checkpoint` state file inside it. The TF1 reader opens
  the prefix as given, on local and remote paths alike.
  """
  return tf.compat.v1.train.NewCheckpointReader(prefix)


def _assign_all(prefix, reader, named_variables):
  # One tensor at a time, so restoring never holds more than one extra copy in host memory.
  for name, variable in named_variables.items():
    try:
      value = reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as e:  # Corrupt bytes of the right size.
      raise CheckpointError(f"Checkpoint '{prefix}' cannot be loaded: reading '{name}' from "
                            f"{os.path.basename(prefix)}.data-* failed ({_first_line(e)})") from e
    variable.assign(value)


def _name_list(names):
  shown = ", ".join(names[:_MAX_NAMES_IN_MESSAGES])
  more = len(names) - _MAX_NAMES_IN_MESSAGES
  return shown + (f" ... and {more} more" if more > 0 else "")


def _examples(names):
  if not names:
    return ""
  return f" (e.g. {', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
