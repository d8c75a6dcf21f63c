"""Reading an operator's YAML file (team, templates) with errors that name the setting and the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError


def read_yaml(path: Path, setting: str) -> Any:
    """The parsed document, or a ConfigError such as "TRADEMATE_TEAM: team.yaml is not valid YAML: …"."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{setting}: {path} is not valid YAML: {exc}") from exc
