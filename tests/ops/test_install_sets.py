"""What each make target installs: the runtime set for `setup`/`demo` and the image, test and lint tools and the
Debian packages only for `test`/`lint`. Read from `make -n -B` (print every recipe, run none) and the files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = {"pytest", "playwright", "ruff", "mypy", "import-linter", "celery-types", "openapi-core"}
LINT_CHECKS = [".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy", ".venv/bin/lint-imports"]


def pinned_names(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    return {re.split(r"[=<>\[ ]", line, maxsplit=1)[0].lower() for line in lines if line and not line.startswith("#")}


def dry_run(target: str) -> str:
    result = subprocess.run(["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_runtime_requirements_hold_no_test_or_lint_tool():
    assert pinned_names(REPO / "requirements.txt") & TOOLS == set()
    assert pinned_names(REPO / "requirements-dev.txt") >= TOOLS
    assert "torch" in pinned_names(REPO / "requirements.txt")


def test_make_demo_installs_no_debian_package_and_no_dev_tool():
    commands = dry_run("demo")
    assert "pip install -q -r requirements.txt" in commands and "pip install -q --no-deps -e ." in commands
    assert "apt-get" not in commands and "dpkg" not in commands
    assert "requirements-dev.txt" not in commands


def test_make_test_installs_chromium_and_the_dev_tools_then_runs_every_lint_check_before_pytest():
    for target in ("test", "test-fast"):
        commands = dry_run(target)
        assert "apt-get" in commands and "chromium" in commands
        order = [
            commands.index("pip install -q -r requirements.txt"),
            commands.index("pip install -q -r requirements-dev.txt"),
            *[commands.index(f"{check}\n") for check in LINT_CHECKS],
            commands.index("-m pytest"),
        ]
        assert order == sorted(order), target


def test_make_lint_runs_ruff_mypy_and_import_linter():
    commands = dry_run("lint").splitlines()
    checks = [line for line in commands if line.startswith(".venv/bin/") and not line.startswith(".venv/bin/pip")]
    assert checks == LINT_CHECKS


def test_the_image_installs_only_the_runtime_set():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "requirements-dev" not in dockerfile
    assert "requirements-dev.txt" in (REPO / ".dockerignore").read_text().split()
