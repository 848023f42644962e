"""Training: datasets, fine-tuning jobs, the trainer port, dedicated endpoints."""
