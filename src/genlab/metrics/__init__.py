"""Sample-quality metrics: Inception and domain-classifier FID / IS / KID, mode coverage."""
