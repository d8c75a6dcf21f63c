"""slack-manifest.yaml cannot drift: every registered slash command, the scopes the code uses, the URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import bot.app  # noqa: F401  (imports every COMMAND_MODULES module, so the registry is complete)
from handlers.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
URL = "https://YOUR-PUBLIC-URL/slack/events"


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text())
    return data


def test_every_registered_command_is_in_the_manifest() -> None:
    listed = {c["command"]: c for c in _manifest()["features"]["slash_commands"]}
    assert "assign" in COMMANDS
    for name in COMMANDS:
        assert f"/{name}" in listed, f"/{name} is registered but missing from slack-manifest.yaml"
        assert listed[f"/{name}"]["url"] == URL
        assert listed[f"/{name}"]["description"]
    assert set(listed) == {f"/{n}" for n in COMMANDS}, "the manifest lists a command nobody handles"


def test_scopes_and_urls() -> None:
    manifest = _manifest()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "chat:write.public", "commands", "files:write", "users:read", "im:write",
            "channels:read"} <= scopes
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL}
    assert settings["event_subscriptions"]["request_url"] == URL
    assert settings["socket_mode_enabled"] is False


def test_readme_shows_the_one_paste_setup() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "slack-manifest.yaml" in readme and "From a manifest" in readme
