"""Capture and review: Slack messages and votes become examples; privacy and erasure."""
