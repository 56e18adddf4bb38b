"""genlab: GAN, WGAN-GP and VAE research framework on PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
