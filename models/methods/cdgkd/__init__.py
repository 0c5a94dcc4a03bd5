"""CDGKD (IJCAI 2025): a rebalanced face + EEG teacher densely guides a unimodal student; docs/methods.md §3."""
