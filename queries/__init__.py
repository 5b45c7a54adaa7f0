"""The SQL files of queries/ (named queries) and queries/views/ (QuickSight-ready views), with their headers.

Every file opens with a comment header:

    -- Purpose: what the query answers (one or more lines)
    -- Parameters:
    --   day_from: first dt partition, yyyy-MM-dd (inclusive)
    --   day_to: last dt partition, yyyy-MM-dd (inclusive)

Parameters are `?` placeholders filled, in order, by Athena execution parameters. The stack, the
send_digest function and the local engine all read the files through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parent
VIEWS_DIR = QUERIES_DIR / "views"


@dataclass(frozen=True)
class SqlFile:
    """One .sql file: its name (the file stem), header and text."""

    name: str
    description: str
    parameters: tuple[str, ...]
    sql: str

    @property
    def body(self) -> str:
        """The SQL without its header comment (what a view stores as its original text)."""
        lines = self.sql.splitlines()
        while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
            lines.pop(0)
        return "\n".join(lines).strip().rstrip(";").strip()


def parse_sql_file(name: str, text: str) -> SqlFile:
    """Read the header comment of one file; a file without a Purpose line is an error."""
    purpose: list[str] = []
    parameters: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("--"):
            if line:
                break
            continue
        content = line[2:].strip()
        if content.startswith("Purpose:"):
            section = "purpose"
            purpose.append(content.removeprefix("Purpose:").strip())
        elif content.startswith("Parameters:"):
            section = "parameters"
            if content.removeprefix("Parameters:").strip().lower() not in ("", "none"):
                raise ValueError(f"{name}: list parameters one per line under 'Parameters:'")
        elif section == "purpose" and content:
            purpose.append(content)
        elif section == "parameters" and ":" in content:
            parameters.append(content.split(":", 1)[0].strip())
    if not purpose:
        raise ValueError(f"{name}: the header has no 'Purpose:' line")
    return SqlFile(name=name, description=" ".join(purpose), parameters=tuple(parameters), sql=text)


def _load_dir(directory: Path) -> tuple[SqlFile, ...]:
    paths = sorted(directory.glob("*.sql"))
    return tuple(parse_sql_file(path.stem, path.read_text(encoding="utf-8")) for path in paths)


@cache
def named_queries() -> tuple[SqlFile, ...]:
    """queries/*.sql: one Athena named query each."""
    return _load_dir(QUERIES_DIR)


@cache
def views() -> tuple[SqlFile, ...]:
    """queries/views/*.sql: one Athena view each (the file stem is the view name)."""
    return _load_dir(VIEWS_DIR)


def named_query(name: str) -> SqlFile:
    """The named query `name` (a file stem in queries/)."""
    for query in named_queries():
        if query.name == name:
            return query
    raise KeyError(f"no query named {name!r} in {QUERIES_DIR}")


def execution_parameter(value: str | int | float | date | datetime) -> str:
    """A value as Athena execution parameters take it: the SQL literal, strings single-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    elif isinstance(value, date):
        value = value.isoformat()
    return "'" + value.replace("'", "''") + "'"
