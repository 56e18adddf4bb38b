"""Loggers beyond Lightning's own: MLflow and Weights & Biases, each continuing its run when a
genlab run resumes and taking genlab's pictures, settings and final status."""
