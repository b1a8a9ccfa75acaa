"""Arithmetic on measured runs, with no I/O and no terminal output.

    stats    the tests, intervals and verdicts (on scipy), Holm, the moderated variance
    gate     the regression decision between a baseline and a candidate run
    views    side-by-side tables: GPU over CPU, backend against backend, host against host
    scaling  data-parallel scaling efficiency of a session's rows
"""
