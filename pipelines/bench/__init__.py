"""``affectstream bench``: the project's measured figures (band power, EEG student, face path, hop latency, replay
speed, refusing hostile inputs, lost and re-attached streams, the long soak run), taken side by side in one process;
the budgets of docs/architecture.md and docs/THREAT_MODEL.md are checked here, never by timed unit tests. Part of
:mod:`affectstream.pipelines` (may import ``models`` and ``core``).
"""
