"""The bottom layer: signals and formats that both the models and the pipelines rely on.

Welch band power (:mod:`.bandpower`), the 32-channel montage and the mapping of a stream's channels onto it
(:mod:`.montage`), the layout of one feature frame (:mod:`.feature_layout`), the causal per-subject feature
normaliser (:mod:`.feature_norm`), the typed TOML loader (:mod:`.typed_config`), the XDF format, reader and writer,
the ``Video`` stream contract (:mod:`.video`), and where the team's shared data lives (:mod:`.paths`). It imports no
other part of affectstream and no Qt (docs/architecture.md).
"""
