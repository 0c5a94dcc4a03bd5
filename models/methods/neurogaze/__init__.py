"""NeuroGaze-Distill (ICLR 2026): EEG prototypes distilled into a FER+ visual student; docs/methods.md §1."""
