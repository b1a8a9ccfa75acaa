"""Arithmetic on measured runs, with no I/O and no terminal output.

    stats    the empirical-Bayes prior, the moderated t, intervals, verdicts, Holm (on scipy)
    gate     the regression decision, processes as replicates: cases, models, holes
    views    side-by-side tables: GPU over CPU, backend against backend, host against host
    scaling  data-parallel scaling efficiency of a session's rows
"""
