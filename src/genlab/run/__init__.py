"""Run plumbing of the entry points: what a run prints and how it reports a sweep."""
