"""What every benchmark prints with its figures: the machine it ran on, and how a table lands in the README.

`make bench` regenerates the README's measured tables: each benchmark replaces the block between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` with its own output, so the README never shows a figure that no run
printed.
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path


def machine() -> str:
    """CPU model and count, torch version, threads and device, e.g. "2 CPUs (AMD EPYC), torch 2.13.0+cpu, ..."."""
    import torch

    from local_openai.trainers.torch_runtime import available_cpus, device

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPUs ({model}), {available_cpus()} usable, {gpu}, torch {torch.__version__} "
        f"on {device()}, Python {platform.python_version()}"
    )


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def spread(values: list[float], digits: int = 3) -> str:
    """Mean ± sample standard deviation, or the single value."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A fixed-width text table, header underlined."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def update_readme(readme: Path, name: str, text: str) -> None:
    """Replace the README block named `name` with `text` (in a text code block); the markers must exist."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    content = readme.read_text()
    if start not in content or end not in content:
        raise SystemExit(f"{readme} has no {start} ... {end} block to replace")
    before, rest = content.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(f"{before}{start}\n```text\n{text.rstrip()}\n```\n{end}{after}")
