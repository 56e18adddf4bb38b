"""User-facing errors: each message names the offending value and the fix. Light to import."""


class GenlabError(Exception):
    """An error caused by the user's input; shown as one message, not a traceback."""


class ConfigError(GenlabError):
    """The composed config is invalid."""


class DatasetMissingError(GenlabError):
    """A data set's files are not on disk and could not be downloaded."""
