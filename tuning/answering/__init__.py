"""Answering: the conversation sent to the model, which model answers, team memory."""
