"""Thread and queue plumbing for the streaming stages: bounded queues that never block a
stopped run, worker threads that hand their exception to the consumer, and the per-thread
niceness and core affinity of the decoding and encoding threads."""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable

END = object()  # put by a stage after its last item


def put_until_stopped(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; False when it was not put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def get_or_raise(q: queue.Queue):
    """The next item of ``q``, raising it when it is an exception a stage forwarded."""
    item = q.get()
    if isinstance(item, BaseException):
        raise item
    return item


def next_item(q: queue.Queue, check: Callable[[], None]):
    """The next item of ``q``, calling ``check`` (which may raise) at least every 0.2 s while
    waiting, so that a stop request is honoured even when no item comes."""
    while True:
        check()
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if isinstance(item, BaseException):
            raise item
        return item


def mark_stage(exc: BaseException, stage: str) -> None:
    """Name the stage an exception came from (for the error message), unless an earlier stage
    already did: a decoding error that reaches the consumer through the detection thread is
    still the decoder's."""
    if getattr(exc, "stage", None) is not None:
        return
    with contextlib.suppress(AttributeError, TypeError):
        exc.stage = stage  # type: ignore[attr-defined]


class StageThread(threading.Thread):
    """Runs ``items`` (an iterable, usually a stage's generator) in its own thread and puts
    every item into ``out``, then ``END``; an exception goes into ``out`` too, named by the
    stage, to be raised in the consumer. ``setup`` runs in the thread before the first item
    is made (e.g. ``codec_thread``)."""

    def __init__(
        self,
        name: str,
        items: Iterable,
        out: queue.Queue,
        stop: threading.Event,
        setup: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.items, self.out, self.stop, self.setup = items, out, stop, setup

    def run(self) -> None:
        try:
            if self.setup is not None:
                self.setup()
            for item in self.items:
                if not put_until_stopped(self.out, item, self.stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
            mark_stage(exc, self.name)
            put_until_stopped(self.out, exc, self.stop)
        finally:
            put_until_stopped(self.out, END, self.stop)


def codec_thread(nice: int, cpus: frozenset[int] | None) -> Callable[[], None]:
    """The setup of a decoding or encoding thread: ``nice`` nicer, kept on ``cpus``."""

    def setup() -> None:
        lower_thread_priority(nice)
        keep_thread_on(cpus)

    return setup


def lower_thread_priority(increment: int) -> None:
    """Make the calling thread ``increment`` nicer. Linux only: there a thread's own id names
    it to ``setpriority``; elsewhere the same call would reach a whole process."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + increment))


def keep_thread_on(cpus: frozenset[int] | None) -> None:
    """Keep the calling thread on ``cpus`` (Linux; None or elsewhere: leave it be)."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(threading.get_native_id(), cpus)
