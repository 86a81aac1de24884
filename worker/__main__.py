"""`python -m worker run | show | demo | doctor` (see worker/cli.py)."""
import sys

from worker.cli import main

sys.exit(main())
