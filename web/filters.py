"""Jinja filters for figures on the pages: percentages, durations, dollars, timestamps."""

from __future__ import annotations

from datetime import datetime

from flask import Flask


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    minutes, secs = divmod(float(value), 60)
    return f"{int(minutes)}m {secs:.0f}s" if minutes else f"{secs:.1f}s"


def usd(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def when(value: str | None) -> str:
    """ISO-8601 UTC -> '2026-11-25 08:31:24 UTC'."""
    if not value:
        return "–"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(percent=percent, seconds=seconds, usd=usd, when=when)
