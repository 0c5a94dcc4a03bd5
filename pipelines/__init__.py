"""The pipelines layer: data in motion, from input streams to estimates and outputs, live or replayed.

By role: ``sources/`` (LSL inlets, frame sources), ``eeg/`` and ``face/`` (per-modality processing and estimators),
``sessions/`` (what owns a running session: live, replay), ``sinks/`` (the ``Affect`` outlet, JSONL, the XDF
recorder), ``synthetic/`` (the planted-truth simulator), ``bench/`` (``affectstream bench``); at the top the engine
that turns EEG chunks into hops, the feed that checks every chunk's timestamps before it, the configuration, the ring
buffer, the hop scheduler and the fusion (docs/architecture.md, data flow).

May import :mod:`affectstream.models` and :mod:`affectstream.core`, never ``calibration``, ``app`` or Qt.
"""
