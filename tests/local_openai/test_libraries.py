"""local_openai/trainers/libraries.py: first imports of transformers and peft from many threads at once.

Runs in a fresh interpreter, so the imports really are first ones (as in a freshly started server). A race cannot be
forced on demand, so this shows the serialised path works from concurrent threads; it does not prove the race away.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from concurrent.futures import ThreadPoolExecutor
from local_openai.trainers.libraries import load

wanted = [("transformers", "AutoModel"), ("transformers", "AutoTokenizer"), ("transformers", "AutoConfig"),
          ("transformers", "AutoModelForCausalLM"), ("peft", "PeftModel"), ("peft", "LoraConfig")] * 2
with ThreadPoolExecutor(len(wanted)) as pool:
    loaded = list(pool.map(lambda pair: load(*pair)[0], wanted))
print(sorted({value.__name__ for value in loaded}))
"""


def test_concurrent_first_imports_all_resolve():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        sorted(["AutoModel", "AutoTokenizer", "AutoConfig", "AutoModelForCausalLM", "PeftModel", "LoraConfig"])
    )
