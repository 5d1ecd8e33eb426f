"""sa3p's benchmarks: every figure measured side by side with its baseline in the same run.

Run ``python -m benchmarks`` (``--json`` for machine-readable output, ``--only GROUP`` for one
group, ``--quick`` for smaller inputs). Each public module here is a group; it registers its
cases with ``benchmarks._harness.case``.
"""
