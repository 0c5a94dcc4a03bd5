"""The closing line counts faces as the JSONL does (hops with a face) and says what the face path dropped."""

from __future__ import annotations

from types import SimpleNamespace

from affectstream.app.cli.common import face_summary


def test_the_face_clause_counts_hops_and_reports_drops_and_lag():
    summary = SimpleNamespace(hops=118, face_found_hops=47, face_found_ratio=0.41,
                              face={"frames_processed": 300, "dropped": 238, "lag_p50_ms": 22, "lag_p99_ms": 119})
    assert face_summary(summary) == ("; face found in 47 of 118 hops (41 % of 300 frames processed, 238 dropped; "
                                     "face lag p50 22 ms, p99 119 ms)")
