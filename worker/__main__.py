"""`python -m worker run | show | list | cancel | export | demo | doctor`, the same as `tunequeue` (worker/cli.py)."""

import sys

from worker.cli import main

sys.exit(main())
