"""Domain errors. Their class names are the error names Step Functions sees (Retry/Catch match on them)."""

import re
import tempfile


class PytoonError(Exception):
    """Base class; the message is what a user reads in the job's `error` field."""


class TransientError(PytoonError):
    """A failure worth retrying (throttling, a storage hiccup); the ASL retries it with backoff."""


class JobNotFoundError(PytoonError):
    pass


class InvalidTransitionError(PytoonError):
    """A status write lost its condition: the job is already further along or finished."""


class SegmentRenderError(PytoonError):
    """A segment cannot be rendered from its inputs; retrying will not help."""


# An absolute path under the temporary folder (scratch files, uploads being checked), quoted or bare.
_QUOTED_TEMP_PATH = re.compile(r" ?'" + re.escape(tempfile.gettempdir()) + r"/[^']*'")
_TEMP_PATH = re.compile(re.escape(tempfile.gettempdir()) + r"/[^\s'\",;)]*")


def public_message(text: str) -> str:
    """A message fit for a user: decoders and file operations name the temporary files they worked on, which
    say nothing to a user and reveal the server's layout; a quoted path is dropped, a bare one named "the file"."""
    return _TEMP_PATH.sub("the file", _QUOTED_TEMP_PATH.sub("", text))
