"""shared/ is pure domain code: importing it must not pull in Celery or Flask."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "settings",
    "dataset_reading",
    "dataset_sampling",
    "prompts",
    "tokens",
    "pricing",
    "metrics",
    "records",
    "store",
    "export",
    "estimates",
]


def test_shared_modules_import_neither_celery_nor_flask():
    code = (
        "import sys\n"
        + "".join(f"import shared.{name}\n" for name in MODULES)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'flask', 'kombu', 'werkzeug')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
