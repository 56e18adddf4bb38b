"""genlab's members launcher for Hydra: the jobs of a sweep that differ only in `seed` train as
one batched model (a Hydra launcher must live in the `hydra_plugins` namespace to be found)."""
