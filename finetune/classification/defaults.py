"""The classification tasks' hyper-parameters and defaults (TensorFlow-free: read by
configure_finetuning.py through finetune/task_builder.py)."""

# Hyper-parameters only classification reads, with their defaults.
HPARAMS = {
    # Paraphrase tasks (LCQMC, BQ Corpus): train on both sentence orders. The Chinese release
    # did not (it applied this only to English MRPC/STS), so params/params_{lcqmc,bqcorpus}*.json
    # turn it off to reproduce its numbers.
    "double_unordered": True,
}

RANGES = {}
NO_EFFECT = {}

# Where a run fine-tunes a classification task alone, the shared hyper-parameters start from
# these (the original's).
SINGLE_TASK_DEFAULTS = {
    "max_seq_length": 128,
    "num_train_epochs": 3.0,
}
