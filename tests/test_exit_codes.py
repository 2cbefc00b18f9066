"""The exit statuses docs/promises.md and docs/reliability.md promise that no other test pins: Ctrl-C is 130 with
one line and nothing written, and an unexpected exception (a bug) is 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite import cli
from evalsite.core.errors import ExitCode, exit_code


def test_ctrl_c_is_130_with_one_line_and_nothing_written(task: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_manifest", interrupted)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli.main, ["evaluate", str(task), "-o", str(out)])
    assert result.exit_code == 130 == ExitCode.INTERRUPTED
    assert result.stderr.strip() == "error: interrupted; nothing was written"
    assert not out.exists()


def test_anything_not_evalsites_own_is_a_bug() -> None:
    assert exit_code(AssertionError("x")) == exit_code(TypeError("x")) == ExitCode.BUG == 1
