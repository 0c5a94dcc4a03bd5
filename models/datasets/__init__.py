"""Dataset loaders for the formats the seed methods use, as distributed (docs/methods.md §7): FER+, MAHNOB-HCI, DEAP,
DREAMER, SEED, SEED-IV, SEED-V, the project's own XDF recordings, and the band-power feature cache over them.

Part of :mod:`affectstream.models` (imports only ``models`` and :mod:`affectstream.core`).
"""

from affectstream.models.datasets.ferplus import (
    EMOTIONS,
    SPLIT_DIRS,
    USAGE,
    VOTE_COLUMNS,
    Fer2013New,
    FerPlusSplit,
    argmax_labels,
    default_cache_dir,
    find_pixel_twins,
    load_split,
    majority_labels,
    read_fer2013new,
    read_label_csv,
    vote_probabilities,
)

__all__ = [
    "EMOTIONS",
    "SPLIT_DIRS",
    "USAGE",
    "VOTE_COLUMNS",
    "Fer2013New",
    "FerPlusSplit",
    "argmax_labels",
    "default_cache_dir",
    "find_pixel_twins",
    "load_split",
    "majority_labels",
    "read_fer2013new",
    "read_label_csv",
    "vote_probabilities",
]

# Emotion-labelled EEG datasets (docs/methods.md §7.1-§7.6): lazy loaders yielding common.Trial.
from affectstream.models.datasets.common import ContinuousLabels, DatasetLayoutError, Trial
from affectstream.models.datasets.deap import DEAP_EEG_CHANNELS, describe_deap_layout, load_deap
from affectstream.models.datasets.dreamer import DREAMER_EEG_CHANNELS, describe_dreamer_layout, load_dreamer
from affectstream.models.datasets.mahnob import MAHNOB_EEG_CHANNELS, describe_mahnob_layout, load_mahnob
from affectstream.models.datasets.seed import (
    SEED_CHANNELS,
    describe_seed_iv_layout,
    describe_seed_layout,
    describe_seed_v_layout,
    load_seed,
    load_seed_iv,
    load_seed_v,
)

__all__ += [
    "ContinuousLabels",
    "DatasetLayoutError",
    "Trial",
    "DEAP_EEG_CHANNELS",
    "DREAMER_EEG_CHANNELS",
    "MAHNOB_EEG_CHANNELS",
    "SEED_CHANNELS",
    "describe_deap_layout",
    "describe_dreamer_layout",
    "describe_mahnob_layout",
    "describe_seed_layout",
    "describe_seed_iv_layout",
    "describe_seed_v_layout",
    "load_deap",
    "load_dreamer",
    "load_mahnob",
    "load_seed",
    "load_seed_iv",
    "load_seed_v",
]
