"""Domain errors. Their class names are the error names Step Functions sees (Retry/Catch match on them)."""


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
