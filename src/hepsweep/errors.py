"""One exception root for everything hepsweep refuses, each with a one-line message that names the fix."""

from __future__ import annotations


class HepsweepError(Exception):
    """Base class of hepsweep's errors: the message is one line that says what is wrong and how to fix it."""


class ConfigError(HepsweepError):
    """A configuration value is missing, out of range or inconsistent with another one."""


class InvalidArchitectureError(ConfigError):
    """The model configuration cannot build a valid network for the input shape."""


class DataError(HepsweepError):
    """A data file is missing, unreadable or not in the expected format."""


class DeviceError(HepsweepError):
    """The requested compute device is not available."""


class TrainingError(HepsweepError):
    """Training diverged (NaN loss) or could not run."""


class StudyError(HepsweepError):
    """A study cannot be created, loaded or resumed as asked."""


class SearchSpaceError(StudyError):
    """A search-space expression in ``hydra.sweeper.params`` cannot be parsed."""


class JobLostError(HepsweepError):
    """A trial's job was ended from outside before it finished: cancelled, over its time limit,
    its node lost, or vanished from the cluster. The trial is run again (up to ``max_retry``)."""
