"""Consoles and the small formatters every command shares (ages, percentages, file sizes)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.text import Text

PIPE_WIDTH = 200  # rich assumes 80 columns off a terminal; piped tables should not wrap that early


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (data) or stderr (errors, progress); plain text when the stream is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    is_tty = stream.isatty()
    width = None if is_tty or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(stderr=stderr, width=width, highlight=False)


def humanise_age(age: timedelta) -> str:
    """45s, 3m, 2h, 4d: the largest whole unit (a negative age, from clock skew, reads as 0s)."""
    seconds = max(int(age.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def age_of(moment: datetime | None, now: datetime) -> str:
    """The humanised age of a timestamp, or a dash when there is none."""
    return humanise_age(now - moment) if moment else "–"


def percent(confidence: float | None) -> str:
    """A confidence with one decimal, or a dash."""
    return "–" if confidence is None else f"{confidence:.1f}"


def file_size(size: int | None) -> str:
    """Bytes in the largest binary unit that keeps the number readable."""
    if size is None:
        return "–"
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def moment(value: datetime | None) -> str:
    """A UTC timestamp as people read it (seconds precision), or a dash."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def plain(value: object) -> Text:
    """A table cell shown as is: keys such as `clip [bold].mp4` must not be read as rich markup."""
    return Text("–" if value is None else str(value))
