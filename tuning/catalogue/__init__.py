"""What Tuneloop knows about each model: the packaged catalogue and the operator's override."""
