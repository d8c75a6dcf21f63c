"""The team file: the shipped example loads; mistakes are named by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.team import Team, load_team

ROOT = Path(__file__).resolve().parent.parent


def test_example_team_loads() -> None:
    team = load_team(ROOT / "team.example.yaml")
    asha = team.by_user("slack", "U0REP00001")
    assert asha is not None and asha.language == "en" and asha.timezone == "Asia/Kolkata"
    assert team.by_user("telegram", "100200300") == team.by_name("wei")
    assert [r.name for r in team.sellers] == ["Asha", "Wei"]
    assert team.routing[0][1] == "Maria" and "MX" in team.routing[0][0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("reps:\n  - name: A\n    timezone: Mars/Base\n", "reps.0.timezone"),
        ("reps:\n  - name: A\n    role: boss\n", "reps.0.role"),
        ("reps: []\n", "reps"),
        ("reps:\n  - name: A\nrouting:\n  - countries: [ES]\n    rep: Nobody\n", "Nobody"),
        ("reps:\n  - name: A\n  - name: a\n", "unique"),
        ("reps: [\n", "not valid YAML"),
    ],
)
def test_team_mistakes_are_named(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_team(path)


def test_single_rep_team_when_no_file() -> None:
    team = Team.single("C1", "", "en")
    assert team.implicit and team.reps[0].slack_channel == "C1"
