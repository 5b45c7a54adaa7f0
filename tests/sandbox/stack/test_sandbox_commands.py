"""`modlake demo` (what `make demo` runs) and `modlake up` (the local stack for other terminals)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from cli.announcement import STATE_FILE_VARIABLE
from tests.sandbox.stack.pipeline import modlake_up


def test_demo_runs_the_pipeline_on_the_sample_clips_and_says_where_the_results_are(tmp_path: Path) -> None:
    # When the demo runs with its defaults (generated clips, deterministic classifier)
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    # Then it exits 0 after every stage printed its results
    assert result.exit_code == 0, result.output
    out = result.stdout
    for stage in (
        "1. upload",
        "2. start_moderation",
        "3. Athena",
        "4. send_digest",
        "5. the dashboard",
        "where things are",
    ):
        assert stage in out
    assert out.count("SUCCEEDED") >= 3  # the status table: three sample clips moderated
    assert "Exposed Female Nipple" in out and "Weapons" in out  # the label timelines
    assert "digest for " in out and "SENT" in out and "3 moderated (2 flagged)" in out
    # And the Parquet lake and the digest HTML it names exist
    assert list((tmp_path / "lake" / "moderation_videos").rglob("*.parquet"))
    assert list((tmp_path / "lake" / "digests").rglob("digest.html"))
    # And the dashboard page it names holds the demo's videos, read back from the views through Athena
    page = tmp_path / "dashboard.html"
    assert f"Dashboard:    {page}" in out
    daily = _embedded_views(page)["v_daily_summary"]
    videos = daily["columns"].index("videos")
    assert sum(row[videos] for row in daily["rows"]) == 3


def _embedded_views(page: Path) -> dict[str, Any]:
    """The view rows a dashboard page embeds (its dashboard-views JSON element)."""
    text = page.read_text(encoding="utf-8")
    start = text.index('<script type="application/json" id="dashboard-views">')
    body = text[text.index(">", start) + 1 : text.index("</script>", start)]
    return json.loads(body)


def test_demo_refuses_a_file_that_is_not_a_video_before_starting_anything(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    result = CliRunner().invoke(app, ["demo", str(notes), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("modlake: ") and "is not a video" in result.stderr
    assert not (tmp_path / "out" / "stack").exists()


def test_up_serves_other_commands_until_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given `modlake up` on a free port, announcing itself in this test's state file
    with modlake_up(tmp_path, timeout=60) as up:
        # When another command runs with --local
        monkeypatch.setenv(STATE_FILE_VARIABLE, str(up.state))
        status = CliRunner().invoke(app, ["--local", "status"])
        # Then it reaches the running stack
        assert status.exit_code == 0, status.output
        # And Ctrl-C stops the stack cleanly and withdraws the announcement
        up.process.send_signal(signal.SIGINT)
        stdout, stderr = up.process.communicate(timeout=60)
        assert up.process.returncode == 0, stderr
        assert "modlake local stack" in stdout and "local stack stopped" in stderr
        assert not up.state.exists()


def test_local_commands_fail_in_one_line_when_no_stack_is_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_FILE_VARIABLE, str(tmp_path / "nothing-here.json"))
    result = CliRunner().invoke(app, ["--local", "status"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "modlake: no local stack is running: start one with `modlake up` (or `make demo`)"
