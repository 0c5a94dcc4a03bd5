"""Visual-to-EEG KD (Zhang, Tang, Guan; Pattern Recognition 2022), face teacher to EEG student; docs/methods.md §2."""
