"""CMRC 2018 / DRCD evaluation, scoring like the official CMRC 2018 script (v5/v6).

    python cmrc2018_drcd_evaluate.py DATASET PREDICTIONS [--output FILE]

The scorer itself is finetune/qa/cmrc2018_drcd_evaluate.py (run_finetuning.py scores with it);
this file keeps the command where users of the official script look for it. Importing this
module gives that module itself.
"""

import sys

from finetune.qa import cmrc2018_drcd_evaluate

if __name__ == "__main__":
  sys.exit(cmrc2018_drcd_evaluate.main())
else:
  sys.modules[__name__] = cmrc2018_drcd_evaluate
