"""The warm pool's bookkeeping: which instance serves which invocation, when to start or stop one.

This module is synchronous and does no I/O. Each ``on_*`` method takes one
event (with the time, where it matters) and returns the actions the caller
must carry out: :class:`Launch`, :class:`Deliver`, :class:`Terminate`,
:class:`Fail`, :class:`Throttle`. Because nothing here awaits, every call is
atomic on the event loop, and a property test can drive the pool with no loop.

Vocabulary:

- a *deployment* is one fingerprint: what a set of identical instances runs.
  Each has one queue of waiting invocations; an idle instance is one whose
  ``/next`` poll found that queue empty.
- a *scope* is what a concurrency limit counts: one function (its name) when
  it has reserved concurrency, else the account's unreserved pool.
- instances count against limits while ``STARTING``, ``IDLE`` or ``BUSY``.
  Idle instances of another deployment in the same scope are evicted when a
  launch needs their room.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from enum import Enum

import attrs


class State(Enum):
    """Lifecycle of an instance: ``STARTING -> IDLE <-> BUSY -> STOPPING -> GONE``,
    plus ``IDLE -> PAUSED -> BUSY`` when soft idling is on."""

    STARTING = "starting"
    IDLE = "idle"
    PAUSED = "paused"
    BUSY = "busy"
    STOPPING = "stopping"
    GONE = "gone"


RUNNING = frozenset({State.STARTING, State.IDLE, State.PAUSED, State.BUSY})
#: States of an instance waiting for work (its ``/next`` is pending).
WAITING = frozenset({State.IDLE, State.PAUSED})

#: Why the pool fails an invocation on its own (``Fail.error``), besides the events' errors.
NO_RESULT = "no result"
"""The runtime asked for new work without reporting the result of the last invocation."""
INIT_TIMEOUT = "init timeout"
"""The instance serving it did not finish initialising in time."""
LAUNCH_TIMEOUT = "launch timeout"
"""The backend did not bring up the instance serving it in time."""
SHUTDOWN = "shutdown"
"""The runtime is stopping."""
STALE = "stale"
"""Its deployment was replaced, and no instance of it is coming to serve it."""

#: Instances in a row that may fail to initialise before provisioning stops replacing them.
PROVISION_ATTEMPTS = 3

#: Throttle reasons, as AWS reports them in a 429's ``Reason``.
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"


@attrs.frozen
class Launch:
    """Start a new instance of ``fingerprint`` with id ``instance_id``."""

    instance_id: str
    fingerprint: str


@attrs.frozen
class Deliver:
    """Hand invocation ``invocation_id`` to the pending ``/next`` of ``instance_id``."""

    invocation_id: str
    instance_id: str


@attrs.frozen
class Terminate:
    """Stop ``instance_id`` now; ``reason`` is ``idle``, ``stale``, ``timeout``, ... ."""

    instance_id: str
    reason: str


@attrs.frozen
class Pause:
    """Freeze idle ``instance_id`` (cheap to resume; it keeps its memory)."""

    instance_id: str


@attrs.frozen
class Resume:
    """Thaw paused ``instance_id``: it is about to receive work."""

    instance_id: str


@attrs.frozen
class Fail:
    """Invocation ``invocation_id`` ends with ``error`` (opaque to the pool)."""

    invocation_id: str
    error: object


@attrs.frozen
class Throttle:
    """Invocation ``invocation_id`` is refused by a concurrency limit."""

    invocation_id: str
    reason: str


Action = Launch | Deliver | Terminate | Pause | Resume | Fail | Throttle


@attrs.define(eq=False)
class Instance:
    """One instance as the pool sees it."""

    id: str
    deployment: Deployment
    state: State
    since: float
    """When it was launched, came up, started waiting for work, or posted its last result."""
    up: bool = False
    """Whether the backend has brought it up (a process, container or pod now runs it)."""
    ready: bool = False
    """Whether it finished initialising (polled ``/next`` once)."""
    invocation: str | None = None
    """The invocation it is running, until the result is in."""


@attrs.define(eq=False)
class Deployment:
    """The instances and waiting invocations of one fingerprint."""

    fingerprint: str
    function: str
    waiting: deque[str] = attrs.Factory(deque)
    idle: list[Instance] = attrs.Factory(list)
    """Idle and paused instances; the most recently used is last and is reused first."""
    starting: set[Instance] = attrs.Factory(set)
    finishing: set[Instance] = attrs.Factory(set)
    """Busy instances whose result is in: they will poll ``/next`` again any moment."""
    instances: set[Instance] = attrs.Factory(set)
    """Every instance not yet gone."""
    current: bool = True
    """False once retired: its instances drain and stop."""
    provisioned: int = 0
    """Instances kept initialised whether or not there is work (provisioned concurrency)."""
    init_failures: int = 0
    """Instances in a row that stopped before finishing initialising."""

    def running(self) -> int:
        """Its instances that count against limits."""
        return sum(1 for i in self.instances if i.state in RUNNING)

    def ready(self) -> int:
        """Its instances that finished initialising and have not stopped."""
        return sum(1 for i in self.instances if i.state in RUNNING and i.ready)

    def over_provisioned(self) -> bool:
        """Whether an instance of it may stop for idleness (more run than are provisioned)."""
        return self.running() > self.provisioned

    def provisioning_failed(self) -> bool:
        """Whether provisioning gave up: its instances keep failing to initialise."""
        return self.init_failures >= PROVISION_ATTEMPTS

    def short_of_provisioned(self) -> bool:
        """Whether it should launch an instance with no work for it."""
        return self.running() < self.provisioned and not self.provisioning_failed()


class Pool:
    """Warm-pool bookkeeping for every deployment of a runtime."""

    def __init__(
        self,
        *,
        account_limit: int,
        idle_timeout: float,
        init_timeout: float,
        launch_timeout: float | None = None,
        pause_after: float | None = None,
        id_prefix: str = "i",
    ) -> None:
        self.account_limit = account_limit
        self.idle_timeout = idle_timeout
        self.pause_after = pause_after
        """Seconds idle before an instance is paused (soft idle); ``None``: never."""
        self.init_timeout = init_timeout
        """Seconds from coming up to the first ``/next`` (the runtime's init phase)."""
        self.launch_timeout = init_timeout if launch_timeout is None else launch_timeout
        """Seconds the backend may take to bring an instance up (create a container...)."""
        self._ids = (f"{id_prefix}-{n}" for n in itertools.count(1))
        self._deployments: dict[str, Deployment] = {}
        self._instances: dict[str, Instance] = {}
        self._reserved: dict[str, int] = {}
        self._waiting: dict[str, Deployment] = {}
        """Invocations waiting for an instance, by id."""
        self._delivered: dict[str, Instance] = {}
        """Invocations running on an instance, by id."""

    def __repr__(self) -> str:
        states = [i.state for i in self._instances.values()]
        counts = ", ".join(f"{s.value} {states.count(s)}" for s in State if s in states)
        return (
            f"<Pool [Invocations: {len(self._waiting)} waiting, {len(self._delivered)} running"
            f" | Instances: {counts or 'none'}]>"
        )

    # --- queries ------------------------------------------------------------------------

    def instance(self, instance_id: str) -> Instance | None:
        """The instance with this id, unless it is gone."""
        return self._instances.get(instance_id)

    def instances(self) -> Iterator[Instance]:
        """Every instance not yet gone."""
        return iter(self._instances.values())

    def running(self, function: str | None = None) -> int:
        """Instances counting against limits, of one function or of all."""
        return sum(
            1
            for i in self._instances.values()
            if i.state in RUNNING and (function is None or i.deployment.function == function)
        )

    def reserved(self, function: str) -> int | None:
        """The function's reserved concurrency, if any."""
        return self._reserved.get(function)

    def unreserved_limit(self) -> int:
        """Room left for functions without reserved concurrency."""
        return self.account_limit - sum(self._reserved.values())

    def is_empty(self) -> bool:
        """No instance and no invocation left."""
        return not (self._instances or self._waiting or self._delivered)

    # --- configuration ------------------------------------------------------------------

    def set_reserved(self, function: str, limit: int | None, now: float) -> list[Action]:
        """Reserve ``limit`` instances for ``function`` (``None`` removes the reservation);
        invocations waiting for room (asynchronous ones) start if there is room now."""
        if limit is None:
            self._reserved.pop(function, None)
        else:
            self._reserved[function] = limit
        return self._rebalance(now)

    def provision(self, fingerprint: str, function: str, count: int, now: float) -> list[Action]:
        """Keep ``count`` instances of the deployment initialised, work or not (0: stop
        keeping any); they are launched as limits allow and replaced when they exit."""
        dep = self._deployments.get(fingerprint)
        if dep is None:
            dep = self._deployments[fingerprint] = Deployment(fingerprint, function)
        dep.provisioned, dep.init_failures = count, 0
        self._forget_if_empty(dep)
        return self._rebalance(now)

    def provisioned_status(self, fingerprint: str) -> tuple[int, int, bool]:
        """A deployment's instances initialised and started (ready or not), and whether
        provisioning gave up on it because its instances keep failing to initialise."""
        dep = self._deployments.get(fingerprint)
        if dep is None:
            return 0, 0, False
        return dep.ready(), dep.running(), dep.provisioning_failed()

    def retire(self, fingerprint: str, now: float) -> list[Action]:
        """The deployment is superseded: stop its idle instances, let busy ones finish.

        No instance of it is launched any more: invocations waiting for one that is not
        coming (asynchronous ones waiting for capacity) fail as :data:`STALE`.
        """
        dep = self._deployments.get(fingerprint)
        if dep is None:
            return []
        dep.current = False
        dep.provisioned = 0
        actions: list[Action] = [self._stop(i, "stale") for i in list(dep.idle)]
        actions.extend(self._fail_stale(dep))
        self._forget_if_empty(dep)
        return [*actions, *self._rebalance(now)] if actions else actions

    # --- events ---------------------------------------------------------------------------

    def on_invoke(
        self, invocation_id: str, function: str, fingerprint: str, now: float, *, can_wait: bool
    ) -> list[Action]:
        """A new invocation of ``function`` for deployment ``fingerprint``.

        It goes to an idle instance if there is one, else waits while an
        instance starts for it. With no room to start one, it is throttled,
        unless ``can_wait`` (asynchronous invocations), when it waits until
        an instance frees up.
        """
        dep = self._deployments.get(fingerprint)
        if dep is None:
            dep = self._deployments[fingerprint] = Deployment(fingerprint, function)
        dep.current = True
        if dep.idle:
            return self._take_idle(invocation_id, dep.idle.pop())
        dep.waiting.append(invocation_id)
        self._waiting[invocation_id] = dep
        if len(dep.waiting) <= _coming(dep):
            return []
        actions = self._launch_into(dep, now)
        if actions or can_wait:
            return actions
        dep.waiting.pop()
        del self._waiting[invocation_id]
        reason = RESERVED_LIMIT if function in self._reserved else ACCOUNT_LIMIT
        return [Throttle(invocation_id, reason)]

    def on_up(self, instance_id: str, now: float) -> list[Action]:
        """The backend brought the instance up: its init phase (and init timeout) begins."""
        inst = self._instances.get(instance_id)
        if inst is not None and inst.state is State.STARTING and not inst.up:
            inst.up, inst.since = True, now
        return []

    def on_next_polled(self, instance_id: str, now: float) -> list[Action]:
        """The instance asks for work (``/next``): it finished initialising or its invocation."""
        inst = self._instances.get(instance_id)
        if inst is None or inst.state not in RUNNING:
            return []
        dep = inst.deployment
        actions: list[Action] = []
        if not inst.ready:
            # It initialised: provisioning that gave up on this deployment resumes.
            resumed = dep.provisioning_failed()
            inst.ready, dep.init_failures = True, 0
            if resumed:
                actions.extend(self._rebalance(now))
        dep.starting.discard(inst)
        dep.finishing.discard(inst)
        if inst.invocation is not None:
            # Polling again without a result: the runtime dropped the invocation.
            actions.append(Fail(self._release(inst), NO_RESULT))
        return [*actions, *self._next_for(inst, now)]

    def on_result(self, instance_id: str, now: float) -> list[Action]:
        """The instance posted the result (response or error) of its invocation.

        Until it polls ``/next`` again it is *finishing*: new invocations wait for
        it rather than start another instance, so back-to-back calls stay warm.
        """
        inst = self._instances.get(instance_id)
        if inst is not None and inst.invocation is not None:
            self._release(inst)
            inst.since = now
            inst.deployment.finishing.add(inst)
        return []

    def on_instance_failed(self, instance_id: str, error: object, now: float) -> list[Action]:
        """The instance is broken (init error, unrecoverable): fail its work and stop it."""
        inst = self._instances.get(instance_id)
        if inst is None or inst.state not in RUNNING:
            return []
        actions = self._fail_work_of(inst, error)
        actions.append(self._stop(inst, "failed"))
        return [*actions, *self._rebalance(now)]

    def on_instance_exited(self, instance_id: str, error: object, now: float) -> list[Action]:
        """The instance's process, container or pod is gone, for whatever reason."""
        inst = self._instances.pop(instance_id, None)
        if inst is None:
            return []
        actions = self._fail_work_of(inst, error) if inst.state in RUNNING else []
        dep = inst.deployment
        if not inst.ready:
            dep.init_failures += 1
        dep.instances.discard(inst)
        dep.starting.discard(inst)
        dep.finishing.discard(inst)
        if inst in dep.idle:
            dep.idle.remove(inst)
        inst.state = State.GONE
        self._forget_if_empty(dep)
        return [*actions, *self._rebalance(now)]

    def on_timeout(self, invocation_id: str, now: float) -> list[Action]:
        """The invocation ran out of time: stop the instance running it."""
        inst = self._delivered.get(invocation_id)
        if inst is None:
            return self.on_abandon(invocation_id)
        self._release(inst)
        return [self._stop(inst, "timeout"), *self._rebalance(now)]

    def on_abandon(self, invocation_id: str) -> list[Action]:
        """The caller gave up on an invocation that is still waiting for an instance."""
        dep = self._waiting.pop(invocation_id, None)
        if dep is not None:
            dep.waiting.remove(invocation_id)
            self._forget_if_empty(dep)
        return []

    def on_tick(self, now: float) -> list[Action]:
        """Time passes: stop instances idle too long, stuck initialising, or that never
        came back for work after a result."""
        actions: list[Action] = []
        for inst in list(self._instances.values()):
            if inst.state in WAITING and not inst.deployment.over_provisioned():
                continue  # provisioned: kept initialised and unfrozen, idle or not
            if inst.state in WAITING and now - inst.since >= self.idle_timeout:
                actions.append(self._stop(inst, "idle"))
            elif (
                inst.state is State.IDLE
                and self.pause_after is not None
                and now - inst.since >= self.pause_after
            ):
                inst.state = State.PAUSED
                actions.append(Pause(inst.id))
            elif inst in inst.deployment.finishing and now - inst.since >= self.init_timeout:
                actions.append(self._stop(inst, "unresponsive"))
            elif inst.state is State.STARTING and now - inst.since >= self._start_limit(inst):
                reason = INIT_TIMEOUT if inst.up else LAUNCH_TIMEOUT
                actions.extend(self._fail_work_of(inst, reason))
                actions.append(self._stop(inst, reason))
        return [*actions, *self._rebalance(now)] if actions else actions

    def on_shutdown(self) -> list[Action]:
        """Stop everything: fail waiting invocations and stop every instance."""
        for dep in self._deployments.values():
            dep.provisioned = 0
        actions: list[Action] = [Fail(i, SHUTDOWN) for i in list(self._waiting)]
        for inv in list(self._waiting):
            self.on_abandon(inv)
        for inst in list(self._instances.values()):
            if inst.state in RUNNING:
                actions.extend(self._fail_work_of(inst, SHUTDOWN))
                actions.append(self._stop(inst, SHUTDOWN))
        return actions

    # --- internals ------------------------------------------------------------------------

    def _next_for(self, inst: Instance, now: float) -> list[Action]:
        dep = inst.deployment
        if dep.waiting:
            invocation_id = dep.waiting.popleft()
            del self._waiting[invocation_id]
            return [self._deliver(invocation_id, inst)]
        if not dep.current:
            return [self._stop(inst, "stale"), *self._rebalance(now)]
        inst.state, inst.since = State.IDLE, now
        dep.idle.append(inst)
        return []

    def _take_idle(self, invocation_id: str, inst: Instance) -> list[Action]:
        """Give work to a waiting instance, thawing it first if it is paused."""
        resume: list[Action] = [Resume(inst.id)] if inst.state is State.PAUSED else []
        return [*resume, self._deliver(invocation_id, inst)]

    def _deliver(self, invocation_id: str, inst: Instance) -> Deliver:
        inst.state, inst.invocation = State.BUSY, invocation_id
        self._delivered[invocation_id] = inst
        return Deliver(invocation_id, inst.id)

    def _release(self, inst: Instance) -> str:
        invocation_id = inst.invocation
        assert invocation_id is not None
        inst.invocation = None
        del self._delivered[invocation_id]
        return invocation_id

    def _fail_work_of(self, inst: Instance, error: object) -> list[Action]:
        """Fail what depends on an instance that will never serve: its invocation, or
        (while starting) the waiting invocation it was started for."""
        dep = inst.deployment
        if inst.invocation is not None:
            return [Fail(self._release(inst), error)]
        if inst.state is State.STARTING:
            dep.starting.discard(inst)
            if len(dep.waiting) > _coming(dep):
                invocation_id = dep.waiting.popleft()
                del self._waiting[invocation_id]
                return [Fail(invocation_id, error)]
        return []

    def _stop(self, inst: Instance, reason: str) -> Terminate:
        dep = inst.deployment
        if inst in dep.idle:
            dep.idle.remove(inst)
        dep.starting.discard(inst)
        dep.finishing.discard(inst)
        inst.state = State.STOPPING
        return Terminate(inst.id, reason)

    def _start_limit(self, inst: Instance) -> float:
        """Seconds a starting instance has in its current step (coming up, or initialising)."""
        return self.init_timeout if inst.up else self.launch_timeout

    def _launch_into(self, dep: Deployment, now: float) -> list[Action]:
        """Start one instance for ``dep`` if its scope has room, evicting an idle one if needed."""
        actions: list[Action] = []
        if not self._has_room(dep.function):
            victim = self._evictable(dep)
            if victim is None:
                return actions
            actions.append(self._stop(victim, "evicted"))
        inst = Instance(next(self._ids), dep, State.STARTING, now)
        self._instances[inst.id] = inst
        dep.instances.add(inst)
        dep.starting.add(inst)
        actions.append(Launch(inst.id, dep.fingerprint))
        return actions

    def _has_room(self, function: str) -> bool:
        if function in self._reserved:
            return self.running(function) < self._reserved[function]
        unreserved = sum(
            1
            for i in self._instances.values()
            if i.state in RUNNING and i.deployment.function not in self._reserved
        )
        return unreserved < self.unreserved_limit()

    def _evictable(self, dep: Deployment) -> Instance | None:
        """The idle instance of another deployment in ``dep``'s scope that has waited longest."""
        reserved = dep.function in self._reserved
        candidates = [
            i
            for i in self._instances.values()
            if i.state in WAITING
            and i.deployment is not dep
            and i.deployment.over_provisioned()
            and (
                i.deployment.function == dep.function
                if reserved
                else i.deployment.function not in self._reserved
            )
        ]
        return min(candidates, key=lambda i: (i.deployment.current, i.since), default=None)

    def _rebalance(self, now: float) -> list[Action]:
        """Capacity may have freed up: start instances for deployments still short of them."""
        actions: list[Action] = []
        for dep in list(self._deployments.values()):
            if not dep.current:
                actions.extend(self._fail_stale(dep))
                self._forget_if_empty(dep)
                continue
            while len(dep.waiting) > _coming(dep) or dep.short_of_provisioned():
                launched = self._launch_into(dep, now)
                if not launched:
                    break
                actions.extend(launched)
        return actions

    def _fail_stale(self, dep: Deployment) -> list[Action]:
        """Fail the invocations of a retired deployment that no coming instance will serve
        (the last ones in line), in their order."""
        stale: list[str] = []
        while len(dep.waiting) > _coming(dep):
            stale.append(dep.waiting.pop())
        for invocation_id in stale:
            del self._waiting[invocation_id]
        return [Fail(invocation_id, STALE) for invocation_id in reversed(stale)]

    def _forget_if_empty(self, dep: Deployment) -> None:
        if not (dep.current or dep.instances or dep.waiting or dep.provisioned):
            self._deployments.pop(dep.fingerprint, None)


def _coming(dep: Deployment) -> int:
    """Instances of ``dep`` that will ask for work soon without being given any now."""
    return len(dep.starting) + len(dep.finishing)
