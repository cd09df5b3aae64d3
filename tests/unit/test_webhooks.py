"""Provider webhooks: signatures (Standard Webhooks for Sora, HMAC-SHA512 for Remotion) checked on the raw body,
the provider registry, and the handler end to end in moto: a real execution waiting on a task token is resumed
once, replays and late or unknown events are reported, and every refusal has its own status."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from standardwebhooks import Webhook

from functions.webhooks.app import lambda_handler
from pytoon import resume
from pytoon.aws import client
from pytoon.aws.tasks import ClaimState, TaskKey, TaskTokenStore
from pytoon.errors import TransientError
from pytoon.local.lambda_runtime import LocalContext
from pytoon.webhooks import (
    PROVIDERS,
    TOLERANCE_SECONDS,
    WebhookPayloadError,
    WebhookSignatureError,
    callback_token,
    engine_webhook,
    parse_luma_event,
    parse_remotion_event,
    parse_sora_event,
    register_task_token,
    remotion_task_id,
    task_callback_url,
    verify_luma,
    verify_remotion,
    verify_standard_webhook,
)
from tests.conftest import REGION

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
REMOTION_SECRET = "remotion-secret"
NOW = 1_750_000_000
EVENTS = Path(__file__).resolve().parents[1] / "events"


def _signed(body: bytes, msg_id: str = "msg_1", timestamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signature = base64.b64encode(mac).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1a,xyz v1,{signature}"}


def _remotion_signed(body: bytes, secret: str = REMOTION_SECRET) -> dict[str, str]:
    return {"X-Remotion-Signature": "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()}


def _sora_body(kind: str = "video.completed", video_id: str = "video_123") -> bytes:
    return json.dumps({"id": "evt_1", "object": "event", "type": kind, "data": {"id": video_id}}).encode()


# --- signatures -----------------------------------------------------------------------------------------


def test_standard_webhook_accepts_a_valid_signature_among_several() -> None:
    body = _sora_body()
    verify_standard_webhook(SECRET, _signed(body), body, {}, NOW)
    event = parse_sora_event(_signed(body), json.loads(body), {})
    assert event is not None
    assert (event.task_id, event.succeeded, event.delivery_id) == ("video_123", True, "msg_1")


def test_standard_webhook_accepts_what_the_reference_library_signs() -> None:
    body = _sora_body()
    sent = datetime.fromtimestamp(NOW, UTC)
    signature = Webhook(SECRET).sign("msg_9", sent, body.decode())
    headers = {"webhook-id": "msg_9", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    verify_standard_webhook(SECRET, headers, body, {}, NOW)
    # A rotated secret: the old and the new signature are both sent, and either one passes.
    rotated = "whsec_" + base64.b64encode(b"another secret of at least 24 bytes").decode()
    headers["webhook-signature"] = Webhook(rotated).sign("msg_9", sent, body.decode()) + " " + signature
    verify_standard_webhook(SECRET, headers, body, {}, NOW)
    verify_standard_webhook(rotated, headers, body, {}, NOW)


def test_standard_webhook_rejects_a_tampered_body_or_another_secret() -> None:
    body = _sora_body()
    with pytest.raises(WebhookSignatureError):
        verify_standard_webhook(SECRET, _signed(body), body.replace(b"completed", b"failed"), {}, NOW)
    other = "whsec_" + base64.b64encode(b"not the secret the sender uses!!").decode()
    with pytest.raises(WebhookSignatureError):
        verify_standard_webhook(other, _signed(body), body, {}, NOW)


def test_standard_webhook_tolerates_five_minutes_either_way() -> None:
    body = _sora_body()
    for skew in (-TOLERANCE_SECONDS, TOLERANCE_SECONDS):
        verify_standard_webhook(SECRET, _signed(body, timestamp=NOW + skew), body, {}, NOW)
    for skew in (-TOLERANCE_SECONDS - 1, TOLERANCE_SECONDS + 1):
        with pytest.raises(WebhookSignatureError, match="tolerance"):
            verify_standard_webhook(SECRET, _signed(body, timestamp=NOW + skew), body, {}, NOW)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "m", "webhook-timestamp": str(NOW)},
        {"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,abc"},
        {"webhook-id": "m", "webhook-timestamp": str(NOW), "webhook-signature": "garbage v2,abc v1,%%%"},
    ],
)
def test_standard_webhook_refuses_missing_or_malformed_headers(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError):
        verify_standard_webhook(SECRET, headers, b"{}", {}, NOW)


def _remotion_body(status: str = "done", job_id: str = "j1", run_id: str | None = "run1", **extra: Any) -> dict:
    return {"job_id": job_id, "run_id": run_id, "status": status, "output_url": None, "error": None} | extra


def test_remotion_signature() -> None:
    body = json.dumps(_remotion_body(output_url="https://render.example/output/j1.mp4")).encode()
    verify_remotion(REMOTION_SECRET, _remotion_signed(body), body, {}, NOW)
    for headers in (_remotion_signed(body, "other"), {"X-Remotion-Signature": "NO_SECRET_PROVIDED"}, {}):
        with pytest.raises(WebhookSignatureError):
            verify_remotion(REMOTION_SECRET, headers, body, {}, NOW)
    with pytest.raises(WebhookSignatureError):  # a non-ASCII header is refused, not a crash
        verify_remotion(REMOTION_SECRET, {"X-Remotion-Signature": "sha512=é"}, body, {}, NOW)


def test_remotion_callbacks_name_the_run_and_the_job() -> None:
    run = {"run_id": "run1"}
    done = parse_remotion_event({}, _remotion_body(), run)
    assert done is not None and (done.task_id, done.succeeded) == (remotion_task_id("run1", "j1"), True)
    failed = parse_remotion_event({}, _remotion_body("error", error="Chromium crashed"), run)
    assert failed is not None and not failed.succeeded and failed.detail["error"] == "Chromium crashed"
    assert failed.delivery_id == "run1:j1:error"
    # A body without its run (older services leave it out) is the query's run's.
    assert parse_remotion_event({}, _remotion_body(run_id=None), run) is not None
    assert parse_remotion_event({}, _remotion_body("rendering"), run) is None  # not an end: resumes nothing
    with pytest.raises(WebhookPayloadError, match="no run_id"):
        parse_remotion_event({}, _remotion_body(), {})
    with pytest.raises(WebhookPayloadError, match="for run 'run2', posted for run 'run1'"):
        parse_remotion_event({}, _remotion_body(run_id="run2"), run)
    with pytest.raises(WebhookPayloadError, match="job_id"):
        parse_remotion_event({}, {"status": "done"}, run)


LUMA_SECRET = "luma-callback-secret"


def test_a_luma_callback_is_trusted_only_with_the_token_of_our_url() -> None:
    token = callback_token(LUMA_SECRET, "luma")
    assert len(token) == 64 and LUMA_SECRET not in token  # the secret itself never goes into a URL
    verify_luma(LUMA_SECRET, {}, b"{}", {"token": token}, NOW)
    for query in ({}, {"token": "0" * 64}, {"token": callback_token("another", "luma")}, {"token": "é"}):
        with pytest.raises(WebhookSignatureError, match="callback token"):
            verify_luma(LUMA_SECRET, {}, b"{}", query, NOW)


def test_only_an_ended_luma_generation_resumes_its_task() -> None:
    completed = parse_luma_event({}, {"id": "gen-1", "state": "completed", "assets": {"video": "https://x"}}, {})
    assert completed is not None and (completed.task_id, completed.succeeded) == ("gen-1", True)
    failed = parse_luma_event({}, {"id": "gen-1", "state": "failed", "failure_reason": "boom"}, {})
    assert failed is not None and not failed.succeeded and failed.delivery_id == "gen-1:failed"
    assert parse_luma_event({}, {"id": "gen-1", "state": "dreaming"}, {}) is None
    with pytest.raises(WebhookPayloadError, match="`state`"):
        parse_luma_event({}, {"id": "gen-1"}, {})


def test_luma_is_given_our_url_with_its_token_only_when_its_callbacks_are_set_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("PYTOON_ENGINE_WEBHOOKS", "LUMA_WEBHOOK_SECRET", "PYTOON_WEBHOOK_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PYTOON_ENGINE_WEBHOOKS", "luma")
    assert engine_webhook("luma") is None  # no secret, no address: polled
    monkeypatch.setenv("LUMA_WEBHOOK_SECRET", LUMA_SECRET)
    assert engine_webhook("luma") is None
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", "https://api.example/Prod/")
    assert engine_webhook("luma") == "luma"
    token = callback_token(LUMA_SECRET, "luma")
    assert task_callback_url("luma") == f"https://api.example/Prod/v1/webhooks/luma?token={token}"
    assert task_callback_url("sora") is None  # OpenAI's webhook is configured in its project, not per task
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", "http://api.example")  # plain http only on loopback
    assert engine_webhook("luma") is None
    monkeypatch.setenv("PYTOON_ENGINE_WEBHOOKS", "sora")
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", "https://api.example")
    assert engine_webhook("luma") is None and engine_webhook("sora") == "sora" and engine_webhook("runway") is None


def test_every_provider_is_declared_once_with_its_secret() -> None:
    assert {name: p.secret_name for name, p in PROVIDERS.items()} == {
        "sora": "SORA_WEBHOOK_SECRET",
        "remotion": "REMOTION_WEBHOOK_SECRET",
        "luma": "LUMA_WEBHOOK_SECRET",
    }
    assert all(name == provider.name for name, provider in PROVIDERS.items())


# --- the handler, in moto: DynamoDB for deliveries and tokens, Step Functions executing a waiting task -------------


@pytest.fixture
def aws(moto_settings: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A state machine whose one task sends its task token to a queue and waits for it."""
    moto_settings.setenv("AWS_DEFAULT_REGION", REGION)
    moto_settings.setenv("SORA_WEBHOOK_SECRET", SECRET)
    moto_settings.setenv("REMOTION_WEBHOOK_SECRET", REMOTION_SECRET)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        definition = {
            "StartAt": "WaitForProvider",
            "States": {
                "WaitForProvider": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        }
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="waits", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        yield {"sqs": sqs, "queue": queue, "sfn": sfn, "machine": machine}


def _waiting_execution(aws: dict[str, Any], name: str) -> tuple[str, str]:
    """Start an execution and return its ARN and the task token it waits with."""
    arn = aws["sfn"].start_execution(stateMachineArn=aws["machine"], name=name, input="{}")["executionArn"]
    for _ in range(200):
        messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], WaitTimeSeconds=0).get("Messages", [])
        if messages:
            return arn, json.loads(messages[0]["Body"])["token"]
        time.sleep(0.05)
    raise AssertionError("the execution never sent its task token")


def _finished(aws: dict[str, Any], arn: str) -> dict[str, Any]:
    for _ in range(200):
        execution = aws["sfn"].describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.05)
    raise AssertionError("the execution is still waiting")


def _deliver(
    provider: str, headers: dict[str, str], body: bytes, query: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(json.loads((EVENTS / "apigw_rest_get_health.json").read_text()))
    event.update(
        resource="/webhooks/{provider}",
        path=f"/webhooks/{provider}",
        httpMethod="POST",
        pathParameters={"provider": provider},
        queryStringParameters=query,
        body=base64.b64encode(body).decode(),  # `*/*` is a binary media type: API Gateway base64-encodes bodies
        isBase64Encoded=True,
    )
    event["headers"].update(headers)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:WebhooksFunction"
    context = LocalContext("WebhooksFunction", 256, 10, arn)
    response = lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def _sora(kind: str, video_id: str, msg_id: str) -> tuple[dict[str, str], bytes]:
    body = _sora_body(kind, video_id)
    return _signed(body, msg_id=msg_id, timestamp=int(time.time())), body


def test_a_completed_video_resumes_the_waiting_execution_once(aws: dict[str, Any]) -> None:
    arn, token = _waiting_execution(aws, "resumed")
    register_task_token("sora", "video_ok", token)
    headers, body = _sora("video.completed", "video_ok", "msg_ok")
    # Older callback URLs carry the run: the video id alone finds the task all the same.
    assert _deliver("sora", headers, body, {"run_id": "legacy-run"}) == (200, {"status": "resumed"})
    execution = _finished(aws, arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"type": "video.completed", "video_id": "video_ok"}
    # The provider retries the same delivery: answered, not sent again.
    assert _deliver("sora", headers, body) == (200, {"status": "duplicate"})
    # Another event for the same video (a new delivery id) finds the token used.
    late_headers, late_body = _sora("video.failed", "video_ok", "msg_late")
    assert _deliver("sora", late_headers, late_body) == (200, {"status": "already_resumed"})


def test_a_failed_render_fails_the_waiting_task_with_the_provider_error(aws: dict[str, Any]) -> None:
    arn, token = _waiting_execution(aws, "failed")
    register_task_token("remotion", remotion_task_id("run1", "j-bad"), token)
    sent: list[dict[str, Any]] = []  # moto drops the cause, so the test reads it off the request
    client("stepfunctions", REGION).meta.events.register(
        "provide-client-params.sfn.SendTaskFailure", lambda params, **_: sent.append(params)
    )
    body = json.dumps(_remotion_body("error", "j-bad", error="out of memory")).encode()
    assert _deliver("remotion", _remotion_signed(body), body, {"run_id": "run1"}) == (200, {"status": "resumed"})
    execution = _finished(aws, arn)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "remotion.RenderFailed"
    assert json.loads(sent[0]["cause"])["error"] == "out of memory"


def test_a_token_past_its_ttl_or_of_a_finished_task_is_expired(aws: dict[str, Any]) -> None:
    register_task_token("sora", "video_old", "any-token", ttl_seconds=-1)  # its task timed out long ago
    headers, body = _sora("video.completed", "video_old", "msg_old")
    assert _deliver("sora", headers, body) == (200, {"status": "expired"})
    # A token whose task is closed already (Step Functions answers TaskTimedOut, TaskDoesNotExist or InvalidToken).
    arn, token = _waiting_execution(aws, "closed")
    register_task_token("sora", "video_first", token)
    headers, body = _sora("video.completed", "video_first", "msg_first")
    assert _deliver("sora", headers, body) == (200, {"status": "resumed"})
    assert _finished(aws, arn)["status"] == "SUCCEEDED"
    register_task_token("sora", "video_second", token)
    headers, body = _sora("video.completed", "video_second", "msg_second")
    assert _deliver("sora", headers, body) == (200, {"status": "expired"})


def test_an_event_for_no_registered_task_is_acknowledged_once(aws: dict[str, Any]) -> None:
    headers, body = _sora("video.completed", "video_elsewhere", "msg_elsewhere")
    assert _deliver("sora", headers, body) == (200, {"status": "unknown_task"})
    assert _deliver("sora", headers, body) == (200, {"status": "duplicate"})


def test_a_delivery_that_failed_half_way_is_processed_on_retry(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn, token = _waiting_execution(aws, "retried")
    register_task_token("sora", "video_retry", token)
    send = resume.send_task_success
    calls = []

    def throttled_once(*args: Any) -> bool:
        calls.append(args)
        if len(calls) == 1:
            raise TransientError("could not resume the task (ThrottlingException)")
        return send(*args)

    monkeypatch.setattr(resume, "send_task_success", throttled_once)
    headers, body = _sora("video.completed", "video_retry", "msg_retry")
    status, answer = _deliver("sora", headers, body)
    assert status == 503 and "ThrottlingException" in answer["detail"]
    # The same delivery again: its claim on the token stands, so it resumes the task.
    assert _deliver("sora", headers, body) == (200, {"status": "resumed"})
    assert _finished(aws, arn)["status"] == "SUCCEEDED"


def test_refusals_have_their_own_status(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    headers, body = _sora("video.completed", "video_x", "msg_x")
    assert _deliver("runway", headers, body)[0] == 404  # no such provider
    assert _deliver("sora", {**headers, "webhook-signature": "v1,AAAA"}, body)[0] == 401
    assert _deliver("sora", {}, body)[0] == 401
    # A body that is not an event: 400 when signed (the sender is genuine), 401 when not (nothing is trusted).
    for malformed in (b"not json", b"[1, 2]", json.dumps({"type": "video.completed", "data": {}}).encode()):
        signed = _signed(malformed, msg_id="msg_bad", timestamp=int(time.time()))
        status, answer = _deliver("sora", signed, malformed)
        assert status == 400, answer
        assert _deliver("sora", {**signed, "webhook-signature": "v1,AAAA"}, malformed)[0] == 401
    # A genuine event of a type that resumes nothing is acknowledged, so the provider does not retry it.
    other_headers, other = _sora("batch.completed", "batch_1", "msg_batch")
    assert _deliver("sora", other_headers, other) == (200, {"status": "ignored"})
    monkeypatch.delenv("SORA_WEBHOOK_SECRET")
    status, answer = _deliver("sora", headers, body)
    assert status == 404 and "SORA_WEBHOOK_SECRET" in answer["detail"]


# --- the token store -----------------------------------------------------------------------------------


def test_a_token_is_claimed_once_except_by_the_same_claimant(moto_table: str) -> None:
    store = TaskTokenStore(moto_table, REGION)
    gate = TaskKey("gate", "run_1#publish")  # any waiter, not only providers, registers under its own key
    store.register(gate, "tok-1")
    first = store.claim(gate, claimed_by="approve")
    assert (first.state, first.token) == (ClaimState.CLAIMED, "tok-1")
    assert store.claim(gate, claimed_by="approve").state is ClaimState.CLAIMED  # the same decision, retried
    assert store.claim(gate, claimed_by="reject").state is ClaimState.USED
    assert store.claim(TaskKey("gate", "run_2#publish"), claimed_by="approve").state is ClaimState.UNKNOWN
    # A retried waiting task registers a new token, which replaces the used one.
    store.register(gate, "tok-2")
    assert store.claim(gate, claimed_by="reject").token == "tok-2"


def test_a_token_expires_with_its_ttl(moto_table: str) -> None:
    now = [float(NOW)]
    store = TaskTokenStore(moto_table, REGION, clock=lambda: now[0])
    key = TaskKey("sora", "video_ttl")
    store.register(key, "tok", ttl_seconds=3600)
    now[0] += 3600
    assert store.claim(key, claimed_by="msg").state is ClaimState.EXPIRED
    item = boto3.resource("dynamodb", region_name=REGION).Table(moto_table).get_item(Key=key.item_key)["Item"]
    assert item["expires_at"] == NOW + 3600  # the table's TTL attribute removes it later
