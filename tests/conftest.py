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
