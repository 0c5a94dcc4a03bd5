"""How the EEG estimators fare on headsets with fewer channels (issue 17): held-out sessions of the planted benchmark
(SYNTHETIC) rendered to headset layouts, replayed through the live pipeline, scored against the planted truth, and a
fair comparison of EEG-student recipes over seeds. ``affectstream channel-subsets`` writes the report
(``models/reports/channel_subsets.json`` and ``.md``).
"""
