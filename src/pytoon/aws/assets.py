"""Asset records (uploads) in the single table: PK=ASSET#id, SK=META, scoped to a tenant."""

from __future__ import annotations

from pydantic import BaseModel

from pytoon.aws import TableRepository, dynamo_number, plain_numbers
from pytoon.models import AssetCategory, AssetStatus


class MediaFacts(BaseModel):
    """What validation found in an upload. `type` is the format: png/jpeg/webp, mp3/wav, or a clip's
    container mp4/mov/webm (whose video codec is `codec`)."""

    type: str
    width: int | None = None
    height: int | None = None
    has_alpha: bool | None = None
    duration_seconds: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    codec: str | None = None
    fps: float | None = None
    has_audio: bool | None = None


class AssetRecord(BaseModel):
    asset_id: str
    tenant_id: str
    key: str
    category: AssetCategory
    status: AssetStatus
    size: int | None = None
    media: MediaFacts | None = None
    reason: str | None = None
    created_at: str
    updated_at: str


class AssetRepository(TableRepository):
    def put(self, record: AssetRecord) -> None:
        item = record.model_dump(mode="json", exclude_none=True)
        for name in ("duration_seconds", "fps"):  # DynamoDB stores numbers as decimals, never floats
            if name in item.get("media", {}):
                item["media"][name] = dynamo_number(item["media"][name])
        self._table.put_item(Item={"PK": f"ASSET#{record.asset_id}", "SK": "META", **item})

    def get(self, asset_id: str) -> AssetRecord | None:
        item = self._table.get_item(Key={"PK": f"ASSET#{asset_id}", "SK": "META"}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return AssetRecord.model_validate(plain_numbers(item))
