"""A hypothesis state machine drives the pool core (no event loop) against DESIGN's invariants.

The machine plays every other party: callers invoking, instances polling
``/next`` and posting results or crashing, the clock, deployments changing.
Beside the pool it keeps a model of what each invocation and instance has
been told, and checks each action the pool returns against it.
"""

from __future__ import annotations

import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from anylambda.core.pool import (
    RUNNING,
    Deliver,
    Fail,
    Launch,
    Pause,
    Pool,
    Resume,
    State,
    Terminate,
    Throttle,
)

FUNCTIONS = ("a", "b", "c")
IDLE_TIMEOUT = 100.0
INIT_TIMEOUT = 10.0
LAUNCH_TIMEOUT = 30.0


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.pool: Pool
        self.limit = 0
        self.ids = (f"inv-{n}" for n in itertools.count())
        self.epoch = dict.fromkeys(FUNCTIONS, 0)
        """Current deployment generation of each function; its fingerprint is fn@epoch."""
        self.accepted: dict[str, tuple[str, str]] = {}
        """Invocations accepted and not ended: id -> (fingerprint, 'waiting' | instance id)."""
        self.ended: set[str] = set()
        self.retired: set[str] = set()
        self.instances: dict[str, str] = {}
        """Instance id -> 'starting' | 'idle' | 'busy' | 'stopping', as the model knows it."""
        self.fingerprint_of: dict[str, str] = {}

    # --- setup --------------------------------------------------------------------------

    @initialize(
        limit=st.integers(1, 6),
        reserved=st.none() | st.integers(0, 3),
        pause_after=st.none() | st.floats(1, IDLE_TIMEOUT / 2),
    )
    def setup(self, limit: int, reserved: int | None, pause_after: float | None) -> None:
        self.limit = limit
        self.pause_after = pause_after
        self.pool = Pool(
            account_limit=limit,
            idle_timeout=IDLE_TIMEOUT,
            init_timeout=INIT_TIMEOUT,
            launch_timeout=LAUNCH_TIMEOUT,
            pause_after=pause_after,
        )
        if reserved is not None and reserved <= limit:
            assert self.pool.set_reserved("a", reserved, self.now) == []

    # --- the other parties ----------------------------------------------------------------

    def fp(self, fn: str) -> str:
        return f"{fn}@{self.epoch[fn]}"

    @rule(fn=st.sampled_from(FUNCTIONS), can_wait=st.booleans())
    def invoke(self, fn: str, can_wait: bool) -> None:
        inv = next(self.ids)
        fp = self.fp(fn)
        self.accepted[inv] = (fp, "waiting")
        actions = self.pool.on_invoke(inv, fn, fp, self.now, can_wait=can_wait)
        throttles = [a for a in actions if isinstance(a, Throttle)]
        if throttles:
            assert not can_wait, "an invocation that can wait is never throttled"
            assert throttles == [actions[-1]] and throttles[0].invocation_id == inv
        self.apply(actions)

    @rule(fn=st.sampled_from(FUNCTIONS), count=st.integers(0, 3))
    def provision(self, fn: str, count: int) -> None:
        self.apply(self.pool.provision(self.fp(fn), fn, count, self.now))

    @rule(fn=st.sampled_from(FUNCTIONS))
    def redeploy(self, fn: str) -> None:
        old = self.fp(fn)
        self.retired.add(old)
        self.epoch[fn] += 1
        self.apply(self.pool.retire(old, self.now))

    @rule(data=st.data())
    @precondition(lambda self: "launching" in self.instances.values())
    def instance_comes_up(self, data: st.DataObject) -> None:
        inst = data.draw(st.sampled_from(self.with_state("launching")))
        self.instances[inst] = "starting"
        self.apply(self.pool.on_up(inst, self.now))

    @rule(data=st.data())
    @precondition(lambda self: "starting" in self.instances.values())
    def instance_ready(self, data: st.DataObject) -> None:
        inst = data.draw(st.sampled_from(self.with_state("starting")))
        self.instances[inst] = "polling"
        self.apply(self.pool.on_next_polled(inst, self.now))

    @rule(data=st.data())
    @precondition(lambda self: "busy" in self.instances.values())
    def instance_responds(self, data: st.DataObject) -> None:
        inst = data.draw(st.sampled_from(self.with_state("busy")))
        inv = self.running_on(inst)
        self.apply(self.pool.on_result(inst, self.now))
        self.end(inv)
        self.instances[inst] = "finishing"

    @rule(data=st.data())
    @precondition(lambda self: "finishing" in self.instances.values())
    def instance_polls_again(self, data: st.DataObject) -> None:
        inst = data.draw(st.sampled_from(self.with_state("finishing")))
        self.instances[inst] = "polling"
        self.apply(self.pool.on_next_polled(inst, self.now))

    @rule(data=st.data())
    @precondition(lambda self: any(s != "gone" for s in self.instances.values()))
    def instance_exits(self, data: st.DataObject) -> None:
        inst = data.draw(
            st.sampled_from(sorted(i for i, s in self.instances.items() if s != "gone"))
        )
        self.instances[inst] = "gone"
        self.apply(self.pool.on_instance_exited(inst, "crash", self.now))

    @rule(data=st.data())
    @precondition(lambda self: "starting" in self.instances.values())
    def init_error(self, data: st.DataObject) -> None:
        inst = data.draw(st.sampled_from(self.with_state("starting")))
        self.apply(self.pool.on_instance_failed(inst, "init error", self.now))

    @rule(data=st.data())
    @precondition(lambda self: "busy" in self.instances.values())
    def invocation_times_out(self, data: st.DataObject) -> None:
        inst = data.draw(st.sampled_from(self.with_state("busy")))
        inv = self.running_on(inst)
        self.end(inv)
        actions = self.pool.on_timeout(inv, self.now)
        assert Terminate(inst, "timeout") in actions
        self.apply(actions)

    @rule(data=st.data())
    @precondition(lambda self: any(w == "waiting" for _, w in self.accepted.values()))
    def caller_gives_up(self, data: st.DataObject) -> None:
        waiting = sorted(i for i, (_, w) in self.accepted.items() if w == "waiting")
        inv = data.draw(st.sampled_from(waiting))
        self.end(inv)
        self.apply(self.pool.on_abandon(inv))

    @rule(dt=st.floats(0, 2 * IDLE_TIMEOUT))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        actions = self.pool.on_tick(self.now)
        self.apply(actions)
        for action in actions:
            if isinstance(action, Terminate) and action.reason == "idle":
                dep = self.pool.instance(action.instance_id).deployment
                assert dep.running() >= dep.provisioned, "a provisioned instance idled out"
        for inst in self.pool.instances():
            waited = self.now - inst.since
            idles_out = inst.deployment.over_provisioned()  # provisioned ones stay, idle or not
            stale = inst.state in (State.IDLE, State.PAUSED) and waited >= IDLE_TIMEOUT
            assert not (idles_out and stale)
            if self.pause_after is not None:
                assert not (idles_out and inst.state is State.IDLE and waited >= self.pause_after)
            limit = INIT_TIMEOUT if inst.up else LAUNCH_TIMEOUT
            assert not (inst.state is State.STARTING and waited >= limit), "stuck starting"
            stuck = inst in inst.deployment.finishing and self.now - inst.since >= INIT_TIMEOUT
            assert not stuck, "an instance that never polls again is stopped"

    # --- checking actions -------------------------------------------------------------------

    def apply(self, actions: list[object]) -> None:
        for action in actions:
            match action:
                case Launch(instance_id, fingerprint):
                    assert instance_id not in self.instances
                    assert fingerprint not in self.retired, "a retired deployment never launches"
                    self.instances[instance_id] = "launching"
                    self.fingerprint_of[instance_id] = fingerprint
                    dep = self.pool._deployments[fingerprint]
                    # Scale-out never exceeds the queue: instances about to ask for work
                    # (starting, or finishing their last invocation) cover at most the
                    # invocations waiting (or the provisioned count), and beyond
                    # provisioning none is launched while one of the deployment is idle.
                    needed = max(len(dep.waiting), dep.provisioned)
                    coming = len(dep.starting) + len(dep.finishing)
                    assert coming <= needed, "more instances coming than invocations waiting"
                    beyond_provisioned = dep.running() > dep.provisioned
                    assert not (dep.idle and beyond_provisioned), "launched while one is idle"
                case Deliver(invocation_id, instance_id):
                    fp, where = self.accepted[invocation_id]
                    assert where == "waiting", "an invocation is delivered at most once"
                    assert self.fingerprint_of[instance_id] == fp, "delivered to another deployment"
                    assert self.instances[instance_id] in ("idle", "polling", "resumed")
                    self.accepted[invocation_id] = (fp, instance_id)
                    self.instances[instance_id] = "busy"
                case Fail(invocation_id, _):
                    self.end(invocation_id)
                case Throttle(invocation_id, _):
                    self.end(invocation_id)
                case Pause(instance_id):
                    assert self.pause_after is not None
                    assert self.instances[instance_id] == "idle", "only idle instances pause"
                    self.instances[instance_id] = "paused"
                case Resume(instance_id):
                    assert self.instances[instance_id] == "paused", "only paused ones resume"
                    self.instances[instance_id] = "resumed"
                case Terminate(instance_id, _):
                    assert self.instances[instance_id] not in ("stopping", "gone")
                    self.instances[instance_id] = "stopping"
                case _:
                    raise AssertionError(f"unknown action {action}")
        for inst, state in self.instances.items():
            if state == "polling":
                self.instances[inst] = "idle"
            assert state != "resumed", "a resumed instance is given work at once"

    def end(self, inv: str) -> None:
        assert inv in self.accepted, "every invocation ends exactly once"
        del self.accepted[inv]
        self.ended.add(inv)

    def with_state(self, state: str) -> list[str]:
        return sorted(i for i, s in self.instances.items() if s == state)

    def running_on(self, inst: str) -> str:
        return next(inv for inv, (_, where) in self.accepted.items() if where == inst)

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def within_concurrency_limits(self) -> None:
        if not hasattr(self, "pool"):
            return
        reserved = self.pool.reserved("a")
        if reserved is not None:
            assert self.pool.running("a") <= reserved
            unreserved = self.pool.running() - self.pool.running("a")
        else:
            unreserved = self.pool.running()
        assert unreserved <= self.pool.unreserved_limit()

    @invariant()
    def model_agrees_with_pool(self) -> None:
        if not hasattr(self, "pool"):
            return
        for inst, state in self.instances.items():
            real = self.pool.instance(inst)
            if state == "gone":
                assert real is None
            elif state == "stopping":
                assert real is not None and real.state is State.STOPPING
            else:
                assert real is not None and real.state in RUNNING
                assert real.state.value == {"finishing": "busy", "launching": "starting"}.get(
                    state, state
                )
                assert real.up == (state != "launching") or real.state is not State.STARTING

    @invariant()
    def provisioned_deployments_are_topped_up(self) -> None:
        if not hasattr(self, "pool"):
            return
        for dep in self.pool._deployments.values():
            short = dep.running() < dep.provisioned and not dep.provisioning_failed()
            assert not (short and self.pool._has_room(dep.function)), "room left unprovisioned"

    @invariant()
    def stale_deployments_keep_no_idle_instance(self) -> None:
        if not hasattr(self, "pool"):
            return
        for inst in self.pool.instances():
            if inst.state in (State.IDLE, State.PAUSED):
                assert inst.deployment.fingerprint not in self.retired

    def teardown(self) -> None:
        if not hasattr(self, "pool"):
            return
        self.apply(self.pool.on_shutdown())
        for inst, state in list(self.instances.items()):
            if state != "gone":
                self.instances[inst] = "gone"
                self.apply(self.pool.on_instance_exited(inst, "shutdown", self.now))
        assert not self.accepted, f"invocations never ended: {sorted(self.accepted)}"
        assert self.pool.is_empty(), repr(self.pool)


TestPool = PoolMachine.TestCase
TestPool.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
