"""fasterapi._core.Waiter: the asyncio-compatible future of the async WebSocket path."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from fasterapi._core import DONE, Waiter


def run(coro):
    return asyncio.run(coro)


def test_resume_outside_a_task_runs_the_waiting_task_inline():
    var = contextvars.ContextVar("var", default="outside")

    async def main():
        loop = asyncio.get_running_loop()
        w = Waiter(loop)
        log = []

        async def handler():
            var.set("task")
            log.append(("got", await w, var.get()))

        task = loop.create_task(handler())
        await asyncio.sleep(0)

        def poll():  # what the native reader callback does: no task is running here
            log.append("before")
            assert w.resume(42) is True
            log.append("after")
            assert var.get() == "outside"  # the task's context was entered and left again

        loop.call_soon(poll)
        await task
        return log

    assert run(main()) == ["before", ("got", 42, "task"), "after"]


def test_resume_gives_a_plain_callback_the_waiter_itself():
    # Only a Task's own wake-up may be handed a stand-in (an already complete Future):
    # any other callback sees the waiter it was added to, with its result.
    async def main():
        loop = asyncio.get_running_loop()
        w = Waiter(loop)
        seen = []
        w.add_done_callback(lambda f: seen.append((f, f.result(), asyncio.current_task())))
        loop.call_soon(w.resume, "m")  # outside any task: the callback runs inline
        await asyncio.sleep(0.01)
        return w, seen

    w, seen = run(main())
    assert seen == [(w, "m", None)]


def test_the_attributes_a_task_reads_on_a_waiter():
    async def main():
        loop = asyncio.get_running_loop()
        w = Waiter(loop)
        assert w.get_loop() is loop and w._loop is loop
        assert w._asyncio_future_blocking is False
        w._asyncio_future_blocking = True
        assert w._asyncio_future_blocking is True
        del w._asyncio_future_blocking
        assert w._asyncio_future_blocking is False
        assert Waiter.ready(1).get_loop() is None
        with pytest.raises(AttributeError):
            w.no_such_attribute

    run(main())


def test_resume_inside_a_task_schedules_the_wakeup():
    async def main():
        loop = asyncio.get_running_loop()
        w = Waiter(loop)
        log = []

        async def waiter():
            log.append(await w)

        task = loop.create_task(waiter())
        await asyncio.sleep(0)
        assert w.resume("m") is True  # we are a task: no nested step, wake-up queued
        log.append("resumed")
        await task
        assert w.resume("again") is False
        return log

    assert run(main()) == ["resumed", "m"]


def test_exceptions_cancellation_and_future_protocol():
    async def main():
        loop = asyncio.get_running_loop()
        assert asyncio.isfuture(Waiter(loop))
        w = Waiter(loop)
        w.set_exception(ValueError("boom"))
        with pytest.raises(ValueError, match="boom"):
            await w
        assert isinstance(w.exception(), ValueError)

        w = Waiter(loop)
        task = loop.create_task(asyncio.wait_for(w, 0.01))
        with pytest.raises(asyncio.TimeoutError):
            await task
        assert w.cancelled() and w.resume(1) is False

        w = Waiter(loop)
        t = loop.create_task(asyncio.sleep(0, result=None))
        loop.call_soon(w.set_result, 7)
        assert await asyncio.gather(w, t) == [7, None]

        w = Waiter(loop)
        seen = []
        w.add_done_callback(seen.append)
        assert w.remove_done_callback(seen.append) == 1
        with pytest.raises(asyncio.InvalidStateError):
            w.result()
        w.set_result(1)
        with pytest.raises(asyncio.InvalidStateError):
            w.set_result(2)
        await asyncio.sleep(0)
        assert seen == [] and await w == 1 and await Waiter.ready("x") == "x"
        assert await DONE is None

    run(main())


def test_ws_methods_check_the_class_they_serve():
    from fasterapi._core import ws_methods
    from fasterapi.websocket import CONNECTED, WebSocket

    class NoSlots:
        pass

    with pytest.raises(TypeError, match="has no __slots__ entry _queue"):
        ws_methods(NoSlots, CONNECTED)

    class Other:
        __slots__ = ("_queue", "state", "_loop", "_waiter", "_waiter_ends_iteration", "_srv", "conn", "handler")

    with pytest.raises(RuntimeError, match="one class per process"):
        ws_methods(Other, CONNECTED)
    for name in ("__anext__", "send"):
        assert type(WebSocket.__dict__[name]).__name__ == "method_descriptor", name
