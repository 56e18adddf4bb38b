"""genlab-compare: per-group statistics, a chance level and plots of a Hydra sweep's jobs."""

from genlab.compare.cli import main

__all__ = ["main"]
