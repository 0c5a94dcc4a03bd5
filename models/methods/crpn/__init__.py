"""CRPN, concept-regularised coding (Lu, Zhuang, Luo; AAAI 2024), for FER students; docs/methods.md §4."""
