"""What an application hands the sweeper and launcher before Hydra runs.

The plugin serves any Hydra app, so it knows nothing of what one app shows or imports: hepsweep's
own app (:func:`hepsweep.app.main`) installs its study views and its worker warm-up here; a plain
Hydra app installs nothing, and its sweep draws the plain table of trials and imports neither
TensorFlow nor hepsweep's reference studies::

    from hydra_plugins.hepsweep_sweeper import _app_hooks as hooks

    hooks.install(lambda: hooks.AppHooks(views=VIEWS, render=render, warm_up=warm_up))

Its name starts with "_" so that Hydra's plugin scan skips it: the scan runs each plugin module
again, which would forget what was installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class AppHooks:
    """An application's additions to its sweeps.

    Attributes:
        views: The names the app's top-level ``report`` key may give (empty: the app has no
            ``report`` key of the sweeper's; the study shows its table of trials).
        render: Draws the study's view when it ends (None: the table of trials).
        warm_up: Runs once in each worker of ``hydra/launcher=hepsweep`` before its first job,
            to import the heavy libraries a job needs (None: nothing). Picklable: a function
            of a module.
    """

    views: Collection[str] = ()
    render: Callable[["optuna.Study", Path], Any] | None = None
    warm_up: Callable[[], None] | None = None


_make: Callable[[], AppHooks] = AppHooks
_made: AppHooks | None = None


def install(make: Callable[[], AppHooks]) -> None:
    """Hand the sweeps this process runs the hooks ``make`` returns (call it before Hydra
    starts). ``make`` runs when a sweep first asks, so that a single run imports none of them."""
    global _make, _made
    _make, _made = make, None


def installed() -> AppHooks:
    """The hooks of the running application (none for a plain Hydra app)."""
    global _made
    if _made is None:
        _made = _make()
    return _made
