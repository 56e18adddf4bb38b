"""genlab's Optuna sweeper for Hydra: hydra-optuna-sweeper's, made to continue an interrupted
search (a Hydra sweeper must live in the `hydra_plugins` namespace to be found)."""
