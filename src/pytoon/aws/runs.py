"""Production-run records in the single table: `RUN#{id}`/META, listed per tenant through GSI1
(`TENANT#{tenant}`, `RUN#{created_at}#{id}`, newest first).

Every write is conditional: a finished run (completed, failed, rejected) never changes, and a write that
expects the run at a status (an approval at its gate) happens only if the run is still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pytoon.aws import RetainedRepository, condition_failed, dynamo_value, plain_numbers, update_expression
from pytoon.clock import utc_now_iso
from pytoon.errors import PytoonError
from pytoon.runs.models import RunNotFoundError, RunRecord, RunStatus

_FINISHED = tuple(status.value for status in RunStatus if status.terminal)


class RunChangedError(PytoonError):
    """A conditional run write lost: the run has finished, or is no longer at the status the write expected."""

    def __init__(self, run_id: str, status: RunStatus) -> None:
        self.status = status
        super().__init__(f"run {run_id} is {status.value}")


def _key(run_id: str) -> dict[str, str]:
    return {"PK": f"RUN#{run_id}", "SK": "META"}


@dataclass(frozen=True)
class RunRepository(RetainedRepository):
    """A run's record expires with its render job's artifacts."""

    def create(self, *, run_id: str, tenant_id: str, project: str, brief: str) -> RunRecord:
        now = utc_now_iso()
        record = RunRecord(
            run_id=run_id,
            tenant_id=tenant_id,
            project=project,
            brief=brief,
            status=RunStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        item = {
            **_key(run_id),
            "GSI1PK": f"TENANT#{tenant_id}",
            "GSI1SK": f"RUN#{now}#{run_id}",
            **record.model_dump(mode="json", exclude_none=True),
            "expires_at": self._expires_at(now),
        }
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
        return record

    def discard(self, run_id: str) -> None:
        """Delete a run that was never started and never handed out (it lost an Idempotency-Key claim)."""
        self._table.delete_item(Key=_key(run_id))

    def get(self, run_id: str) -> RunRecord:
        item = self._table.get_item(Key=_key(run_id), ConsistentRead=True).get("Item")
        if item is None:
            raise RunNotFoundError(f"Run not found: {run_id}")
        return RunRecord.model_validate(plain_numbers(item))

    def list_for_tenant(self, tenant_id: str, *, status: RunStatus | None = None, limit: int = 50) -> list[RunRecord]:
        """The tenant's runs, newest first; with `status`, only those at it."""
        from boto3.dynamodb.conditions import Attr, Key  # boto3 loads with the first table, not with the API

        query: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": Key("GSI1PK").eq(f"TENANT#{tenant_id}") & Key("GSI1SK").begins_with("RUN#"),
            "ScanIndexForward": False,
        }
        if status is not None:
            query["FilterExpression"] = Attr("status").eq(status.value)
        runs: list[RunRecord] = []
        while len(runs) < limit:
            page = self._table.query(**query)
            runs.extend(RunRecord.model_validate(plain_numbers(item)) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return runs[:limit]

    def update(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        expect: RunStatus | None = None,
        clip: tuple[int, dict[str, Any]] | None = None,
        artifacts: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Set `fields` (None removes one), the named `artifacts` entries and one clip of `artifacts.clips`, and
        move to `status`: only while the run is unfinished and, with `expect`, still at that status."""
        names: dict[str, str] = {"#status": "status"}
        if artifacts or clip is not None:
            names["#artifacts"] = "artifacts"
        values: dict[str, Any] = {":now": utc_now_iso()}
        sets = ["updated_at = :now"]
        if status is not None:
            values[":status"] = status.value
            sets.append("#status = :status")
        for i, (name, value) in enumerate((artifacts or {}).items()):
            names[f"#a{i}"], values[f":a{i}"] = name, dynamo_value(value)
            sets.append(f"#artifacts.#a{i} = :a{i}")
        if clip is not None:
            values[":clip"] = dynamo_value(clip[1])
            sets.append(f"#artifacts.clips[{int(clip[0])}] = :clip")
        expression = update_expression(fields, names, values, sets)
        placeholders = []
        for i, finished in enumerate(_FINISHED):
            values[f":done{i}"] = finished
            placeholders.append(f":done{i}")
        condition = f"attribute_exists(PK) AND NOT #status IN ({', '.join(placeholders)})"
        if expect is not None:
            values[":expect"] = expect.value
            condition += " AND #status = :expect"
        try:
            self._table.update_item(
                Key=_key(run_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                raise RunChangedError(run_id, self.get(run_id).status) from exc
            raise
