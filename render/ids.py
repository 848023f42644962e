"""Every id Slack sends back to us. The command and the shortcut must match manifest.yml."""

COMMAND = "/tune"
CORRECT_ANSWER_SHORTCUT = "correct_answer"

CORRECTION_VIEW = "correction_modal"
CORRECTION_BLOCK = "answer"
CORRECTION_INPUT = "text"

REVIEW_APPROVE = "review_approve"
REVIEW_REJECT = "review_reject"
REVIEW_EDIT = "review_edit"
REVIEW_RETIRE = "review_retire_memory"
REVIEW_ACTIONS = (REVIEW_APPROVE, REVIEW_REJECT, REVIEW_EDIT, REVIEW_RETIRE)

JOB_START = "job_start"
JOB_DISMISS = "job_dismiss"
JOB_CANCEL = "job_cancel"
JOB_ACTIONS = (JOB_START, JOB_DISMISS, JOB_CANCEL)

MIGRATION_PROMOTE = "migration_promote"

ANSWER_FEEDBACK = "answer_feedback"  # the 👍/👎 feedback_buttons under an answer
ANSWER_CORRECT = "answer_correct"  # the "Correct" button under an answer that opens the correction form
FEEDBACK_UP = "up"
FEEDBACK_DOWN = "down"

JOB_DEPLOY = "job_deploy"
ENDPOINT_CREATE = "endpoint_create"

# "What was wrong?" after a 👎 (render/feedback_reasons.py): one button per quick reason, then a form.
FEEDBACK_REASON = "feedback_reason"  # action_id prefix: feedback_reason:<reason>
FEEDBACK_FIX = "feedback_fix"  # the button that opens the form
FEEDBACK_REASON_VIEW = "feedback_reason_modal"
FEEDBACK_REASON_BLOCK = "reason"
FEEDBACK_REASON_INPUT = "pick"
FEEDBACK_FIX_BLOCK = "fix"
FEEDBACK_FIX_INPUT = "text"
