"""Lightning callbacks that act on generator iterations."""
