"""The server scenario: open-loop load on one model, as MLPerf LoadGen's Server scenario and Triton's
perf_analyzer apply it.

    arrivals.py  the seeded Poisson schedule and the load generators that issue it (a thread or a process)
    batcher.py   the server loop: gathers queued queries into batches and runs them on the model
    figures.py   one load level's figures: latency percentiles over queries, the achieved rate, the
                 overload and generator-lateness rules, the early-stopping test of a latency bound
    search.py    the highest load whose p99 stays within a bound (a bisection over QPS)

Nothing here imports Keras: the model is a callable that serves k queries (tests use a stand-in).
"""
