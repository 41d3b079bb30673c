"""bfloat16 on a CPU without bfloat16 instructions: detected from the CPU flags, and warned of."""

import logging

import pytest
import tensorflow as tf

from util import device_options
from util import strategy as strategy_lib

AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n"
WITH_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"


@pytest.mark.parametrize("cpuinfo, expected", [(AVX2_ONLY, False), (WITH_BF16, True),
                                               ("processor\t: 0\n", None)])
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, cpuinfo, expected):
  path = tmp_path / "cpuinfo"
  path.write_text(cpuinfo, encoding="utf-8")
  assert device_options.cpu_has_native_bfloat16(str(path)) is expected
  assert device_options.cpu_has_native_bfloat16(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("native, precision, warned", [
    (False, "bfloat16", True), (True, "bfloat16", False), (None, "bfloat16", False),
    (False, "float32", False)])
def test_bfloat16_on_a_cpu_without_it_is_warned_of(monkeypatch, caplog, native, precision,
                                                    warned):
  monkeypatch.setattr(device_options, "cpu_has_native_bfloat16", lambda: native)
  with caplog.at_level(logging.WARNING):
    dtype = strategy_lib.set_precision(precision)
  assert dtype == tf.as_dtype(precision)  # a warning, never a change of what was asked for
  assert ("slower than" in caplog.text) is warned
