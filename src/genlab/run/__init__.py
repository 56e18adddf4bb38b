"""Run plumbing of the entry points: config checks and identity, preflight, building a run's
parts, the run record, resume and rerun sweep jobs, preemption, RNG state, launch and thread
policy, the error policy, resolvers, help, and what a run prints."""
