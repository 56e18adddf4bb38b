"""LightningDataModules that keep a data set as one tensor on the training device."""
