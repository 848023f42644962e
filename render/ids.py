"""Every id Slack sends back to us: they must match manifest.yml."""

COMMAND = "/tune"
CORRECT_ANSWER_SHORTCUT = "correct_answer"
