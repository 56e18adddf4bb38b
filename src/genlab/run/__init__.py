"""What the entry points share, one concern per module: a run's life (lifecycle), its folder
(folder), continuing a folder (rerun) and rebuilding one (rebuild), config checks (checks) and
identity (config), building its parts (build), the process (process), the error policy (task),
what it prints (console), and seeds trained as one batched model (members)."""
