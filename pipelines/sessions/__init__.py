"""Running sessions: the objects that own a session's inputs, drive the engine hop by hop and hand each hop to the
outputs, for a live run (headless or behind the dashboard) and for the replay of a recording (as fast as possible,
at a set speed, or under the dashboard's transport). Every one is a :class:`~.base.Session`, polled the same way,
and sends its hops through :class:`~.base.HopOutputs`; only the clock differs between them (docs/architecture.md).
Part of :mod:`affectstream.pipelines` (may import ``models`` and ``core``).
"""
