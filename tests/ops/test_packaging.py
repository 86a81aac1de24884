"""pyproject.toml as a user meets it: `pip install -e .` gives a `tunequeue` command, the same as `python -m worker`.

The install goes into a virtualenv of the test's own, so the project's .venv is left as it is. That virtualenv sees
this interpreter's packages through a .pth file (the runtime requirements and setuptools are already installed
there), and pip runs with --no-deps --no-build-isolation, so the test needs no package index.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def venv_seeing_these_packages(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "outer-site-packages.pth").write_text(
        "".join(f"import site; site.addsitedir({directory!r})\n" for directory in sorted(outer))
    )
    return python


def test_pip_install_editable_gives_the_tunequeue_command(tmp_path):
    python = venv_seeing_these_packages(tmp_path / "venv")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-e", str(REPO)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    tunequeue = tmp_path / "venv" / "bin" / "tunequeue"
    result = subprocess.run([str(tunequeue), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tunequeue ")
    for command in ("run", "show", "list", "cancel", "demo", "doctor", "export"):
        assert command in result.stdout.split("}")[0], f"{command} missing from:\n{result.stdout}"

    # Run from elsewhere, the command finds the installed packages and their data (the demo's sample CSV).
    demo = subprocess.run([str(tunequeue), "demo", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    assert "airline_tweets_sample.csv" in demo.stdout or "Tweets.csv" in demo.stdout


def test_the_wheel_carries_templates_static_files_and_sample_data_but_no_tests(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info next to pyproject.toml
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "var", "__pycache__", "*.egg-info", "build", ".pytest_cache"),
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("tunequeue-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "worker/cli.py",
        "worker/commands/run.py",
        "shared/sample_data/airline_tweets_sample.csv",
        "web/templates/base.html",
        "web/templates/experiments/show.html",
        "web/static/app.css",
        "local_openai/trainers/base.py",
    ):
        assert expected in names, f"{expected} is not in {wheel.name}"
    assert not [name for name in names if name.startswith(("tests/", "bench/"))]
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "tunequeue = worker.cli:tunequeue" in zipfile.ZipFile(wheel).read(entry_points).decode()
    metadata = zipfile.ZipFile(wheel).read(next(name for name in names if name.endswith(".dist-info/METADATA")))
    requires = {line.split(": ", 1)[1] for line in metadata.decode().splitlines() if line.startswith("Requires-Dist")}
    runtime = [line for line in (REPO / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert requires == set(runtime)  # pyproject.toml reads them from requirements.txt
    assert not [name for name in requires if name.startswith(("pytest", "playwright", "ruff", "mypy"))]
