"""Asynchronous invocation in-process: the event queue, retries, configs and destinations of a
:class:`~anylambda.Runtime` on the fake backend, with the retry delays made short."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anylambda import (
    BackendError,
    Destinations,
    EventInvokeConfig,
    InvalidParameterValueError,
    InvocationType,
    InvokeRequest,
    ResourceNotFoundError,
    Runtime,
    ValidationError,
    hookimpl,
)
from anylambda.core.events.retry import GiveUp, Retry, RetryPolicy
from anylambda.core.events.schedule import Schedule
from anylambda.core.events.store import Outcome, new_event
from anylambda.core.store.registry import Registry
from anylambda.testing import FakeBackendPlugin, create_function, make_fake_config, wait_until

ARN = "arn:aws:lambda:us-east-1:000000000000:function"


class Calls:
    """Handlers that record every event they receive, by function name."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = {}

    def handlers(self) -> dict[str, Any]:
        def record(event: Any, context: dict[str, Any]) -> Any:
            self.events.setdefault(context["function_name"], []).append(event)
            return {"echo": event}

        def fail(event: Any, context: dict[str, Any]) -> Any:
            self.events.setdefault(context["function_name"], []).append(event)
            raise ValueError(f"bad {event}")

        async def slow(event: Any, context: dict[str, Any]) -> Any:
            version = context["environment"].get("VERSION")
            self.events.setdefault(context["function_name"], []).append((event, version))
            await anyio.sleep(0.2)

        return {"record": record, "fail": fail, "slow": slow}

    def of(self, name: str) -> list[Any]:
        return self.events.get(name, [])


@pytest.fixture
def calls() -> Calls:
    return Calls()


def runtime(data_dir: Path, calls: Calls, *plugins: object, **config: Any) -> Runtime:
    config.setdefault("async_retry_delays", (0.0,))
    return Runtime(
        make_fake_config(data_dir, calls.handlers(), **config),
        plugins=[FakeBackendPlugin(), *plugins],
    )


@pytest.fixture
async def rt(tmp_path: Path, calls: Calls) -> AsyncIterator[Runtime]:
    async with runtime(tmp_path, calls) as started:
        yield started


async def send(rt: Runtime, name: str, event: Any = None, qualifier: str | None = None) -> str:
    result = await rt.invoke(
        InvokeRequest(
            name, json.dumps(event).encode(), qualifier, invocation_type=InvocationType.EVENT
        )
    )
    assert result.status_code == 202
    return result.request_id


# --- delivery, retries, destinations -----------------------------------------------------


async def test_event_is_delivered_with_its_request_id(rt: Runtime, calls: Calls) -> None:
    await create_function(rt, "fn", "record")
    request_id = await send(rt, "fn", {"n": 1})
    await wait_until(lambda: calls.of("fn") == [{"n": 1}])
    await wait_until(lambda: not _stored_events(rt))
    assert request_id


async def test_failing_event_is_retried_then_goes_to_the_failure_destination(
    rt: Runtime, calls: Calls
) -> None:
    await create_function(rt, "flaky", "fail")
    await create_function(rt, "sink", "record")
    await rt.event_configs.put("flaky", destinations=Destinations(on_failure=f"{ARN}:sink"))
    request_id = await send(rt, "flaky", {"n": 2})
    await wait_until(lambda: len(calls.of("sink")) == 1)
    assert calls.of("flaky") == [{"n": 2}] * 3, "one attempt and two retries by default"
    (record,) = calls.of("sink")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:flaky:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestPayload"] == {"n": 2}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "bad {'n': 2}"
    assert record["responsePayload"]["errorType"] == "ValueError"


async def test_success_goes_to_the_success_destination(rt: Runtime, calls: Calls) -> None:
    await create_function(rt, "ok", "record")
    await create_function(rt, "sink", "record")
    await rt.event_configs.put("ok", destinations=Destinations(on_success=f"{ARN}:sink"))
    await send(rt, "ok", [1, 2])
    await wait_until(lambda: len(calls.of("sink")) == 1)
    (record,) = calls.of("sink")
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": [1, 2]}


async def test_no_retries_means_one_attempt(rt: Runtime, calls: Calls) -> None:
    await create_function(rt, "once", "fail")
    await create_function(rt, "sink", "record")
    await rt.event_configs.put(
        "once", maximum_retry_attempts=0, destinations=Destinations(on_failure=f"{ARN}:sink")
    )
    await send(rt, "once", "x")
    await wait_until(lambda: len(calls.of("sink")) == 1)
    assert calls.of("once") == ["x"]
    assert calls.of("sink")[0]["requestContext"]["approximateInvokeCount"] == 1


async def test_event_too_old_for_its_next_retry_is_given_up(tmp_path: Path, calls: Calls) -> None:
    async with runtime(tmp_path, calls, async_retry_delays=(61.0,)) as rt:
        await create_function(rt, "aging", "fail")
        await create_function(rt, "sink", "record")
        await rt.event_configs.put(
            "aging", maximum_event_age=60, destinations=Destinations(on_failure=f"{ARN}:sink")
        )
        await send(rt, "aging", 1)
        await wait_until(lambda: len(calls.of("sink")) == 1)
        assert calls.of("aging") == [1]
        context = calls.of("sink")[0]["requestContext"]
        assert (context["condition"], context["approximateInvokeCount"]) == (
            "EventAgeExceeded",
            1,
        )


async def test_service_errors_are_retried_without_counting_as_attempts(
    tmp_path: Path, calls: Calls
) -> None:
    async with runtime(tmp_path, calls) as rt:
        await create_function(rt, "later", "record")
        await create_function(rt, "sink", "record")
        await rt.event_configs.put(
            "later", maximum_retry_attempts=0, destinations=Destinations(on_success=f"{ARN}:sink")
        )
        rt.backend.launch_error = BackendError("the engine is down")
        await send(rt, "later", "once")
        await wait_until(lambda: rt.backend.launch_failures >= 2)
        rt.backend.launch_error = None
        await wait_until(lambda: len(calls.of("sink")) == 1)
        assert calls.of("later") == ["once"]
        assert calls.of("sink")[0]["requestContext"]["approximateInvokeCount"] == 1


async def test_events_wait_out_a_reserved_concurrency_of_zero(rt: Runtime, calls: Calls) -> None:
    await create_function(rt, "paused", "record")
    await rt.concurrency.put_reserved("paused", 0)
    await send(rt, "paused", 1)
    await send(rt, "paused", 2)
    await anyio.sleep(0.1)
    assert calls.of("paused") == [], "they wait; they are not throttled"
    await rt.concurrency.delete_reserved("paused")
    await wait_until(lambda: sorted(calls.of("paused")) == [1, 2])


async def test_event_for_a_deleted_function_is_dropped(rt: Runtime, calls: Calls) -> None:
    await create_function(rt, "doomed", "record")
    await rt.concurrency.put_reserved("doomed", 0)  # the event waits for capacity
    await send(rt, "doomed", 1)
    await rt.delete_function("doomed")
    await wait_until(lambda: not _stored_events(rt))
    assert calls.of("doomed") == []


async def test_events_waiting_when_the_function_changes_run_its_new_version(
    rt: Runtime, calls: Calls
) -> None:
    await create_function(rt, "changing", "slow", environment={"VERSION": "1"})
    await rt.concurrency.put_reserved("changing", 1)
    for n in range(3):
        await send(rt, "changing", n)
    await wait_until(lambda: len(calls.of("changing")) == 1)
    await rt.update_function_configuration("changing", environment={"VERSION": "2"})
    await wait_until(lambda: len(calls.of("changing")) == 3)
    assert sorted(calls.of("changing")) == [(0, "1"), (1, "2"), (2, "2")]


# --- durability ---------------------------------------------------------------------------


async def test_waiting_events_stay_queued_across_a_restart(tmp_path: Path, calls: Calls) -> None:
    async with runtime(tmp_path, calls) as rt:
        await create_function(rt, "blocked", "record")
        await rt.concurrency.put_reserved("blocked", 0)  # events wait, not throttled
        for n in range(3):
            await send(rt, "blocked", n)
        await anyio.sleep(0.1)
        assert calls.of("blocked") == []
    async with runtime(tmp_path, calls) as rt:
        await rt.concurrency.delete_reserved("blocked")
        await wait_until(lambda: sorted(calls.of("blocked")) == [0, 1, 2])
        await wait_until(lambda: not _stored_events(rt))


async def test_an_event_that_expired_while_the_server_was_down(
    tmp_path: Path, calls: Calls
) -> None:
    async with runtime(tmp_path, calls) as rt:
        await create_function(rt, "stale", "record")
        await create_function(rt, "sink", "record")
        await rt.event_configs.put(
            "stale", maximum_event_age=60, destinations=Destinations(on_failure=f"{ARN}:sink")
        )
        await rt.concurrency.put_reserved("stale", 0)
        request_id = await send(rt, "stale", "old")
    _age_events(tmp_path, seconds=120)
    async with runtime(tmp_path, calls) as rt:
        await wait_until(lambda: len(calls.of("sink")) == 1)
    assert calls.of("stale") == []
    (record,) = calls.of("sink")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:stale:$LATEST",
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert "responseContext" not in record


def _stored_events(rt: Runtime) -> dict[str, Any]:
    registry = Registry(rt.config.data_dir / "registry.sqlite3")
    try:
        return registry.load_documents("event")
    finally:
        registry.close()


def _age_events(data_dir: Path, seconds: float) -> None:
    registry = Registry(data_dir / "registry.sqlite3")
    try:
        for key, event in registry.load_documents("event").items():
            event["accepted_at"] -= seconds
            registry.save_document("event", key, event)
    finally:
        registry.close()


# --- dead-letter queues and other destinations --------------------------------------------


class Outbox:
    """A plugin that takes SQS ARNs, as an embedding emulator would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Mapping[str, Any], str]] = []

    @hookimpl
    def anylambda_deliver_to(self, arn: str, message: Mapping[str, Any], kind: str) -> Any:
        if ":sqs:" not in arn:
            return None
        return self._send(arn, message, kind)

    async def _send(self, arn: str, message: Mapping[str, Any], kind: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.sent.append((arn, message, kind))


async def test_dead_letter_queue_and_failure_destination(tmp_path: Path, calls: Calls) -> None:
    outbox = Outbox()
    queue = "arn:aws:sqs:us-east-1:000000000000:failures"
    dlq = "arn:aws:sqs:us-east-1:000000000000:dlq"
    async with runtime(tmp_path, calls, outbox) as rt:
        await create_function(rt, "dl", "fail", dead_letter_arn=dlq)
        await rt.event_configs.put(
            "dl", maximum_retry_attempts=1, destinations=Destinations(on_failure=queue)
        )
        request_id = await send(rt, "dl", {"k": "v"})
        await wait_until(lambda: len(outbox.sent) == 2)
    by_kind = {kind: (arn, message) for arn, message, kind in outbox.sent}
    arn, record = by_kind["OnFailure"]
    assert arn == queue
    assert record["requestContext"]["approximateInvokeCount"] == 2
    arn, message = by_kind["DeadLetter"]
    assert arn == dlq
    assert json.loads(message["Body"]) == {"k": "v"}
    assert message["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "bad {'k': 'v'}"},
    }


async def test_a_destination_no_plugin_takes_is_logged(
    rt: Runtime, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    topic = "arn:aws:sns:us-east-1:000000000000:nobody"
    await create_function(rt, "lonely", "record")
    await rt.event_configs.put("lonely", destinations=Destinations(on_success=topic))
    await send(rt, "lonely", 1)
    await wait_until(lambda: f"No plugin delivers to {topic}" in caplog.text)


# --- event invoke configs -----------------------------------------------------------------


async def test_put_replaces_update_merges(rt: Runtime) -> None:
    await create_function(rt, "cfg", "record")
    await create_function(rt, "other", "record")
    first = await rt.event_configs.put("cfg", maximum_retry_attempts=1, maximum_event_age=120)
    assert (first.maximum_retry_attempts, first.maximum_event_age) == (1, 120)
    assert first.last_modified > 0
    replaced = await rt.event_configs.put("cfg", maximum_retry_attempts=0)
    assert (replaced.maximum_retry_attempts, replaced.maximum_event_age) == (0, None)
    merged = await rt.event_configs.update(
        "cfg", maximum_event_age=300, destinations=Destinations(on_success=f"{ARN}:other")
    )
    assert (merged.maximum_retry_attempts, merged.maximum_event_age) == (0, 300)
    assert merged.destinations.on_success == f"{ARN}:other"
    assert await rt.event_configs.get(f"{ARN}:cfg") == merged


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({}, InvalidParameterValueError, "You must specify at least one of error handling"),
        (
            {"destinations": Destinations(on_success=f"{ARN}:cfg")},
            InvalidParameterValueError,
            "You can't specify the function as a destination for itself.",
        ),
        (
            {"destinations": Destinations(on_failure=f"{ARN}:missing")},
            InvalidParameterValueError,
            f"The destination ARN {ARN}:missing is invalid.",
        ),
        (
            {"destinations": Destinations(on_success="arn:aws:s3:::bucket")},
            InvalidParameterValueError,
            "The provided destination config DestinationConfig(onSuccess=OnSuccess("
            "destination=arn:aws:s3:::bucket), onFailure=null) is invalid.",
        ),
    ],
)
async def test_put_refuses_what_aws_refuses(
    rt: Runtime, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    await create_function(rt, "cfg", "record")
    with pytest.raises(error) as raised:
        await rt.event_configs.put("cfg", **changes)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("maximum_retry_attempts", 3, "less than or equal to 2"),
        ("maximum_retry_attempts", -1, "greater than or equal to 0"),
        ("maximum_event_age", 59, "greater than or equal to 60"),
        ("maximum_event_age", 21601, "less than or equal to 21600"),
    ],
)
def test_config_ranges(field: str, value: int, constraint: str) -> None:
    with pytest.raises(ValidationError, match=constraint):
        EventInvokeConfig("fn", **{field: value})


def test_destination_arn_pattern() -> None:
    with pytest.raises(ValidationError, match=r"destinationConfig\.onFailure\.destination"):
        Destinations(on_failure="arn:aws:_-/!lambda:us-east-1:000000000000:function:f")


async def test_configs_of_missing_functions(rt: Runtime) -> None:
    with pytest.raises(ResourceNotFoundError, match=r"The function doesn't exist\."):
        await rt.event_configs.put("nope", maximum_retry_attempts=1)
    with pytest.raises(ResourceNotFoundError, match=r"function:nope:\$LATEST doesn't have an"):
        await rt.event_configs.get("nope")


async def test_configs_persist_and_die_with_their_function(tmp_path: Path, calls: Calls) -> None:
    async with runtime(tmp_path, calls) as rt:
        await create_function(rt, "kept", "record")
        await rt.event_configs.put("kept", maximum_retry_attempts=1)
    async with runtime(tmp_path, calls) as rt:
        assert (await rt.event_configs.get("kept")).maximum_retry_attempts == 1
        await rt.delete_function("kept")
        await create_function(rt, "kept", "record")
        with pytest.raises(ResourceNotFoundError):
            await rt.event_configs.get("kept")


async def test_list_pages(rt: Runtime) -> None:
    await create_function(rt, "listed", "record")
    await rt.event_configs.put("listed", "$LATEST", maximum_retry_attempts=1)
    page, marker = await rt.event_configs.list("listed", max_items=1)
    assert [c.qualifier for c in page] == ["$LATEST"]
    assert marker is None
    with pytest.raises(ResourceNotFoundError, match=r"The function doesn't exist\."):
        await rt.event_configs.list("unknown")


# --- the parts on their own ---------------------------------------------------------------


def test_schedule_bounds_attempts_per_function() -> None:
    schedule = Schedule(limit=1)
    a1, a2, b1 = (new_event(name, None, b"{}", now) for name, now in (("a", 1), ("a", 2), ("b", 3)))
    for event in (a1, a2, b1):
        schedule.add(event)
    assert schedule.take(0) == []
    assert schedule.next_due() == 1
    assert schedule.take(5) == [a1, b1]
    schedule.done(a1)
    assert schedule.take(5) == [a2]
    assert schedule.next_due() is None


def test_retry_policy() -> None:
    policy = RetryPolicy((60.0, 120.0))
    config = EventInvokeConfig("fn")
    event = new_event("fn", None, b"{}", 1000.0).ran(Outcome(200, b"{}", "Unhandled", "$LATEST"))
    assert policy.after_failure(event, config, 1000.0) == Retry(1060.0)
    event = event.ran(Outcome(200, b"{}", "Unhandled", "$LATEST"))
    assert policy.after_failure(event, config, 1100.0) == Retry(1220.0)
    event = event.ran(Outcome(200, b"{}", "Unhandled", "$LATEST"))
    assert policy.after_failure(event, config, 1300.0) == GiveUp("RetriesExhausted")
    throttled = new_event("fn", None, b"{}", 1000.0).failed(Outcome(429, b"Rate Exceeded."))
    twice = throttled.failed(Outcome(429, b"Rate Exceeded."))
    assert policy.after_failure(twice, config, 1000.0) == Retry(1002.0), "the backoff doubles"
    short = EventInvokeConfig("fn", maximum_event_age=60)
    assert policy.after_failure(throttled, short, 1059.5) == GiveUp("EventAgeExceeded")
