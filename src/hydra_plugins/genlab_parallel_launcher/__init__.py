"""genlab's parallel launcher for Hydra: a sweep's jobs n_jobs at a time in worker processes on
this machine, stopped cleanly on Ctrl-C / SIGTERM (a Hydra launcher must live in the
`hydra_plugins` namespace to be found)."""
