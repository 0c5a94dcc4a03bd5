"""The trainer's configuration: one TOML file, typed, every default here or in the method's own config class.

Layout of a config file (``models/configs/*.toml`` are complete examples)::

    method = "v2e_kd"           # which method runs; its options live in the table of the same name

    [run]                       # RunConfig: name, output folder, seed, device
    [data]                      # DataConfig: where the trials come from (and the planted generator's settings)
    [features]                  # affectstream.models.datasets.features.FeatureConfig: the band-power features
    [protocol]                  # ProtocolConfig: LOSO, TRS, within-subject or hold-out folds
    [paper]                     # PaperConfig: the paper experiment a config reproduces and the numbers it reported
    [v2e_kd]                    # the method's own dataclass (e.g. models/methods/v2e_kd/method.py's V2EKDConfig)

Unknown keys and wrong types are refused with the key's full name (:func:`affectstream.core.typed_config.from_dict`),
so a typo never silently falls back to a default. ``affectstream train CONFIG --set KEY=VALUE`` changes one key
(:func:`apply_overrides`) before those checks, so an override is held to the same rules as the file.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from affectstream.models.datasets.features import FeatureConfig
from affectstream.core.typed_config import ConfigError, from_dict, read_toml

__all__ = ["DATASET_KINDS", "ConfigError", "DataConfig", "PaperConfig", "PlantedConfig", "ProtocolConfig",
           "RunConfig", "TrainConfig", "apply_overrides", "load_train_config", "parse_override", "to_toml"]

#: The ``[data] kind`` values that read a lab's copy of a published emotion-EEG dataset (docs/datasets.md).
DATASET_KINDS: tuple[str, ...] = ("deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv", "seed_v")

#: Fractions that must leave a share over (of the subjects for training, of the units a dropout keeps, ...).
_SHARE = (0.0, 0.95)
#: Probabilities and ratios in [0, 1].
_UNIT = (0.0, 1.0)
_SEED = (0, 2 ** 32 - 1)  # numpy's seed range (the fold's offset is added modulo 2 ** 32)
_EPOCHS = (1, 10_000)
_BATCH = (1, 65_536)

#: Inclusive ranges of the shared sections' numeric keys, by dotted key (every float must also be finite). The caps
#: lie far above any setting of models/configs (a test loads every one of them); they exist so that a typo cannot
#: start days of work or fill the disk before the first check: the planted generator writes ~64 kB per second of
#: recording, so a billion subjects or a 1e12 s trial would only end when the disk is full.
_RANGES: dict[str, tuple[float, float]] = {
    "run.seed": _SEED,
    "run.threads": (0, 1024),  # 0 = torch's default
    "data.planted.n_subjects": (1, 200),  # the planted benchmark has 12; published datasets 15-40
    "data.planted.n_trials": (1, 500),
    "data.planted.trial_s": (1.0, 3600.0),  # an hour-long trial is already no trial
    "data.planted.rest_s": (0.0, 600.0),
    "data.planted.seed": _SEED,
    "data.planted.face_size": (16, 256),  # the FER students read 48 px crops
    "data.crop_s": (0.0, 86_400.0),
    "features.window_s": (0.5, 60.0),
    "features.hop_s": (0.01, 60.0),  # a smaller hop multiplies the frames (and the cache) without bound
    "features.segment_s": (0.1, 60.0),
    "features.segment_overlap": _SHARE,
    "features.l_freq": (0.0, 500.0),
    "features.h_freq": (0.0, 500.0),
    "features.min_channels": (1, 32),  # the montage's size
    "features.batch_windows": (1, 65_536),
    "protocol.n_folds": (2, 1000),
    "protocol.val_fraction": _SHARE,
    "protocol.max_folds": (0, 1000),
}

#: Ranges of the methods' options by field name, wherever a method's table (or a sub-table of it, e.g. a teacher's
#: and a student's optimiser) has a numeric field of that name: the methods share their optimiser and image-training
#: dataclasses, so one name means one thing in every table.
_METHOD_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("batch_size", "eval_batch_size"), _BATCH),
    **dict.fromkeys(("epochs", "max_epochs", "teacher_epochs", "student_epochs"), _EPOCHS),
    **dict.fromkeys(("warmup_epochs", "early_stop", "plateau_patience", "dgeo_start", "dgeo_end"), (0, 10_000)),
    **dict.fromkeys(("window", "hop", "segment_frames"), (1, 100_000)),  # label points: 100,000 are 7 h at 4 Hz
    **dict.fromkeys(("dropout", "head_dropout", "drop_rate", "label_smoothing"), _SHARE),
    **dict.fromkeys(("flip_p", "affine_p", "erase_p", "momentum", "percentile", "rr_ratio", "final_lr_ratio",
                     "neutral_band"), _UNIT),
    "plateau_factor": (0.001, 0.99),  # the learning rate's multiplier on a plateau: it must shrink it
    **dict.fromkeys(("lr", "min_lr"), (0.0, 10.0)),
    **dict.fromkeys(("weight_decay", "grad_clip", "oracle_ridge", "ce_weight", "kd_weight", "proto_weight",
                     "dgeo_weight", "crd_weight", "mcc_weight", "orth_weight", "wce_weight", "cc_weight",
                     "concept_weight"), (0.0, math.inf)),  # a negative loss weight would maximise its term
    "alpha": _UNIT,  # CDGKD's mix of the CE and the KD term
    **dict.fromkeys(("kd_temperature", "temperature", "tau", "proto_tau", "proto_target_tau", "supcon_tau",
                     "proto_sigma"), (0.001, 1000.0)),  # divisors
    **dict.fromkeys(("threads",), (1, 1024)),  # torch.set_num_threads refuses 0
    "latency_threads": (0, 1024),  # onnxruntime: 0 = its default
    "seed": _SEED,
    "n_classes": (2, 100),
    **dict.fromkeys(("hidden", "feat_dim", "dim", "embedding_dim", "teacher_eeg_width", "ta1_eeg_width",
                     "ta2_eeg_width", "video_width", "nce_k", "k", "kernel_size", "cosine_t_max"),
                    (1, 65_536)),  # sizes: memory grows with them (a width of 1e9 would only end in an OOM)
    **dict.fromkeys(("image_size",), (8, 1024)),
    **dict.fromkeys(("limit_train", "crop_pad", "montage_subsets"), (0, math.inf)),
}

#: Most entries of a subject list (``data.subjects``, ``protocol.test_subjects``): the largest dataset read here
#: has 40 subjects; a list of thousands is a mistake, and every entry is matched against every trial.
MAX_SUBJECT_ENTRIES = 1000
#: Most entries of any other list of a config (a grid of KD weights, a network's levels, FER+ anchors: at most 8
#: in any method): each entry of a grid is one more training per fold.
MAX_LIST_ENTRIES = 64
#: Largest planted benchmark, estimated on disk: 4 fps ``face_size``-px BGR crops (12 bytes per pixel and second)
#: and 33 float32 channels at 256 Hz (33.8 kB/s); measured 39.0 MB for a 605 s recording with 48 px faces. The
#: shipped planted configs write 0.6 GB.
MAX_PLANTED_BYTES = 20e9


@dataclass(frozen=True)
class RunConfig:
    """Where a run goes and how it is seeded."""

    name: str = "run"
    out_dir: str = "runs"  #: run folders are created under it (relative to the config file's folder)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "off", "bf16"] = "auto"  #: auto: float16 on CUDA, float32 on CPU; bf16: bfloat16 on CPU too
    threads: int = 0  #: torch intra-op threads; 0 = torch's default


@dataclass(frozen=True)
class PlantedConfig:
    """Settings of the planted benchmark generator (SYNTHETIC data,
    :func:`affectstream.pipelines.synthetic.planted_dataset.build_planted_xdf_dataset`)."""

    n_subjects: int = 12
    n_trials: int = 10
    trial_s: float = 60.0
    rest_s: float = 5.0
    seed: int = 0
    face_size: int = 48


@dataclass(frozen=True)
class DataConfig:
    """Which trials the method sees.

    ``kind = "xdf"`` reads the project's recordings with calibration labels from ``path``; with ``generate_planted``
    ``affectstream train`` first has the simulator write the planted benchmark there (reused when it exists with the
    same settings). ``kind = "ferplus"``: the method trains on FER+ images alone (it reads them itself), so there are
    no trials and the one fold is FER+'s own train / valid / test split; ``path`` and ``[protocol]`` are then unused.
    A kind of :data:`DATASET_KINDS` reads the user's copy of that dataset at ``root``, in the layout it is
    distributed in (docs/datasets.md; :mod:`affectstream.models.datasets.trainer_trials` turns it into trials).
    """

    kind: Literal["xdf", "ferplus", "deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv",
                  "seed_v"] = "xdf"
    path: str = "data/planted"  #: xdf: the recordings, relative to the config file's folder
    generate_planted: bool = False
    planted: PlantedConfig = field(default_factory=PlantedConfig)
    unit: Literal["trial", "session"] = "trial"  #: one sample per marked trial, or per whole recording
    cache_dir: str = "cache"  #: feature (and dataset signal) cache, relative to the config file's folder
    root: str = ""  #: a dataset kind: the local copy, as distributed (relative paths: to the config file's folder)
    subjects: tuple[int, ...] = ()  #: a dataset kind: only these subjects (none = all)
    baseline: Literal["drop", "keep"] = "drop"  #: cut the pre-stimulus baseline off (DEAP 3 s, MAHNOB 30 s) or keep it
    crop_s: float = 0.0  #: keep only the last crop_s seconds of each clip (0 = the whole clip; DREAMER papers: 60)
    check: bool = True  #: verify the copy (affectstream datasets check) before training


@dataclass(frozen=True)
class ProtocolConfig:
    """Cross-validation (docs/methods.md §2.5)."""

    #: holdout: one fold, validation subjects, no test trials; within_subject: every subject in train and test;
    #: subject_kfold: LOSO with n_folds groups of subjects
    kind: Literal["loso", "subject_kfold", "trs", "holdout", "within_subject"] = "loso"
    trs_variant: Literal["code", "paper"] = "code"
    n_folds: int = 10  #: TRS, subject_kfold and within_subject (LOSO has one fold per subject)
    val_fraction: float = 0.2
    max_folds: int = 0  #: run only the first k folds (0 = all): a quick look, never a reported result
    test_subjects: tuple[int, ...] = ()  #: holdout only: subjects kept for the test (none by default)


@dataclass(frozen=True)
class PaperConfig:
    """The published experiment a config reproduces, for the report's "paper: X, ours: Y" table.

    ``reported`` pairs a key of the run's summary (dotted, e.g. ``"student.ccc_mean"``) with the number the paper
    reports for it, on the same scale; ``reported_names`` says what each is in the paper's words.
    """

    title: str = ""  #: e.g. "Zhang, Tang, Guan, Pattern Recognition 2022"
    table: str = ""  #: where in the paper, e.g. "Table 2, TRS"
    summary_keys: tuple[str, ...] = ()
    reported: tuple[float, ...] = ()  #: one per summary key
    reported_names: tuple[str, ...] = ()  #: one per summary key
    note: str = ""  #: what differs from the paper's setting

    def __post_init__(self) -> None:
        if not len(self.summary_keys) == len(self.reported) == len(self.reported_names):
            raise ValueError("summary_keys, reported and reported_names must have one entry each")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: the shared sections and the method's own options."""

    method: str
    options: Any
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    base_dir: Path = Path(".")  #: the config file's folder: relative paths are resolved against it

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


_SECTIONS = {"run": RunConfig, "data": DataConfig, "features": FeatureConfig, "protocol": ProtocolConfig,
             "paper": PaperConfig}


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"data.root=/x"`` -> ``(["data", "root"], "/x")``.

    The value is read as a TOML value (``5``, ``0.1``, ``true``, ``[1, 2]``, ``"text"``); anything that is not one is
    taken as a bare string, so ``--set data.root=/mnt/DEAP`` needs no quotes.
    """
    key, sep, raw = text.partition("=")
    parts = [p.strip() for p in key.split(".")]
    if not sep or not all(parts):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. data.root=/data/DEAP")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    """Set each ``KEY=VALUE`` of ``overrides`` in the parsed TOML ``data`` (in place); the typed checks follow."""
    for text in overrides:
        parts, value = parse_override(text)
        table = data
        for i, part in enumerate(parts[:-1]):
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {text!r}: {'.'.join(parts[:i + 1])} is a value, not a table")
        table[parts[-1]] = value


def _method_ranges(cls: type, prefix: str) -> dict[str, tuple[float, float]]:
    """:data:`_METHOD_RANGES` as the dotted keys of the method table ``cls`` (named ``prefix``) and its sub-tables."""
    ranges = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            ranges.update(_method_ranges(kind, f"{prefix}{f.name}."))
        elif kind in (int, float) and f.name in _METHOD_RANGES:
            ranges[prefix + f.name] = _METHOD_RANGES[f.name]
    return ranges


def _check_lists(obj: Any, prefix: str) -> None:
    """Refuse a list longer than :data:`MAX_SUBJECT_ENTRIES` (subject lists) or :data:`MAX_LIST_ENTRIES` (any other)
    anywhere in the dataclass ``obj`` (named ``prefix``)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _check_lists(value, f"{prefix}{f.name}.")
        elif isinstance(value, tuple):
            cap = MAX_SUBJECT_ENTRIES if f.name in ("subjects", "test_subjects") else MAX_LIST_ENTRIES
            if len(value) > cap:
                raise ConfigError(f"{prefix}{f.name}: at most {cap} entries, got {len(value)}")


def _check_planted(planted: PlantedConfig, where: Path) -> None:
    """Refuse a planted benchmark larger than :data:`MAX_PLANTED_BYTES` (each key may be in range, not their
    product); ``where`` is the config file."""
    seconds = planted.n_subjects * (planted.n_trials * (planted.trial_s + planted.rest_s) + planted.rest_s)
    size = seconds * (33.8e3 + 12 * planted.face_size ** 2)
    if size > MAX_PLANTED_BYTES:
        raise ConfigError(f"{where}: data.planted: {planted.n_subjects} subjects x {planted.n_trials} trials of "
                          f"{planted.trial_s:g} s are {seconds / 3600:.0f} h of SYNTHETIC recordings, about "
                          f"{size / 1e9:.0f} GB on disk; at most {MAX_PLANTED_BYTES / 1e9:.0f} GB: fewer subjects, "
                          "trials or seconds")


def load_train_config(path: str | Path, methods: dict[str, type], overrides: list[str] = ()) -> TrainConfig:
    """Read a TOML training config; ``methods`` maps each method name to its options dataclass; ``overrides``
    (``KEY=VALUE``, :func:`apply_overrides`) change keys of the file before it is checked.

    Raises
    ------
    ConfigError
        Missing file, invalid TOML, unknown method or key, wrong type, a value out of its range or a list too long
        (:data:`_RANGES`, :data:`_METHOD_RANGES`), a planted benchmark too large for a disk (one line naming the
        key).
    """
    path = Path(path)
    data = read_toml(path)
    apply_overrides(data, list(overrides))
    method = data.pop("method", None)
    if not isinstance(method, str) or method not in methods:
        raise ConfigError(f"{path}: 'method' must be one of {', '.join(sorted(methods))}; got {method!r}")
    options = from_dict(methods[method], data.pop(method, {}), prefix=f"{method}.",
                        ranges=_method_ranges(methods[method], f"{method}."))
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; valid: "
                          f"method, {', '.join(_SECTIONS)}, and the method's table [{method}]")
    sections = {}
    for name, cls in _SECTIONS.items():
        try:
            sections[name] = from_dict(cls, data.get(name, {}), prefix=f"{name}.", ranges=_RANGES)
            _check_lists(sections[name], f"{name}.")
        except (TypeError, ValueError) as exc:  # FeatureConfig and PaperConfig check their own values
            raise ConfigError(f"{path}: [{name}] {exc}") from None
    _check_lists(options, f"{method}.")
    if sections["data"].kind == "xdf" and sections["data"].generate_planted:
        _check_planted(sections["data"].planted, path)
    return TrainConfig(method=method, options=options, base_dir=path.resolve().parent, **sections)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _table(name: str, obj: Any, out: list[str]) -> None:
    scalars, tables = [], []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            tables.append((f"{name}.{f.name}", value))
        elif value is not None:
            scalars.append(f"{f.name} = {_toml_value(value)}")
    out += [f"[{name}]", *scalars, ""]
    for sub, value in tables:
        _table(sub, value, out)


def to_toml(config: TrainConfig) -> str:
    """The complete configuration with every default filled in (written into each run folder)."""
    out = [f"method = {_toml_value(config.method)}", ""]
    for name in _SECTIONS:
        _table(name, getattr(config, name), out)
    _table(config.method, config.options, out)
    return "\n".join(out)
