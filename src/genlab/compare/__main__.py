"""`python -m genlab.compare`: the genlab-compare command."""

from genlab.compare.cli import main

main()
