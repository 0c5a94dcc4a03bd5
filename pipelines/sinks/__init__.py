"""Where hop results go: the ``Affect`` LSL outlet, JSONL files and the XDF recording of a whole session, each
following the contracts of docs/architecture.md. Part of :mod:`affectstream.pipelines` (may import ``models`` and
``core``).
"""
