"""The domain: answering, capture, datasets, trainers, evaluation."""
