"""Dataset loaders for the formats the seed methods use (METHODS.md §7)."""

from .ferplus import (
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
