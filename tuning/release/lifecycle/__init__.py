"""A model's life after training: the promotion gate, the canary, the shutdown watch, fallback and migration."""
