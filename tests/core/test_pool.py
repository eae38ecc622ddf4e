"""Example-based checks of pool decisions the state machine cannot name (it checks invariants)."""

from __future__ import annotations

from anylambda.core.pool import (
    INIT_TIMEOUT,
    LAUNCH_TIMEOUT,
    STALE,
    Deliver,
    Fail,
    Launch,
    Pause,
    Pool,
    Resume,
    Terminate,
    Throttle,
)


def make_pool(limit: int = 4, pause_after: float | None = None) -> Pool:
    return Pool(
        account_limit=limit,
        idle_timeout=60,
        init_timeout=10,
        pause_after=pause_after,
        id_prefix="t",
    )


def warm_instance(pool: Pool) -> str:
    """Invoke once and finish: one idle instance of deployment fp."""
    (launch,) = pool.on_invoke("first", "fn", "fp", 0, can_wait=False)
    assert isinstance(launch, Launch)
    assert pool.on_next_polled(launch.instance_id, 1) == [Deliver("first", launch.instance_id)]
    pool.on_result(launch.instance_id, 2)
    assert pool.on_next_polled(launch.instance_id, 2) == []
    return launch.instance_id


def test_idle_instance_is_reused():
    pool = make_pool()
    inst = warm_instance(pool)
    assert pool.on_invoke("second", "fn", "fp", 3, can_wait=False) == [Deliver("second", inst)]


def test_back_to_back_invoke_waits_for_the_finishing_instance():
    pool = make_pool()
    inst = warm_instance(pool)
    assert pool.on_invoke("a", "fn", "fp", 3, can_wait=False) == [Deliver("a", inst)]
    pool.on_result(inst, 4)
    # The result is in, but the runtime has not polled /next yet: no cold start for "b".
    assert pool.on_invoke("b", "fn", "fp", 4, can_wait=False) == []
    assert pool.on_next_polled(inst, 4) == [Deliver("b", inst)]


def test_finishing_instance_that_dies_is_replaced_for_the_waiting_invocation():
    pool = make_pool()
    inst = warm_instance(pool)
    pool.on_invoke("a", "fn", "fp", 3, can_wait=False)
    pool.on_result(inst, 4)
    pool.on_invoke("b", "fn", "fp", 4, can_wait=False)
    (launch,) = pool.on_instance_exited(inst, "crashed", 5)
    assert isinstance(launch, Launch) and launch.fingerprint == "fp"


def test_finishing_instance_that_never_polls_is_stopped():
    pool = make_pool()
    inst = warm_instance(pool)
    pool.on_invoke("a", "fn", "fp", 3, can_wait=False)
    pool.on_result(inst, 4)
    assert pool.on_tick(4 + 10) == [Terminate(inst, "unresponsive")]


def test_sync_invoke_over_the_limit_is_throttled_and_async_waits():
    pool = make_pool(limit=1)
    (launch,) = pool.on_invoke("a", "fn", "fp", 0, can_wait=False)
    assert pool.on_invoke("b", "fn", "fp", 0, can_wait=False) == [
        Throttle("b", "ConcurrentInvocationLimitExceeded")
    ]
    assert pool.on_invoke("c", "fn", "fp", 0, can_wait=True) == []
    # "c" waited; it runs once "a" is done and the instance polls again.
    pool.on_next_polled(launch.instance_id, 1)
    pool.on_result(launch.instance_id, 2)
    assert pool.on_next_polled(launch.instance_id, 2) == [Deliver("c", launch.instance_id)]


def test_reserved_concurrency_throttles_with_its_own_reason():
    pool = make_pool()
    assert pool.set_reserved("fn", 0, 0) == []
    assert pool.on_invoke("a", "fn", "fp", 0, can_wait=False) == [
        Throttle("a", "ReservedFunctionConcurrentInvocationLimitExceeded")
    ]


def test_lifting_a_reservation_starts_the_invocations_that_waited_for_room():
    pool = make_pool()
    pool.set_reserved("fn", 0, 0)
    assert pool.on_invoke("a", "fn", "fp", 0, can_wait=True) == []
    (launch,) = pool.set_reserved("fn", None, 1)
    assert launch == Launch(launch.instance_id, "fp")


def test_idle_instance_of_another_function_is_evicted_for_room():
    pool = make_pool(limit=1)
    inst = warm_instance(pool)
    actions = pool.on_invoke("x", "other", "fp2", 3, can_wait=False)
    assert actions[0] == Terminate(inst, "evicted")
    assert isinstance(actions[1], Launch) and actions[1].fingerprint == "fp2"


def test_init_failure_fails_the_invocation_that_started_it():
    pool = make_pool()
    (launch,) = pool.on_invoke("a", "fn", "fp", 0, can_wait=False)
    assert pool.on_instance_failed(launch.instance_id, "import error", 1) == [
        Fail("a", "import error"),
        Terminate(launch.instance_id, "failed"),
    ]


def test_retired_deployment_stops_idle_instances_and_busy_ones_after_their_work():
    pool = make_pool()
    idle = warm_instance(pool)
    assert pool.retire("fp", 5) == [Terminate(idle, "stale")]
    assert "Instances: stopping 1" in repr(pool)


def test_retired_deployment_fails_the_waiting_invocations_no_instance_will_serve():
    pool = make_pool(limit=1)
    (launch,) = pool.on_invoke("a", "fn", "fp", 0, can_wait=False)
    assert pool.on_invoke("b", "fn", "fp", 0, can_wait=True) == []
    assert pool.on_invoke("c", "fn", "fp", 0, can_wait=True) == []
    # "a" keeps the instance starting for it; "b" and "c" waited for capacity.
    assert pool.retire("fp", 0) == [Fail("b", STALE), Fail("c", STALE)]
    assert pool.on_next_polled(launch.instance_id, 1) == [Deliver("a", launch.instance_id)]


def test_no_instance_of_a_retired_deployment_is_launched():
    pool = make_pool(limit=1)
    (launch,) = pool.on_invoke("a", "fn", "fp", 0, can_wait=False)
    pool.on_next_polled(launch.instance_id, 1)
    pool.retire("fp", 2)
    assert pool.on_invoke("b", "fn", "fp2", 2, can_wait=True) == []
    # The old instance exits: the room goes to the current deployment.
    (failed, started) = pool.on_instance_exited(launch.instance_id, "crashed", 3)
    assert failed == Fail("a", "crashed")
    assert isinstance(started, Launch) and started.fingerprint == "fp2"


def test_soft_idle_pauses_then_work_resumes_the_same_instance():
    pool = make_pool(pause_after=5)
    inst = warm_instance(pool)  # idle since t=2
    assert pool.on_tick(6) == []
    assert pool.on_tick(7) == [Pause(inst)]
    assert pool.on_tick(8) == []  # paused once
    assert pool.on_invoke("b", "fn", "fp", 9, can_wait=False) == [Resume(inst), Deliver("b", inst)]


def test_hard_idle_stops_a_paused_instance():
    pool = make_pool(pause_after=5)
    inst = warm_instance(pool)
    pool.on_tick(7)
    assert pool.on_tick(2 + 60) == [Terminate(inst, "idle")]


def test_the_init_timeout_starts_when_the_instance_is_up():
    pool = Pool(account_limit=2, idle_timeout=60, init_timeout=10, launch_timeout=30)
    (launch,) = pool.on_invoke("slow", "fn", "fp", 0, can_wait=False)
    assert pool.on_tick(25) == []  # still coming up: within the launch timeout
    pool.on_up(launch.instance_id, 25)
    assert pool.on_tick(34) == []  # initialising for 9 s
    assert pool.on_tick(35) == [
        Fail("slow", INIT_TIMEOUT),
        Terminate(launch.instance_id, INIT_TIMEOUT),
    ]


def test_an_instance_that_never_comes_up_fails_at_the_launch_timeout():
    pool = Pool(account_limit=2, idle_timeout=60, init_timeout=10, launch_timeout=30)
    (launch,) = pool.on_invoke("stuck", "fn", "fp", 0, can_wait=False)
    assert pool.on_tick(29) == []
    assert pool.on_tick(30) == [
        Fail("stuck", LAUNCH_TIMEOUT),
        Terminate(launch.instance_id, LAUNCH_TIMEOUT),
    ]
