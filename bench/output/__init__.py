"""What a user reads: terminal tables, the run summary, the report pages and plots.

    tables   the one table renderer (aligned text, markdown, CSV)
    summary  the end-of-run summary printed by `pytest bench/`
    plots    the report's figures and the tables behind them
    report   report.md and report.html, written all or nothing
"""
