"""Fixtures that several test files share: pytest finds them here, without imports."""
import pytest

from tests.pretrain_fixtures import write_tagged_records
from tests.test_run_finetuning import write_finetuning_data_dir


@pytest.fixture(name="record_dir")
def fixture_record_dir(tmp_path):
  """Three small files of tagged pre-training records (see `write_tagged_records`)."""
  return write_tagged_records(tmp_path)


@pytest.fixture(name="data_dir")
def fixture_data_dir(tmp_path):
  """A data directory with a tiny pre-trained model and two fine-tuning tasks."""
  return write_finetuning_data_dir(tmp_path)


# The slowest test files, slowest first (their summed durations on 2 CPU cores, from
# `pytest --durations=0`). pytest-xdist hands whole files to the workers (--dist loadfile), by
# default those with the most tests first, which leaves files of a few long tests to the end,
# where one core may run them alone while the other idles. Longest first keeps the tail short.
SLOWEST_FILES_FIRST = (
    "test_run_pretraining.py", "test_demo.py", "test_xla_steps.py", "test_learning.py",
    "test_run_finetuning.py", "test_remote_filesystem.py", "test_training_strategies.py",
    "test_length_grouping.py", "test_pretraining_safety.py", "test_pretraining.py",
    "test_predict_export.py", "test_modeling.py", "test_finetuning_safety.py",
)


def pytest_configure(config):
  if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the order set below
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
  rank = {name: index for index, name in enumerate(SLOWEST_FILES_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as found
