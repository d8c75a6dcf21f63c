"""Docs cannot drift: CLI commands, settings and layering rules are checked against the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.cli import COMMANDS, build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_HANDLERS = ("slack_bolt", "slack_sdk", "telegram", "twilio", "langchain_openai", "langchain")


def test_every_cli_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    for name, (help_text, _) in COMMANDS.items():
        assert help_text.strip(), name
        assert f"trademate {name}" in readme, f"README does not show 'trademate {name}'"
        sub = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
        assert sub.format_help()


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings <= listed, f"missing from .env.example: {sorted(settings - listed)}"


def test_handlers_never_import_platform_sdks() -> None:
    for path in (ROOT / "handlers").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IN_HANDLERS, f"{path.name} imports {name}"


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "pip install -e ." in first_block and "trademate demo" in first_block
    assert "pip install -e '.[test]'" in readme and "pytest" in readme
