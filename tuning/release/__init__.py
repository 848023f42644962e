"""Release: evaluation, the promotion gate, promotion, and the model lifecycle."""
