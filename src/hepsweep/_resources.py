"""Where hepsweep's own configuration folders live, in a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _source_root() -> Path | None:
    """The repository root when hepsweep runs from a checkout (editable install), else None."""
    root = _PACKAGE_DIR.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "conf" / "config.yaml").is_file():
        return root
    return None


def _data_dir(name: str) -> Path:
    root = _source_root()
    path = (root / name) if root is not None else (_PACKAGE_DIR / "_data" / name)
    if not path.is_dir():
        raise FileNotFoundError(f"hepsweep's '{name}' folder is missing at {path}; reinstall hepsweep")
    return path


def config_dir() -> Path:
    """The folder holding ``config.yaml`` and the config groups."""
    return _data_dir("conf")


def sweeps_dir() -> Path:
    """The folder holding the ready-made studies, one YAML file each (the ``sweep`` group)."""
    return _data_dir("sweeps")


def sweep_description(name: str) -> str | None:
    """The header comment of the ready-made study ``name`` (what it reproduces, how to run it),
    as plain text; None when no such study ships with hepsweep."""
    if not name.replace("_", "").isalnum():
        return None
    path = sweeps_dir() / f"{name}.yaml"
    if not path.is_file():
        return None
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    text = "\n".join(line for line in lines if not line.startswith("@package")).strip()
    return text or None
