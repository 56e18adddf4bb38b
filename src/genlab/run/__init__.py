"""Run plumbing of the entry points: config checks, preflight, run record, resume, RNG state,
launch and thread policy, resolvers, help, and what a run prints."""
