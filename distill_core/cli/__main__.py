"""`python -m distill_core.cli ...`: the same as `distill-lab ...`."""

import sys

from distill_core.cli import main

sys.exit(main())
