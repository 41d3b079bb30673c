"""The QA tasks' hyper-parameters and defaults (TensorFlow-free: configure_finetuning.py reads
them through finetune/task_builder.py, and `run_finetuning.py --help` must stay fast).

The original gave QA its defaults by matching "squad"/"qa" in the task name, which CMRC 2018
and DRCD miss; here the QA package declares them and every task of the package gets them.
"""

from util import hparam_checks

# Hyper-parameters only QA reads, with their defaults (the original's).
HPARAMS = {
    "max_query_length": 64,
    "doc_stride": 128,
    "n_best_size": 20,
    "max_answer_length": 30,
    "answerable_classifier": True,
    "answerable_uses_start_logits": True,
    "answerable_weight": 0.5,
    "joint_prediction": True,  # predict the end conditioned on the start
    "beam_size": 20,
    "qa_na_threshold": -2.75,  # SQuAD 2.0 only: refused here (NO_EFFECT)
}

# Valid values of those (checked with the configs' table, util/hparam_checks.RANGES).
RANGES = {
    "max_query_length": hparam_checks.COUNT,
    "doc_stride": hparam_checks.COUNT,
    "n_best_size": hparam_checks.COUNT,
    "max_answer_length": hparam_checks.COUNT,
    "answerable_weight": hparam_checks.NON_NEGATIVE,
    "beam_size": hparam_checks.COUNT,
}

# Kept so that the original's JSON files load, but without effect here: a value other than the
# default is refused.
NO_EFFECT = {
    "qa_na_threshold": "it decides unanswerable questions of SQuAD 2.0-style data; CMRC 2018 "
                       "and DRCD have none",
}

# Where a run fine-tunes a QA task alone, the shared hyper-parameters start from these.
SINGLE_TASK_DEFAULTS = {
    "max_seq_length": 512,
    "num_train_epochs": 2.0,
    "write_test_outputs": False,
}
