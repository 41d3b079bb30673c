"""Tensors of a PyTorch `torch.save` file (e.g. `pytorch_model.bin`) read without torch and
without running any of the file's code.

A `torch.save` file (torch >= 1.6) is a zip archive: `<archive>/data.pkl` is a pickle of the
saved object whose tensors refer to raw storages `<archive>/data/<key>` (little-endian unless
`<archive>/byteorder` says otherwise). The legacy format (torch < 1.6, and
`_use_new_zipfile_serialization=False`; many 2020 uploads) is five pickles in a row (magic
number, protocol, system info, the object, its storage keys) followed by each storage as an
8-byte element count and its raw bytes. A pickle is a program: its GLOBAL opcodes name any
importable callable and REDUCE calls it, so `pickle.load` (and `torch.load` without
`weights_only`) of an untrusted file can run anything. Here the pickle is first scanned, and only
these opcodes and callables are accepted; anything else is refused before one opcode runs:

  collections.OrderedDict              the state dict itself (and a tensor's empty hooks)
  torch._utils._rebuild_tensor_v2      a tensor: (storage, offset, size, stride, ...)
  torch.<Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool>Storage
                                       the storage types, only as persistent-id tags

Each of them is replaced by a stand-in defined here (no torch import, no NumPy callable is
reachable from the pickle); tensors become NumPy arrays copied out of their storage after
checking that their size and strides stay inside it. bfloat16 becomes float32 (exactly).
TensorFlow-free and torch-free: NumPy only.
"""

import collections
import io
import pickle
import pickletools
import zipfile

import numpy as np


class UnsafePickleError(ValueError):
  """A file this reader refuses (not a torch zip, a forbidden opcode or callable, bad tensor)."""


# torch storage type name -> NumPy dtype of its elements (bfloat16: raw 16-bit words).
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

# Opcodes a state dict of tensors needs (protocols 2 to 5); everything else is refused, notably
# INST / OBJ / NEWOBJ / NEWOBJ_EX (build arbitrary objects), EXT* (the copyreg registry) and the
# text PERSID / out-of-band buffer opcodes.
ALLOWED_OPCODES = frozenset("""
    PROTO FRAME STOP MARK POP POP_MARK DUP
    GLOBAL STACK_GLOBAL REDUCE BUILD BINPERSID
    NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
    BINBYTES SHORT_BINBYTES BINBYTES8
    EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_LIST LIST APPEND APPENDS
    EMPTY_DICT DICT SETITEM SETITEMS
    PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET
""".split())


class _StorageType:
  """Stands in for torch.<X>Storage: only a tag naming the element type of a storage."""

  def __init__(self, name):
    self.name = name
    self.dtype = np.dtype(STORAGE_DTYPES[name])

  def __setstate__(self, state):
    raise UnsafePickleError("the pickle modifies a storage type")


class _Storage:
  """One storage of the file; `array` (flat) is set once its bytes are read (the legacy format
  stores them after the pickle)."""

  def __init__(self, storage_type, numel):
    self.storage_type = storage_type
    self.numel = numel
    self.array = None

  def set_bytes(self, raw, source, key):
    dtype = self.storage_type.dtype
    if len(raw) % dtype.itemsize or (isinstance(self.numel, int)
                                     and len(raw) < self.numel * dtype.itemsize):
      raise UnsafePickleError(f"{source}: storage {key} has {len(raw)} bytes, not "
                              f"{self.numel} x {dtype.itemsize}")
    self.array = np.frombuffer(raw, dtype)

  def __setstate__(self, state):
    raise UnsafePickleError("the pickle modifies a storage")


class _Tensor:
  """What `_rebuild_tensor_v2` returns here: a view of a storage, copied out by `value`."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

  def value(self):
    """The tensor as a NumPy array (bfloat16 widened to float32), checked to stay inside its
    storage."""
    array = self.storage.array
    if 0 not in self.size:
      last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
      if last >= array.size:
        raise UnsafePickleError(f"a tensor reaches element {last} of a storage of {array.size}")
    elif self.offset > array.size:
      raise UnsafePickleError("a tensor starts beyond its storage")
    view = np.lib.stride_tricks.as_strided(
        array[self.offset:], shape=self.size,
        strides=[s * array.itemsize for s in self.stride], writeable=False)
    value = np.array(view)
    if self.storage.storage_type.name == "BFloat16Storage":  # float32's upper half
      value = (value.astype(np.uint32) << 16).view(np.float32)
    return value

  def __setstate__(self, state):
    raise UnsafePickleError("the pickle modifies a tensor")


class _OrderedDict(collections.OrderedDict):
  """collections.OrderedDict whose pickled attributes (a state dict's `_metadata`) are dropped
  instead of being set."""

  def __setstate__(self, state):
    if not isinstance(state, dict):
      raise UnsafePickleError("the pickle sets a dict's state to a non-dict")


def _int_tuple(values, what):
  if not isinstance(values, tuple) or not all(
      isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
    raise UnsafePickleError(f"a tensor's {what} is not a tuple of non-negative integers")
  return values


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                    metadata=None):
  """torch._utils._rebuild_tensor_v2: a view of `storage` (its values are read later)."""
  del requires_grad, hooks, metadata  # training state, irrelevant to the values
  if not isinstance(storage, _Storage):
    raise UnsafePickleError("a tensor is rebuilt from something that is not a storage")
  size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
  (offset,) = _int_tuple((offset,), "offset")
  if len(size) != len(stride):
    raise UnsafePickleError("a tensor's size and stride differ in length")
  return _Tensor(storage, offset, size, stride)


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


def allowed_names():
  """The allowed callables, the storage types folded into one entry."""
  storages = ",".join(name[:-len("Storage")] for name in STORAGE_DTYPES)
  return ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
          f"torch.{{{storages}}}Storage"]


def check_opcodes(data, source):
  """Refuses a pickle (bytes, or a file positioned at one: left after its STOP) using an
  opcode or a GLOBAL outside the allowed sets, before running it (STACK_GLOBAL's names come
  from the stack: Unpickler.find_class checks those)."""
  try:
    for opcode, arg, _ in pickletools.genops(data):
      if opcode.name not in ALLOWED_OPCODES:
        raise UnsafePickleError(f"{source}: refused: the pickle uses the opcode {opcode.name}, "
                                f"which a state dict of tensors does not need")
      if opcode.name == "GLOBAL":
        module, _, name = str(arg).partition(" ")
        _check_global(module, name, source)
  except (ValueError, EOFError) as e:
    if isinstance(e, UnsafePickleError):
      raise
    raise UnsafePickleError(f"{source}: not a valid pickle ({e})") from None


def _check_global(module, name, source):
  if (module, name) not in ALLOWED_GLOBALS:
    raise UnsafePickleError(
        f"{source}: refused: the pickle calls {module}.{name} (only {', '.join(allowed_names())} "
        f"are allowed); it could run code, do not torch.load it")
  return ALLOWED_GLOBALS[(module, name)]


class _RestrictedUnpickler(pickle.Unpickler):
  """Resolves only the allowed globals, and persistent ids only as storages of the archive."""

  def __init__(self, data, source, storages, read_storage=None):
    super().__init__(io.BytesIO(data))
    self._source = source
    self._storages = storages  # {key: _Storage}, shared by the caller
    self._read_storage = read_storage  # zip: key -> bytes; legacy: None (bytes come later)

  def find_class(self, module, name):
    return _check_global(module, name, self._source)

  def persistent_load(self, pid):
    # zip: ("storage", type, key, location, numel); legacy: the same + view_metadata (None).
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
            and (len(pid) == 5 or pid[5] is None)):
      raise UnsafePickleError(f"{self._source}: refused: a persistent id that is not a storage")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if key not in self._storages:
      storage = _Storage(storage_type, numel)
      if self._read_storage is not None:
        storage.set_bytes(self._read_storage(key), self._source, key)
      self._storages[key] = storage
    return self._storages[key]


def _unpickle(data, source, storages, read_storage=None):
  """check_opcodes, then the restricted unpickler; every failure one UnsafePickleError line."""
  check_opcodes(data, source)
  try:
    return _RestrictedUnpickler(data, source, storages, read_storage).load()
  except UnsafePickleError as e:
    raise UnsafePickleError(str(e) if str(e).startswith(source) else f"{source}: {e}") from None
  except Exception as e:  # pylint: disable=broad-except (any malformed pickle: one line)
    raise UnsafePickleError(f"{source}: cannot read the pickle ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from None


def _archive_prefix(names, source):
  pickles = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
  if len(pickles) != 1:
    raise UnsafePickleError(f"{source}: not a torch.save archive (no single <name>/data.pkl)")
  return pickles[0][:-len("data.pkl")]


def _tensors(loaded, source):
  if not isinstance(loaded, dict):
    raise UnsafePickleError(f"{source}: holds a {type(loaded).__name__}, not a dict of tensors")
  tensors = {}
  for name, tensor in loaded.items():
    if not isinstance(tensor, _Tensor) or tensor.storage.array is None:
      raise UnsafePickleError(f"{source}: {name} is not a tensor with stored values")
    try:
      tensors[str(name)] = tensor.value()
    except UnsafePickleError as e:
      raise UnsafePickleError(f"{source}: {name}: {e}") from None
  return tensors


def _load_zip(path, source):
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    prefix = _archive_prefix(names, source)
    byteorder = "little"
    if prefix + "byteorder" in names:
      byteorder = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
    if byteorder != "little":
      raise UnsafePickleError(f"{source}: byte order {byteorder!r} is not supported")

    def read_storage(key):
      try:
        return archive.read(f"{prefix}data/{key}")
      except KeyError:
        raise UnsafePickleError(f"{source}: storage {key} is missing from the archive") from None

    return _tensors(_unpickle(archive.read(prefix + "data.pkl"), source, {}, read_storage),
                    source)


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def _next_pickle(f, source, storages=None):
  """The next pickle of a legacy file, checked and run restricted."""
  start = f.tell()
  check_opcodes(f, source)  # leaves f after the pickle's STOP
  end = f.tell()
  f.seek(start)
  return _unpickle(f.read(end - start), source, {} if storages is None else storages)


def _load_legacy(path, source):
  with open(path, "rb") as f:
    if _next_pickle(f, source) != LEGACY_MAGIC:
      raise UnsafePickleError(f"{source}: not a torch.save file (no torch magic number)")
    if _next_pickle(f, source) != LEGACY_PROTOCOL:
      raise UnsafePickleError(f"{source}: unknown legacy torch.save protocol")
    sys_info = _next_pickle(f, source)
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
      raise UnsafePickleError(f"{source}: only little-endian torch.save files are supported")
    storages = {}
    loaded = _next_pickle(f, source, storages)
    keys = _next_pickle(f, source)
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
      raise UnsafePickleError(f"{source}: the storage list disagrees with the tensors")
    for key in keys:
      count = int.from_bytes(f.read(8), "little")
      storage = storages[key]
      storage.set_bytes(f.read(count * storage.storage_type.dtype.itemsize), source, key)
  return _tensors(loaded, source)


def load_state_dict(path):
  """{name: NumPy array} of a torch.save'd dict of tensors (zip or legacy format);
  UnsafePickleError (one line) for a forbidden opcode or callable, a tensor outside its storage
  or a file that is not torch.save's."""
  source = str(path)
  if zipfile.is_zipfile(path):
    return _load_zip(path, source)
  try:
    return _load_legacy(path, source)
  except UnsafePickleError as e:
    if "not a valid pickle" in str(e) or "no torch magic" in str(e):
      raise UnsafePickleError(f"{source}: neither a zip nor a legacy torch.save file") from None
    raise
