"""``hepsweep`` on the command line: a verb (report, ui, dashboard, resume, drone, export,
register), else the Hydra app."""

from __future__ import annotations

import gc
import sys

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from hepsweep.app import main as hydra_app
from hepsweep.errors import HepsweepError, filesystem_error_line
from hepsweep.hydra_errors import explain_hydra_error
from hepsweep.redaction import mask

VERBS = ("report", "ui", "dashboard", "resume", "drone", "example-ntuples", "export", "register")  # hepsweep.commands.VERBS, named without importing it


def entry() -> None:
    """The ``hepsweep`` executable: :func:`main`, then a quick exit."""
    code = main()
    # Nothing is left to collect at exit: without this, the interpreter's last garbage
    # collection walks every object MLflow, SQLAlchemy and plotly made (half a second a command)
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in VERBS:
            from hepsweep.commands import run_verb  # heavy: pandas and the study views, for the verbs only

            return run_verb(argv[0], argv[1:])
        hydra_app(argv)
        return 0
    except Exception as exc:
        message = error_line(exc)
        if message is None:
            raise
        print(f"hepsweep: error: {mask(message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hepsweep: interrupted", file=sys.stderr)
        return 130


def error_line(exc: Exception) -> str | None:
    """The one line for an error the user can fix (ours, a folder that cannot be written, a
    config that does not compose); None for a bug, which keeps its traceback."""
    if isinstance(exc, HepsweepError):
        return str(exc)
    if isinstance(exc, OSError):
        return filesystem_error_line(exc)
    return _config_error_line(exc)


def _config_error_line(exc: Exception) -> str | None:
    """One line for Hydra/OmegaConf composition errors; None for anything else."""
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        return explain_hydra_error(exc)
    return None


if __name__ == "__main__":
    entry()
