"""`python -m bench.worker [--cpus LIST] [HARNESS OPTIONS]`: one side of the paired gate, in its own checkout.

`python -m bench ab` (bench.paired) starts one worker from each checkout, so that each
side times its cases through its own harness and models code: a change to either is
measured. The worker reads the harness options as `pytest bench/` does (pytest's own
arguments are ignored: both sides' collections checked them), prepares the process
as a session does, and then answers requests, one JSON object a line:

    -> {"protocol": PROTOCOL, "cases": [CASE_ID, ...]}       once, when it is ready
    <- {"time": CASE_ID, "seconds": S, "instance": 1}       time a block of the case
    -> {"case": CASE_ID, "status": "ok", "seconds": [...], "built_s": B}
       the first request of a case builds and warms it (B: the seconds that took, else 0), as pass 1 of
       `pytest bench/` does; then calls it for S seconds and returns each call's seconds.
       "status": "error", "message": ...  when the case cannot run (its model fails to build, ...).
    <- {"prepare": [CASE_ID, ...]}                            build and warm these now
    -> {"failed": {CASE_ID: message, ...}}                   (the gate prepares both workers at once)
    <- {"quit": true}

`instance` 2, 3, ... build a case again in models of their own (the noise probe compares instances).
`--cpus 0` pins the worker, and every thread it starts, to those CPUs (before the backend starts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from types import SimpleNamespace

PROTOCOL = 1


class _PassOneRounds:
    """What CaseRunner asks of pytest-benchmark's fixture, for pass 1: its rounds timed as `pedantic` does."""

    disabled = False
    group = None

    def __init__(self):
        self.stats = SimpleNamespace(stats=SimpleNamespace(data=[]))

    def pedantic(self, target, *, rounds, iterations=1, warmup_rounds=0, teardown=None):
        for _ in range(rounds * iterations):
            start = time.perf_counter()
            target()
            self.stats.stats.data.append(time.perf_counter() - start)
            if teardown:
                teardown()


def _arguments(argv: list[str]) -> tuple[list[int] | None, dict]:
    from bench.options import OPTIONS

    parser = argparse.ArgumentParser(prog="python -m bench.worker", add_help=False)
    parser.add_argument("--cpus", default=None)
    for option in OPTIONS:
        if option.metavar is None:
            parser.add_argument(option.flag, action="store_true", default=None)
        else:
            parser.add_argument(option.flag, default=None, action="append" if option.repeatable else "store")
    known, _pytest_own = parser.parse_known_args(argv)
    values = {o.dest: (",".join(v) if isinstance(v := getattr(known, o.dest), list) else v) for o in OPTIONS}
    cpus = [int(cpu) for cpu in known.cpus.split(",")] if known.cpus else None
    return cpus, values


class Worker:
    """The cases of one harness configuration, each built once per instance and timed block by block."""

    def __init__(self, values: dict):
        from bench import backends
        from bench.options import HarnessConfig
        from bench.plan import Plan

        self.config = HarnessConfig.from_values(values)
        backends.select(self.config.backend)
        if self.config.threads:
            backends.active().set_threads(*self.config.threads)
        from bench.session import apply_numerics

        apply_numerics(self.config)
        self.plan = Plan(self.config)
        self.cases = {case.id: case for case, number in self.plan.timed_passes()  # the cases its devices can run
                      if number == 1 and not self.plan.missing_device_reason(case.device)}
        self.runners: dict[int, object] = {}
        self.failed: dict[tuple[int, str], str] = {}

    def block(self, case_id: str, seconds: float, instance: int = 1) -> dict:
        from bench.runner import CaseRunner

        case = self.cases.get(case_id)
        if case is None:
            return {"case": case_id, "status": "error", "message": "no such case in this side's matrix"}
        if (instance, case_id) in self.failed:
            return {"case": case_id, "status": "error", "message": self.failed[instance, case_id]}
        if instance not in self.runners:
            self.runners[instance] = CaseRunner(self.config, self.plan)
        runner = self.runners[instance]
        built_s = 0.0
        if not runner.measured(case):
            started = time.perf_counter()
            try:
                runner.run(case, 1, _PassOneRounds())
            except BaseException as error:  # pytest.skip and pytest.fail are BaseExceptions too
                if isinstance(error, (KeyboardInterrupt, SystemExit)):
                    raise
                rows = [row for row in runner.results if row.model == case.model and row.mode == case.mode
                        and row.batch_size == case.batch_size and row.device == case.device]
                message = rows[-1].message if rows and rows[-1].message else f"{type(error).__name__}: {error}"
                self.failed[instance, case_id] = message
                return {"case": case_id, "status": "error", "message": message}
            built_s = time.perf_counter() - started
        try:
            times = runner.timed_block(case, seconds)
        except Exception as error:  # a step that fails after warm-up: the case's error, not the worker's end
            message = f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]
            self.failed[instance, case_id] = message
            return {"case": case_id, "status": "error", "message": message}
        return {"case": case_id, "status": "ok", "seconds": times, "built_s": built_s}


def main(argv: list[str] | None = None) -> int:
    cpus, values = _arguments(sys.argv[1:] if argv is None else argv)
    if cpus:  # before any thread pool starts: every thread inherits it
        os.sched_setaffinity(0, cpus)
    # The replies go to a copy of file descriptor 1; fd 1 itself (and sys.stdout) then points at stderr, so
    # that no chatter of Keras, the backends or their C libraries can mix with the replies.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        worker = Worker(values)
    except Exception as error:  # noqa: BLE001 - one line to the gate, which reports it
        print(json.dumps({"protocol": PROTOCOL, "error": f"{type(error).__name__}: {error}"}), file=reply, flush=True)
        return 2
    print(json.dumps({"protocol": PROTOCOL, "cases": list(worker.cases)}), file=reply, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        if "prepare" in request:
            failed = {case: answer["message"] for case in request["prepare"]
                      if (answer := worker.block(case, 0.0))["status"] != "ok"}
            print(json.dumps({"failed": failed}), file=reply, flush=True)
            continue
        answer = worker.block(request["time"], float(request["seconds"]), int(request.get("instance", 1)))
        print(json.dumps(answer), file=reply, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
