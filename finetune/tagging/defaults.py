"""The tagging tasks' hyper-parameters and defaults (TensorFlow-free: read by
configure_finetuning.py through finetune/task_builder.py)."""

# Tagging reads only the shared hyper-parameters.
HPARAMS = {}
RANGES = {}
NO_EFFECT = {}

# Where a run fine-tunes a tagging task alone, the shared hyper-parameters start from these:
# People's Daily sentences fit in 128 tokens (see params/params_peoples_daily_ner.json).
SINGLE_TASK_DEFAULTS = {
    "max_seq_length": 128,
    "num_train_epochs": 3.0,
}
