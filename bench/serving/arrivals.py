"""When each query is due, and the load generators that issue queries on time.

The schedule is drawn up front and seeded, so every run of a load level offers the
same arrivals, and a slow server cannot slow them (no coordinated omission: a query's
latency runs from its scheduled arrival). A generator issues the schedule from a
thread or a process of its own and records when it really issued each query; its
lateness (issued minus scheduled) is reported with the level (bench.serving.figures).
"""

from __future__ import annotations

import abc
import queue
import socket
import subprocess
import sys
import threading
import time

import numpy as np
from multiprocessing import connection

SEED = 0  # the schedules' seed: a level's arrivals are the same in every run
LEAD_S = 0.05  # the first arrival is this far after start(): the generator is running by then
# A thread generator wakes up only when it gets the interpreter lock; the default switch interval
# (5 ms) would make it that late whenever the server thread runs Python (Keras' predict path).
SWITCH_INTERVAL_S = 1e-4
STOP_CHECK_S = 0.1  # a generator sleeping through a long gap notices a stop this often


def poisson_schedule(qps: float, duration_s: float, *, min_queries: int = 1, seed: int = SEED) -> np.ndarray:
    """Arrival offsets in seconds from the level's start, ascending.

    A Poisson process of rate `qps` run until it has lasted `duration_s` and issued
    `min_queries`: the count is fixed first, n = max(round(qps x duration_s), min_queries),
    and the n arrivals are uniform on [0, n / qps), in order (a Poisson process given
    its count). So the offered rate is exactly `qps`, and the gaps are exponential.

    Args:
        qps: offered load, queries a second (> 0).
        duration_s: the level's length at least, in seconds.
        min_queries: the level's queries at least (e.g. enough for a p99).
        seed: the schedule's seed; each rate draws its own stream from it.

    Returns:
        A float64 array of n offsets in seconds.
    """
    if not qps > 0:
        raise ValueError(f"qps must be positive. Received: qps={qps}")
    count = max(1, round(qps * duration_s), min_queries)
    rng = np.random.default_rng([seed, round(qps * 1000)])
    return np.sort(rng.uniform(0.0, count / qps, count))


DONE = -1  # what a generator sends after its last query


class Generator(abc.ABC):
    """Issues a schedule's queries (their indexes) at their due times, in the background."""

    name = ""

    def __init__(self):
        self.exhausted = False  # every query was issued and received
        self._issued = np.zeros(0)  # when each query was issued (NaN: not yet), set by start()

    def issued_at(self, index: int) -> float:
        """When query `index`, already received, was issued: when it joined the queue."""
        return float(self._issued[index])

    @abc.abstractmethod
    def start(self, offsets: np.ndarray) -> float:
        """Starts issuing; returns the clock time (time.perf_counter) that offset 0 stands for."""

    @abc.abstractmethod
    def _get(self, timeout: float | None):
        """The next message (an index, DONE, or a generator's own), waiting up to `timeout`
        (None: do not wait); raises queue.Empty when there is none."""

    def receive(self, timeout: float) -> list[int]:
        """The indexes issued and not yet received, waiting up to `timeout` seconds for the first."""
        indexes = []
        wait = timeout if timeout > 0 else None
        while not self.exhausted:
            try:
                message = self._get(wait)
            except queue.Empty:
                break
            wait = None
            if message == DONE:
                self.exhausted = True
            else:
                indexes.append(message)
        return indexes

    @abc.abstractmethod
    def finish(self) -> np.ndarray:
        """Stops the generator; returns each query's issue time (NaN where not issued)."""


class ThreadGenerator(Generator):
    """A thread of the server's process: no transport between the two, but it shares the interpreter lock."""

    name = "thread"

    def start(self, offsets):
        self._queue = queue.SimpleQueue()
        self._issued = np.full(len(offsets), np.nan)
        self._stop = threading.Event()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        origin = time.perf_counter() + LEAD_S
        self._thread = threading.Thread(target=self._issue, args=(origin + offsets,), name="load-generator",
                                        daemon=True)
        self._thread.start()
        return origin

    def _issue(self, due):
        for index, when in enumerate(due):
            if not _sleep_until(when, self._stop.is_set):
                return
            self._issued[index] = time.perf_counter()
            self._queue.put(int(index))
        self._queue.put(DONE)

    def _get(self, timeout):
        return self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()

    def finish(self):
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch_interval)
        return self._issued


class ProcessGenerator(Generator):
    """A process of its own (this file run as a script: it imports numpy only): it runs under its own
    interpreter lock, and each query crosses a socket to the server."""

    name = "process"

    def start(self, offsets):
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen([sys.executable, __file__, str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),))
        theirs.close()
        self._connection = connection.Connection(ours.detach())
        self._connection.recv()  # the process is up
        self._issued = np.full(len(offsets), np.nan)
        origin = time.perf_counter() + LEAD_S
        self._connection.send(origin + offsets)
        return origin

    def _get(self, timeout):
        if not self._connection.poll(timeout or 0):
            raise queue.Empty
        index, issued = self._connection.recv()
        if index != DONE:
            self._issued[index] = issued
        return index

    def finish(self):
        try:
            self._connection.send("stop")
        except OSError:  # it has finished and closed its end
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        try:  # queries it issued that the server never took in were issued all the same: their times count
            while self._connection.poll(0):
                self._get(None)
        except (EOFError, OSError):
            pass
        self._connection.close()
        return self._issued


def _issue_from_process(link: connection.Connection) -> None:
    """The generator process: reports that it is up, receives the due times, issues each on time."""
    link.send("up")
    due = link.recv()
    for index, when in enumerate(due):
        if not _sleep_until(when, link.poll):  # a message from the server ends the level early
            return
        link.send((index, time.perf_counter()))
    link.send((DONE, 0.0))


def _sleep_until(when: float, stopped) -> bool:
    """Sleeps until the clock reads `when`, checking `stopped()` at least every STOP_CHECK_S;
    False when stopped. time.sleep, not a timed wait on a lock or a socket: on Linux it overshoots
    least (docs/measurements.md)."""
    while (wait := when - time.perf_counter()) > 0:
        time.sleep(min(wait, STOP_CHECK_S))
        if stopped():
            return False
    return not stopped()


GENERATORS = {"thread": ThreadGenerator, "process": ProcessGenerator}


if __name__ == "__main__":  # the process generator: `python arrivals.py FD`
    _issue_from_process(connection.Connection(int(sys.argv[1])))
