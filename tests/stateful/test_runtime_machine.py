"""A hypothesis state machine drives the real Runtime on a FakeBackend through a blocking portal.

Coarser than the pool machine: functions are created, updated, invoked (one at
a time or in concurrent batches) and deleted through the public facade, and
instances are fake runtimes speaking the real Runtime API. Rules cannot be
async (hypothesis#3712), so the runtime lives on an event loop in a portal
thread, opened with each example and closed in its teardown.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from anylambda import InvokeRequest, InvokeResult, Runtime, TooManyRequestsError, hookimpl
from anylambda.core.errors import ProvisionedConfigNotFoundError
from anylambda.core.pool import ACCOUNT_LIMIT
from anylambda.testing import (
    CrashInstance,
    FakeBackend,
    FakeBackendPlugin,
    create_function,
    make_fake_config,
    make_zip,
)

#: The account's concurrency limit.
LIMIT = 3
#: Seconds a slow handler sleeps: past every function's 1 s timeout.
SLOW = 30
#: Seconds any one step may take.
STEP_TIMEOUT = 20
#: Slow invocations per example: each costs the 1 s timeout.
SLOW_BUDGET = 1
#: What each action's invocation fails with (``echo`` succeeds).
ERROR_TYPES = {"raise": "ValueError", "crash": "Runtime.ExitError", "slow": "Sandbox.Timedout"}


async def dispatch(event: dict[str, Any], context: dict[str, Any]) -> Any:
    """Do what the event says: echo its value, raise, crash the instance, or outlast the timeout."""
    action = event["action"]
    if action == "raise":
        raise ValueError(event["value"])
    if action == "crash":
        raise CrashInstance
    if action == "slow":
        await anyio.sleep(SLOW)
    return event["value"]


class FinishedCounter:
    """Counts the invocations the runtime reports finished."""

    def __init__(self) -> None:
        self.count = 0

    @hookimpl
    def anylambda_invocation_finished(self) -> None:
        self.count += 1


Outcome = InvokeResult | TooManyRequestsError


class RuntimeMachine(RuleBasedStateMachine):
    """Callers and deployers of a Runtime; the model is each function's handler."""

    functions = Bundle("functions")

    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        self.names = (f"fn-{n}" for n in itertools.count())
        self.versions = itertools.count()
        self.handlers: dict[str, str] = {}
        """Live function name -> its handler string (``dispatch`` or one nobody registered)."""
        self.published: dict[str, list[str]] = {}
        """Live function name -> its published versions."""
        self.results = 0
        self.slow_left = SLOW_BUDGET
        self.finished = FinishedCounter()
        self._portal_cm = anyio.from_thread.start_blocking_portal("asyncio")
        self.portal = self._portal_cm.__enter__()
        config = make_fake_config(
            Path(self._tmp.name), {"dispatch": dispatch}, account_concurrency=LIMIT
        )
        self.rt = Runtime(config, plugins=[FakeBackendPlugin(), self.finished])
        self._rt_cm = self.portal.wrap_async_context_manager(self.rt)
        self._rt_cm.__enter__()
        assert isinstance(self.rt.backend, FakeBackend)
        self.backend = self.rt.backend

    def teardown(self) -> None:
        try:
            self._rt_cm.__exit__(None, None, None)
            backend = self.backend
            assert backend.running == 0, "every instance is gone"
            assert backend.launches == (
                backend.terminations + backend.exits + backend.launch_failures
            ), "every launch ended in a termination, an exit or a failed launch"
            assert not self.rt._invocations
            assert self.rt.pool.is_empty(), repr(self.rt.pool)
        finally:
            self._portal_cm.__exit__(None, None, None)
            self._tmp.cleanup()

    # --- deployers ------------------------------------------------------------------------

    @initialize(target=functions)
    def first(self) -> str:
        return self.create("dispatch")

    @rule(target=functions, handler=st.sampled_from(["dispatch", "dispatch", "missing"]))
    def create(self, handler: str) -> str:
        name = next(self.names)
        self.portal.call(functools.partial(create_function, self.rt, name, handler, timeout=1))
        self.handlers[name] = handler
        return name

    @rule(name=functions)
    def update_code(self, name: str) -> None:
        code = make_zip({"handler.py": f"# version {next(self.versions)}\n"})
        self.portal.call(self.rt.update_function_code, name, code)

    @precondition(lambda self: len(self.handlers) > 1)
    @rule(name=consumes(functions))
    def delete(self, name: str) -> None:
        self.portal.call(self.rt.delete_function, name)
        del self.handlers[name]
        self.published.pop(name, None)

    @rule(name=functions)
    def publish(self, name: str) -> None:
        config = self.portal.call(functools.partial(self.rt.publish_version, name))
        versions = self.published.setdefault(name, [])
        if config.version not in versions:
            versions.append(config.version)

    @rule(name=functions, count=st.integers(0, 2), data=st.data())
    def provision(self, name: str, count: int, data: st.DataObject) -> None:
        versions = self.published.get(name)
        if not versions:
            return
        version = data.draw(st.sampled_from(versions))
        concurrency = self.rt.concurrency
        if count:
            self.portal.call(concurrency.put_provisioned, name, version, count)
        else:
            with contextlib.suppress(ProvisionedConfigNotFoundError):
                self.portal.call(concurrency.delete_provisioned, name, version)

    # --- callers ----------------------------------------------------------------------------

    @rule(name=functions, action=st.sampled_from(["echo", "raise", "crash"]), value=st.integers())
    def invoke(self, name: str, action: str, value: int) -> None:
        self.check(name, action, value, self.portal.call(self._invoke, name, action, value))

    @rule(name=functions, value=st.integers(), data=st.data())
    def invoke_version(self, name: str, value: int, data: st.DataObject) -> None:
        versions = self.published.get(name)
        if not versions:
            return
        qualified = f"{name}:{data.draw(st.sampled_from(versions))}"
        self.check(name, "echo", value, self.portal.call(self._invoke, qualified, "echo", value))

    @precondition(lambda self: self.slow_left > 0)
    @rule(name=functions)
    def invoke_slow(self, name: str) -> None:
        self.slow_left -= 1
        self.check(name, "slow", 0, self.portal.call(self._invoke, name, "slow", 0))

    @rule(
        calls=st.lists(
            st.tuples(functions, st.sampled_from(["echo", "raise", "crash"]), st.integers()),
            min_size=2,
            max_size=2 * LIMIT,
        )
    )
    def invoke_batch(self, calls: list[tuple[str, str, int]]) -> None:
        outcomes = self.portal.call(self._batch, calls)
        assert len(outcomes) == len(calls)
        for (name, action, value), outcome in zip(calls, outcomes, strict=True):
            self.check(name, action, value, outcome)

    async def _invoke(self, name: str, action: str, value: int) -> Outcome:
        payload = json.dumps({"action": action, "value": value}).encode()
        with anyio.fail_after(STEP_TIMEOUT):
            try:
                return await self.rt.invoke(InvokeRequest(name, payload))
            except TooManyRequestsError as exc:
                return exc

    async def _batch(self, calls: list[tuple[str, str, int]]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}

        async def one(index: int, name: str, action: str, value: int) -> None:
            outcomes[index] = await self._invoke(name, action, value)

        async with anyio.create_task_group() as tg:
            for index, call in enumerate(calls):
                tg.start_soon(one, index, *call)
        return [outcomes[index] for index in range(len(calls))]

    def check(self, name: str, action: str, value: int, outcome: Outcome) -> None:
        """One invocation had exactly one outcome, and the right one."""
        if isinstance(outcome, TooManyRequestsError):
            assert outcome.extra == {"Reason": ACCOUNT_LIMIT}
            return
        self.results += 1
        payload = json.loads(outcome.payload)
        if self.handlers[name] != "dispatch":
            assert outcome.function_error == "Unhandled"
            assert payload["errorType"] == "Runtime.HandlerNotFound"
        elif action == "echo":
            assert (outcome.function_error, payload) == (None, value)
        else:
            assert outcome.function_error == "Unhandled"
            assert payload["errorType"] == ERROR_TYPES[action], payload

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def within_the_account_limit(self) -> None:
        assert self.portal.call(self.rt.pool.running) <= LIMIT

    @invariant()
    def no_invocation_left_behind(self) -> None:
        assert self.portal.call(len, self.rt._invocations) == 0

    @invariant()
    def every_result_reported_once(self) -> None:
        assert self.finished.count == self.results

    @invariant()
    def no_instance_outlives_the_pools_record(self) -> None:
        def check() -> None:
            known = {instance.id for instance in self.rt.pool.instances()}
            assert set(self.backend.instances) <= known

        self.portal.call(check)


TestRuntimeMachine = RuntimeMachine.TestCase
TestRuntimeMachine.settings = settings(
    max_examples=20,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
