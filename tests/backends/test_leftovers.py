"""Containers whose engine was away when they ended: the instance is gone at once, the
container is removed once the engine answers again (on an engine stand-in)."""

from __future__ import annotations

import socket

from anylambda.backends.container.engine import Attached
from anylambda.backends.container.handle import ContainerHandle
from anylambda.backends.container.leftovers import Leftovers
from tests.backends.stand_in import StandInEngine


async def test_a_container_its_engine_cannot_remove_is_left_for_later() -> None:
    engine = StandInEngine()
    engine.containers = {"c1"}
    engine.reachable = False
    leftovers = Leftovers(engine)
    ours, theirs = socket.socketpair()
    handle = ContainerHandle(engine, "c1", Attached(ours, ours), 128, leftovers)
    try:
        await handle.remove()  # does not wait for the engine to come back
    finally:
        handle.close_streams()
        theirs.close()
    assert len(leftovers) == 1
    engine.reachable = True
    await leftovers.remove()
    assert (len(leftovers), engine.containers) == (0, set())


async def test_leftovers_wait_while_the_engine_is_away_and_forget_the_gone() -> None:
    engine = StandInEngine()
    engine.containers = {"a", "b"}
    engine.reachable = False
    leftovers = Leftovers(engine)
    for container_id in ("a", "b", "already-gone"):
        leftovers.add(container_id)
    await leftovers.remove()
    assert len(leftovers) == 3
    engine.reachable = True
    await leftovers.remove()
    assert (len(leftovers), engine.containers) == (0, set())
