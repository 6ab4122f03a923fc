"""One line (problem and fix) from the multi-line errors Hydra and OmegaConf raise."""

from __future__ import annotations

import re

from hydra.errors import MissingConfigException, OverrideParseException

from hepsweep.errors import message_line


def unknown_key(exc: BaseException) -> str | None:
    """The key an override named that the config does not have, when that is the error."""
    text = str(exc).strip()
    first = message_line(exc)
    if not ("not in" in first and "Key '" in text or "Could not override" in first):
        return None
    name = re.search(r"Could not override '([^']+)'", text)
    key = re.search(r"full_key: (\S+)", text)
    return name.group(1) if name else (key.group(1) if key else "?")


def explain_hydra_error(exc: BaseException) -> str:
    """One line (problem and fix) from the multi-line errors Hydra and OmegaConf raise."""
    text = str(exc).strip()
    if isinstance(exc, MissingConfigException) and exc.options is not None:
        match = re.search(r"Could not find '([^']+)'", text)
        missing = match.group(1) if match else (exc.missing_cfg_file or "?")
        group, _, option = missing.rpartition("/")
        options = sorted(o for o in exc.options if not o.endswith("_schema"))
        return f"{group}={option} is not a known option; choose one of: {', '.join(options)}"
    if isinstance(exc, OverrideParseException):
        return f"cannot parse the override ({message_line(exc)}); write overrides as key=value"
    key = re.search(r"full_key: (\S+)", text)
    first = message_line(exc)
    source = re.match(r"In '(sweep/[^']+)': ConfigKeyError", first)
    if source and key and "." in key.group(1) and re.search(r"Key '[^']+' not in", text):
        # a sweep file sets a key of a group the command line chose another option of
        file, full_key = source.group(1), key.group(1)
        group = full_key.split(".", 1)[0]
        return (
            f"{file} sets {full_key}, which the chosen {group} does not have; keep the {group} "
            f"{file} is written for, or write a sweep file of your own for this {group}"
        )
    bad = unknown_key(exc)
    if bad is not None:
        return f"'{bad}' is not a config key; check its spelling (hepsweep --cfg job lists every key)"
    if key:
        detail = first.replace("\n", " ")
        return f"{key.group(1)}: {detail}; give a value of the right type"
    return f"{first}; check the overrides (hepsweep --help lists the config groups)"
