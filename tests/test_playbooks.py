"""Playbook files: every bundled one loads; a bad one is named by file, line and field, at start-up too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import build_runtime
from bot.channels.console import ConsoleChannel
from bot.config import Settings
from bot.playbooks import PlaybookError, load_playbook, load_playbooks
from bot.surfaces.console import ConsoleSurface

ROOT = Path(__file__).resolve().parent.parent
BAD = """\
title: Broken
trigger:
  type: stage_entered
  stage: quotd
steps:
  - wait: {business_days: 3}
    prompt: Check in.
  - wait: {business_days: 3, hours: 2}
    prompt: Again.
  - wait: {days: 1}
    autonomy: sometimes
    prompt: Once more.
"""


def test_every_bundled_playbook_loads_with_the_shipped_set() -> None:
    playbooks = load_playbooks(ROOT / "playbooks")
    assert set(playbooks.names) == {"inquiry_unanswered", "quote_no_reply", "sample_sent", "dormant_customer"}
    quote = playbooks.get("quote_no_reply")
    assert quote is not None and [s.wait.business_days for s in quote.steps] == [3, 7, 14]
    inquiry = playbooks.get("inquiry_unanswered")
    assert inquiry is not None and inquiry.steps[0].is_nudge and inquiry.steps[0].wait.business_hours == 2
    dormant = playbooks.get("dormant_customer")
    assert dormant is not None and dormant.trigger.type == "silence" and dormant.steps[0].template == "reengage"
    assert all(step.autonomy == "approve" for p in playbooks.playbooks for step in p.steps)


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BAD)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}:4: trigger.stage: ") and "'quoted'" in lines[0]
    assert lines[1].startswith(f"{path}:8: steps.1.wait: ") and "exactly one of" in lines[1]
    assert lines[2].startswith(f"{path}:11: steps.2.autonomy: ") and "'auto_if_safe'" in lines[2]


@pytest.mark.parametrize(("text", "expected"), [
    ("title: x\nsteps: [\n", ":3: not valid YAML"),
    ("- a list\n", ":1: a playbook is a mapping"),
    ("title: t\ntrigger: {type: manual}\nsteps:\n  - wait: {hours: 1}\n", ":4: steps.0: Value error, say what to do"),
    ("title: t\ntrigger: {type: manual}\nsteps:\n  - wait: {hours: 1}\n    nudge: hi\n    autonomy: auto\n",
     ":4: steps.0: Value error, autonomy applies to messages"),
    ("title: t\ntrigger: {type: manual}\nsend_window: {start: '18:00', end: '09:00'}\nsteps:\n"
     "  - wait: {hours: 1}\n    prompt: p\n", ":3: send_window: Value error, end must be later"),
    ("title: t\ntrigger: {type: manual}\nsteps:\n  - wait: {hours: 1}\n    prompt: p\n    colour: red\n",
     ":6: steps.0.colour: Extra inputs are not permitted"),
    ("title: t\nsteps:\n  - wait: {hours: 1}\n    prompt: p\n", ":1: trigger: Field required"),
])
def test_each_kind_of_mistake_is_located(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert f"{path}{expected}" in str(caught.value)


def test_duplicate_names_across_files_are_refused(tmp_path: Path) -> None:
    body = "name: same\ntitle: t\ntrigger: {type: manual}\nsteps:\n  - wait: {hours: 1}\n    prompt: p\n"
    (tmp_path / "a.yaml").write_text(body)
    (tmp_path / "b.yaml").write_text(body)
    with pytest.raises(PlaybookError, match="'same' is already used"):
        load_playbooks(tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)


def test_playbooks_check_command(tmp_path: Path) -> None:
    ok = _cli("playbooks", "check")
    assert ok.returncode == 0, ok.stderr
    assert "quote_no_reply" in ok.stdout
    (tmp_path / "broken.yaml").write_text(BAD)
    bad = _cli("playbooks", "check", "--dir", str(tmp_path))
    assert bad.returncode == 1
    assert f"{tmp_path / 'broken.yaml'}:4: trigger.stage" in bad.stderr


def test_start_up_refuses_invalid_playbooks(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BAD)
    settings = Settings(_env_file=None, trademate_db=":memory:", trademate_playbooks=str(tmp_path))  # type: ignore[call-arg]
    with pytest.raises(PlaybookError, match=r"broken\.yaml:4"):
        build_runtime(settings, surface=ConsoleSurface(out=lambda _: None), channel=ConsoleChannel(out=lambda _: None))
