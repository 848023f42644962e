"""The provider's own price for a job, when it will give one (Together: POST /fine-tunes/estimate-price).

Together prices a job from an uploaded file, so asking means uploading the training file at pre-flight
(files cost nothing to store; Start uploads again). Any failure means "no answer": the caller falls back
to the local price table and says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tuning.errors import TuningError
from tuning.training.trainers import JobRequest
from tuning.training.trainers.features import EstimatesPrice

log = logging.getLogger(__name__)


async def provider_estimate(
    trainer: object, train_path: Path, *, model: str, method: str, epochs: int, beta: float | None
) -> float | None:
    if not isinstance(trainer, EstimatesPrice):
        return None
    try:
        file_id = await trainer.upload(train_path)
    except TuningError as error:
        log.info("no provider estimate: the training file could not be uploaded (%s)", error)
        return None
    request = JobRequest(base_model=model, method=method, training_file_id=file_id, epochs=epochs, beta=beta)
    return await trainer.estimate_price(request)
