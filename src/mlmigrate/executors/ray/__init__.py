"""Running a migration's units and artifact objects as Ray tasks (``--executor ray``).

The driver (the ``mlmigrate copy`` process) plans, holds the journal and records each unit
once its task reports that the destination committed it. Each task opens the source and the
destination itself, in the worker, from URIs it gets through Ray's object store (never as
task arguments), reads its unit with the same code as the local pool and writes it in one
transaction: only counts and digests come back. Ray retries a task whose worker died; the
unit's transaction leaves no doubles.
"""
