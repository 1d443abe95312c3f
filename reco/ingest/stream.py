"""A producer thread feeding the thread that owns the database connection, through a bounded
queue: the load reads, types and keys chunk k + 1 while chunk k is COPYed.

The producer (``produce``) does the client-side work and hands each finished chunk to
``Pipeline.put``; the calling thread (``Pipeline.run``) passes each one to ``consume`` (the
COPY). The producer never touches the connection: when it needs the database (the keys already
landed, ids for a file), ``Pipeline.call`` runs a function on the connection's thread, in
order with the chunks before it, and waits for its result. At most ``depth`` chunks wait in
the queue, so memory holds a few chunks whatever the file's size. An error on either side
stops both and is raised by ``run`` (the caller's transaction then rolls back: all or nothing).
Polars, numpy, pyarrow and psycopg release the GIL for their work, so both threads run at
once on two cores.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

#: Chunks typed ahead of the COPY: one being sent, one waiting.
DEPTH = 2
_POLL_S = 0.1


class Cancelled(Exception):
    """The consumer stopped (an error on its side): the producer ends without a word."""


class Pipeline:
    def __init__(self, depth: int = DEPTH) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()

    # -- the producer's side ---------------------------------------------------------------------

    def _send(self, message: tuple) -> None:
        while True:
            if self._stop.is_set():
                raise Cancelled
            try:
                self._queue.put(message, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def put(self, item: Any) -> None:
        """Hand a chunk to the consumer (waits while ``depth`` chunks are queued)."""
        self._send(("item", item))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` run on the consumer's thread after the chunks already put; its result."""
        reply: queue.Queue = queue.Queue(maxsize=1)
        self._send(("call", (fn, args, reply)))
        while True:
            if self._stop.is_set():
                raise Cancelled
            try:
                ok, value = reply.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if ok:
                return value
            raise Cancelled from value

    # -- the consumer's side ---------------------------------------------------------------------

    def run(self, produce: Callable[[Pipeline], None], consume: Callable[[Any], None]) -> None:
        """Run ``produce(self)`` on a thread and ``consume`` each chunk it puts, here, until it
        returns; raise the first error of either side after stopping both."""
        thread = threading.Thread(
            target=self._produce, args=(produce,), name="reco-load-producer", daemon=True
        )
        thread.start()
        try:
            while True:
                kind, payload = self._queue.get()
                if kind == "item":
                    consume(payload)
                elif kind == "call":
                    fn, args, reply = payload
                    try:
                        reply.put((True, fn(*args)))
                    except BaseException as exc:
                        reply.put((False, exc))
                        raise
                elif kind == "error":
                    raise payload
                else:
                    return
        finally:
            self._stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    thread.join(_POLL_S)

    def _produce(self, produce: Callable[[Pipeline], None]) -> None:
        try:
            produce(self)
            message = ("done", None)
        except Cancelled:
            return
        except BaseException as exc:  # handed to the consumer, which raises it
            message = ("error", exc)
        with contextlib.suppress(Cancelled):
            self._send(message)
