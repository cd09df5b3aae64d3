"""Outgoing notifications to a real loopback receiver: signed so the Standard Webhooks reference library
verifies them, retried on server errors (not on a 4xx), every attempt logged, SSRF-checked URLs, one tenant's
webhook never told another's events."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from pytoon.aws.notifications import NotificationStore
from pytoon.config import get_settings
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.notifications import WebhookUrlError, check_webhook_url, notify, subscribe


class Receiver(LoopbackFake):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[int] = []

    def respond(self, request: ReceivedRequest) -> Reply:
        return Reply(self.answers.pop(0) if self.answers else 200)


@pytest.fixture
def receiver(moto_settings: pytest.MonkeyPatch) -> Iterator[Receiver]:
    moto_settings.setenv("PYTOON_NOTIFY_ALLOW_LOOPBACK", "true")
    with serve(Receiver(), name="notification-receiver") as fake:
        yield fake


def _log(tenant: str) -> list[dict]:
    return NotificationStore.from_settings(get_settings()).deliveries(tenant)


def test_an_event_arrives_signed_so_the_reference_library_verifies_it(receiver: Receiver) -> None:
    subscription = subscribe("acme", f"{receiver.base_url}/hooks")
    assert subscription.secret.startswith("whsec_")
    notify("acme", "run.completed", {"run_id": "r1", "status": "completed"})
    [request] = receiver.received("POST", "/hooks")
    verified = Webhook(subscription.secret).verify(request.raw, request.headers)
    assert verified["type"] == "run.completed" and verified["data"] == {"run_id": "r1", "status": "completed"}
    [entry] = _log("acme")
    assert (entry["attempt"], entry["status_code"], entry["delivered"]) == (1, 200, True)
    assert entry["event_id"] == request.headers["webhook-id"]


def test_server_errors_are_retried_with_backoff_and_a_client_error_is_not(receiver: Receiver) -> None:
    subscribe("acme", f"{receiver.base_url}/hooks")
    waits: list[float] = []
    receiver.answers = [500, 503]
    notify("acme", "run.failed", {"run_id": "r1"}, sleep=waits.append)
    sent = receiver.received("POST")
    assert len(sent) == 3 and len({r.headers["webhook-id"] for r in sent}) == 1  # one event, three attempts
    assert waits == [1.0, 3.0]
    assert [e["status_code"] for e in reversed(_log("acme"))] == [500, 503, 200]
    receiver.answers = [400]
    notify("acme", "run.failed", {"run_id": "r2"}, sleep=waits.append)
    assert len(receiver.received("POST")) == 4 and waits == [1.0, 3.0]


def test_a_receiver_that_is_down_never_fails_the_sender(receiver: Receiver) -> None:
    subscribe("acme", f"{receiver.base_url}/hooks")
    receiver.answers = [500, 500, 500]
    notify("acme", "job.failed", {"job_id": "j1"}, sleep=lambda _seconds: None)  # returns, does not raise
    assert [e["delivered"] for e in _log("acme")] == [False, False, False]


def test_events_go_only_to_the_tenant_that_subscribed_to_them(receiver: Receiver) -> None:
    subscribe("acme", f"{receiver.base_url}/acme", ["run.awaiting_approval"])
    notify("other", "run.awaiting_approval", {"run_id": "theirs"})
    notify("acme", "job.completed", {"job_id": "j1"})  # not one it asked for
    notify("acme", "run.awaiting_approval", {"run_id": "ours"})
    [request] = receiver.received("POST")
    assert json.loads(request.raw)["data"] == {"run_id": "ours"}
    assert _log("other") == []
    with pytest.raises(WebhookUrlError, match="unknown events"):
        subscribe("acme", f"{receiver.base_url}/acme", ["run.exploded"])


@pytest.mark.parametrize(
    ("url", "addresses", "refusal"),
    [
        ("https://10.0.0.5/hook", ["10.0.0.5"], "private"),
        ("https://hooks.example.com/x", ["10.1.2.3"], "private"),  # a public-looking name that points inside
        ("https://metadata.example.com/x", ["169.254.169.254"], "link-local"),
        ("http://hooks.example.com/x", ["93.184.216.34"], "https"),
        ("https://user:pw@hooks.example.com/x", ["93.184.216.34"], "credentials"),
        ("ftp://hooks.example.com/x", ["93.184.216.34"], "https"),
        ("https://127.0.0.1/x", ["127.0.0.1"], "loopback"),  # outside local mode
    ],
)
def test_urls_that_reach_inside_are_refused(
    url: str, addresses: list[str], refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTOON_NOTIFY_ALLOW_LOOPBACK", raising=False)  # as on AWS
    with pytest.raises(WebhookUrlError, match=refusal):
        check_webhook_url(url, resolver=lambda host, port: addresses)


def test_a_public_https_url_is_accepted() -> None:
    check_webhook_url("https://hooks.example.com/pytoon", resolver=lambda host, port: ["93.184.216.34"])


def test_a_delivery_connects_to_the_addresses_it_checked_and_never_resolves_the_name_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hooks.test` resolves (for the check) to the receiver's loopback address and nowhere else: DNS would not
    know it. The delivery reaches the receiver, so it connected to the checked address, not a fresh lookup."""
    port = int(receiver.base_url.rsplit(":", 1)[1])
    looked_up: list[str] = []

    def resolver(host: str, _port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"] if host == "hooks.test" else []

    monkeypatch.setattr("pytoon.notifications._system_resolver", resolver)
    subscribe("acme", f"http://hooks.test:{port}/hooks")
    notify("acme", "run.completed", {"run_id": "r1"})
    [request] = receiver.received("POST", "/hooks")
    assert request.headers["host"] == f"hooks.test:{port}"
    assert looked_up == ["hooks.test", "hooks.test"]  # at registration, and once before the attempt
    [entry] = _log("acme")
    assert entry["delivered"] is True
