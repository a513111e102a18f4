"""MDM's legacy flat ``config.yaml`` as the nested ``mdm.yaml`` it became (``mlmigrate mdm-config``).

The mapping is the one MDM's migration guide documents (``backend`` → ``database.default_backend``,
``batch_size`` → ``performance.batch_size``) plus the flat spellings of the other keys of the
nested schema; each key's environment variable is renamed the same way (``MDM_BACKEND`` →
``MDM_DATABASE_DEFAULT_BACKEND``). A key with no known place is listed and left out, never
guessed; a value ``mdm.yaml`` already holds is kept and the difference listed. A dry run is the
default: with ``apply`` the old files are first copied to ``config_backup/`` and ``mdm.yaml`` is
written atomically.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmigrate.exceptions import UsageError

#: flat legacy key -> its place in the nested mdm.yaml
LEGACY_KEYS: dict[str, tuple[str, str]] = {
    "backend": ("database", "default_backend"),
    "default_backend": ("database", "default_backend"),
    "connection_timeout": ("database", "connection_timeout"),
    "batch_size": ("performance", "batch_size"),
    "max_concurrent_operations": ("performance", "max_concurrent_operations"),
    "log_level": ("logging", "level"),
    "log_file": ("logging", "file"),
    "datasets_path": ("paths", "datasets_path"),
    "configs_path": ("paths", "configs_path"),
    "logs_path": ("paths", "logs_path"),
}
BACKUP_FOLDER = "config_backup"


@dataclass
class ConfigMigration:
    """What ``mdm-config`` found and did (or would do)."""

    home: str
    legacy_file: str
    applied: bool = False
    #: (legacy key, nested key, value) moved into mdm.yaml
    moved: list[tuple[str, str, Any]] = field(default_factory=list)
    #: (legacy key, nested key, legacy value, kept mdm.yaml value)
    kept: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    #: legacy keys with no known place: left out
    unknown: list[str] = field(default_factory=list)
    #: (old environment variable, new one, whether the old one is set now)
    environment: list[tuple[str, str, bool]] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (a password in the result masked)."""
        return {
            "home": self.home,
            "legacy_file": self.legacy_file,
            "applied": self.applied,
            "moved": [{"from": a, "to": b, "value": v} for a, b, v in self.moved],
            "kept": [{"from": a, "to": b, "legacy": v, "kept": k} for a, b, v, k in self.kept],
            "unknown": self.unknown,
            "environment": [{"old": a, "new": b, "set_now": s} for a, b, s in self.environment],
            "backups": self.backups,
            "mdm_yaml": _masked(self.result),
        }


def _masked(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: ("***" if k == "password" and v else _masked(v)) for k, v in data.items()}
    return data


def home_of(path: str | Path | None) -> Path:
    """The MDM home: ``path``, else ``MDM_HOME_DIR``, else ``~/.mdm``."""
    chosen = path or os.environ.get("MDM_HOME_DIR") or "~/.mdm"
    return Path(chosen).expanduser()


def migrate_config(home: str | Path | None = None, *, apply: bool = False) -> ConfigMigration:
    """Map ``HOME/config.yaml`` into ``HOME/mdm.yaml``; write it (after backing both up) with ``apply``."""
    import yaml

    root = home_of(home)
    legacy = root / "config.yaml"
    if not legacy.is_file():
        raise UsageError(f"no legacy MDM config at {legacy}; nothing to migrate")
    flat = yaml.safe_load(legacy.read_text()) or {}
    if not isinstance(flat, dict):
        raise UsageError(f"{legacy} is not a YAML mapping of keys to values")
    target = root / "mdm.yaml"
    nested: dict[str, Any] = (yaml.safe_load(target.read_text()) or {}) if target.is_file() else {}
    result = ConfigMigration(str(root), str(legacy))
    for key, value in flat.items():
        place = LEGACY_KEYS.get(str(key))
        if place is None:
            if isinstance(value, dict):  # already a nested section: carried as it is where free
                section = nested.setdefault(str(key), {})
                for inner, inner_value in value.items():
                    section.setdefault(inner, inner_value)
                result.moved.append((str(key), str(key), value))
            else:
                result.unknown.append(str(key))
            continue
        section_name, name = place
        section = nested.setdefault(section_name, {})
        dotted = f"{section_name}.{name}"
        if name in section and section[name] != value:
            result.kept.append((str(key), dotted, value, section[name]))
        else:
            section[name] = value
            result.moved.append((str(key), dotted, value))
        old_variable = f"MDM_{str(key).upper()}"
        new_variable = f"MDM_{section_name.upper()}_{name.upper()}"
        if old_variable != new_variable:
            result.environment.append((old_variable, new_variable, old_variable in os.environ))
    result.result = nested
    if apply:
        backup = root / BACKUP_FOLDER
        backup.mkdir(exist_ok=True)
        for existing in (legacy, target):
            if existing.is_file():
                shutil.copy2(existing, backup / existing.name)
                result.backups.append(str(backup / existing.name))
        written = target.with_name(target.name + ".mlmigrate-tmp")
        written.write_text(yaml.safe_dump(nested, sort_keys=False))
        os.replace(written, target)
        result.applied = True
    return result
