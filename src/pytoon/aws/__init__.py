"""Adapters over AWS services. Nothing above this package calls boto3 directly."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Self

from botocore.exceptions import ClientError

from pytoon.config import DEFAULT_ARTIFACT_RETENTION_DAYS, Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    import boto3
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse
    from botocore.config import Config

# boto3 and botocore's client machinery load with the first client or table, not with this package: the API
# answers /health and its docs without them.


@cache
def _retrying_config() -> Config:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=120)


_session_lock = threading.Lock()
_session: boto3.session.Session | None = None
_loader: Any = None  # the session's botocore data loader
# Sees every request before it is sent (see answer_requests_with).
_answer: Callable[[AWSPreparedRequest], AWSResponse | None] | None = None


def _shared_session() -> boto3.session.Session:
    # One session per process: botocore loads each service model once per session, and a fresh session per
    # client or thread reloads and rescans its data files every time (seconds of CPU over a job). Sessions are
    # not thread-safe, so every client or resource is created under the lock; the clients themselves are.
    global _session, _loader
    if _session is None:
        import boto3.session
        import botocore.session

        core = botocore.session.Session()
        _session = boto3.session.Session(botocore_session=core)
        _loader = core.get_component("data_loader")
        answer = _answer
        if answer is not None:
            _session.events.register("before-send", lambda request, **_: answer(request))
    return _session


@cache
def client(service: str, region: str) -> Any:
    # boto3 honours AWS_ENDPOINT_URL, which is how local mode points every client at embedded AWS.
    config = _s3_config() if service == "s3" else _retrying_config()
    with _session_lock:
        return _shared_session().client(service_name=service, region_name=region, config=config)


_clients: dict[tuple[tuple[str, Any], ...], Any] = {}


def shared_client(**arguments: Any) -> Any:
    """The process's client for boto3.client's `arguments` (equal arguments, one client), for code that
    configures its own: embedded AWS's state machine interpreter asks for a new client at every task, and
    building one costs 7-11 ms. Clients are thread-safe; reset_clients forgets them."""
    key = tuple(sorted((name, _argument_key(value)) for name, value in arguments.items()))
    with _session_lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = _shared_session().client(**arguments)
        return found


def _argument_key(value: Any) -> Any:
    from botocore.config import Config

    if isinstance(value, Config):  # equal by its options, not by identity
        return tuple((option, repr(getattr(value, option))) for option in Config.OPTION_DEFAULTS)
    return repr(value)


def _s3_config() -> Config:
    """SigV4 (buckets created since mid-2020 refuse SigV2 presigned URLs and forms), virtual-hosted at the
    bucket's regional endpoint, us-east-1 included: a presigned URL is then never redirected to another
    endpoint, which would break its signature. A custom endpoint (local mode) is addressed path-style."""
    custom_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    addressing = {
        "addressing_style": "path" if custom_endpoint else "virtual",
        "us_east_1_regional_endpoint": "regional",
    }
    from botocore.config import Config

    return _retrying_config().merge(Config(signature_version="s3v4", s3=addressing))


_local = threading.local()
_generation = 0


def dynamodb_table(name: str, region: str) -> Any:
    # boto3 resources are not thread-safe (clients are): one per thread, as segment renders run in parallel
    # threads in local mode. A reset (new endpoint) invalidates every thread's cache through the generation.
    if getattr(_local, "generation", None) != _generation:
        _local.generation, _local.tables = _generation, {}
    if (name, region) not in _local.tables:
        with _session_lock:
            resource = _shared_session().resource("dynamodb", region_name=region, config=_retrying_config())
        _local.tables[(name, region)] = resource.Table(name)
    return _local.tables[(name, region)]


def model_loader() -> Any:
    """The botocore loader the process's clients read service models and endpoint data through, each file
    once: embedded AWS has moto read through it too."""
    with _session_lock:
        _shared_session()
        return _loader


def answer_requests_with(answer: Callable[[AWSPreparedRequest], AWSResponse | None] | None) -> None:
    """Show every request of the clients made from now on to `answer` before it is sent: a response it returns
    is the call's response, None lets the request go (embedded AWS answers its own process without HTTP). None
    removes it. Cached clients are forgotten, so none keeps the previous answer."""
    global _answer
    _answer = answer
    reset_clients()


def reset_clients() -> None:
    """Forget cached clients (embedded AWS restarts on a new port in tests)."""
    global _generation, _session
    with _session_lock:
        _session = None
        _clients.clear()
    client.cache_clear()
    _generation += 1


def plain_numbers(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB numbers come back as Decimal (also in nested maps); models want int/float."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(item)


def dynamo_number(value: float) -> Decimal:
    return Decimal(str(round(value, 6)))


def dynamo_value(value: Any) -> Any:
    """A value as DynamoDB stores it: floats, also inside maps and lists, become Decimals (boto3 refuses floats)."""
    if isinstance(value, float):
        return dynamo_number(value)
    if isinstance(value, dict):
        return {k: dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dynamo_value(v) for v in value]
    return value


def condition_failed(exc: ClientError) -> bool:
    """True when a conditional write lost its condition (the expected outcome of a guarded write)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def update_expression(fields: dict[str, Any], names: dict[str, str], values: dict[str, Any], sets: list[str]) -> str:
    """Add `fields` to an update: None removes an attribute, floats (also nested) become Decimals."""
    removes = []
    for i, (name, value) in enumerate(fields.items()):
        names[f"#f{i}"] = name
        if value is None:
            removes.append(f"#f{i}")
        else:
            values[f":f{i}"] = dynamo_value(value)
            sets.append(f"#f{i} = :f{i}")
    return "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")


@dataclass(frozen=True)
class TableRepository:
    """Base for the repositories over the single table: built from settings, one table handle per thread."""

    table_name: str
    region: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.table_name, settings.region)

    @property
    def _table(self) -> Any:
        return dynamodb_table(self.table_name, self.region)

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item a query matches, across pages, with numbers made plain."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**kwargs)
            items.extend(plain_numbers(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass(frozen=True)
class RetainedRepository(TableRepository):
    """A repository whose records expire (DynamoDB TTL on `expires_at`) `retention_days` after they are created,
    when the bucket's lifecycle expires the artifacts they point at: no record outlives what it points at."""

    retention_days: int = DEFAULT_ARTIFACT_RETENTION_DAYS

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.table_name, settings.region, settings.artifact_retention_days)

    def _expires_at(self, created_at: str) -> int:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        return int(created.timestamp()) + self.retention_days * 24 * 3600
