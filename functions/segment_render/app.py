"""RenderSegment step (one Map iteration): renders one segment to its deterministic S3 key."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.observability import logger, tracer
from pytoon.pipeline import SegmentRef, render_segment


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    ref = SegmentRef.model_validate(event)
    logger.append_keys(job_id=ref.job_id, segment_index=ref.index)
    return render_segment(ref.job_id, ref.index).model_dump(mode="json")
