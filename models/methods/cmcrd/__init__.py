"""CMCRD (Kan et al., arXiv 2504.09221): cross-modal contrastive representation distillation; docs/methods.md §5."""
