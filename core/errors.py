"""One exception family for avstroke.

Every message names the file, the row (1-based, as a spreadsheet shows it, counting the header as
row 1) and what was expected, so a clinical researcher can fix the input without reading code.
"""
from __future__ import annotations


class AvstrokeError(Exception):
    """Base class of every error avstroke raises on purpose."""


class ManifestError(AvstrokeError):
    """The manifest is unreadable or breaks the manifest contract."""


class MediaError(AvstrokeError):
    """A recording cannot be opened, decoded, or lacks the stream a stage needs."""


class NoFaceError(MediaError):
    """No face was found in a recording, or in too few of its frames."""


class NoAudioError(MediaError):
    """A recording has neither an audio stream nor a sidecar audio file."""


class ConfigError(AvstrokeError):
    """A command-line option or parameter has a value outside what is allowed."""


class RunFolderBusyError(AvstrokeError):
    """Another avstroke command is running in the same run folder."""


class TargetError(AvstrokeError):
    """The manifest cannot support the requested prediction target."""


class ModelMismatchError(AvstrokeError):
    """A saved model does not fit the features it is asked to score."""


def check_option(name: str, value, allowed) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``.

    Parameters
    ----------
    name : str
        What the value is called where the user set it (an option or column name).
    value : object
        The value given.
    allowed : iterable
        The values allowed; they are listed in the message.
    """
    allowed = list(allowed)
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name} must be one of {listed}; got {value!r}")
