"""genlab: GAN, WGAN-GP and VAE research framework on PyTorch Lightning and Hydra."""

from pathlib import Path

__version__ = "0.1.0"

# genlab's Hydra configs, shipped inside the package (a wheel install has them); users add
# folders of their own with --config-dir or hydra.searchpath (docs/extending.md)
CONF_DIR = Path(__file__).resolve().parent / "conf"
