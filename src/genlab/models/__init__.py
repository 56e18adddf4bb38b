"""LightningModules with manual optimisation: GAN, WGAN-GP and VAE on a small shared base."""
