"""Where hop results go: the ``Affect`` LSL outlet and JSONL files.

The outlet follows the contract in docs/architecture.md (name ``affectstream``, type ``Affect``, float32, 4 Hz nominal,
a stable ``source_id``) so any LSL tool - LabRecorder included - can record or plot the estimates. Each output
sample is stamped with the stream time of the EEG window it describes, not with the time it was computed, so a
recording lines the estimate up with the data that produced it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO

import numpy as np

from affectstream.pipelines.engine import HopResult

#: Channels of the Affect outlet, in order.
AFFECT_CHANNELS: tuple[str, ...] = (
    "valence", "arousal", "valence_eeg", "valence_face", "confidence", "arousal_eeg", "arousal_face", "quality_eeg",
)
AFFECT_SOURCE_ID = "affectstream-affect"


class AffectOutlet:
    """The ``Affect`` LSL outlet (NaN where a value is unavailable, as LSL has no null)."""

    def __init__(self, source_id: str = AFFECT_SOURCE_ID, hop_s: float = 0.25, synthetic: bool = False) -> None:
        from mne_lsl.lsl import StreamInfo, StreamOutlet

        info = StreamInfo("affectstream", "Affect", len(AFFECT_CHANNELS), 1.0 / hop_s, "float32", source_id)
        info.set_channel_names(list(AFFECT_CHANNELS))
        info.set_channel_types(["misc"] * len(AFFECT_CHANNELS))
        info.desc.append_child_value("synthetic", "true" if synthetic else "false")
        info.desc.append_child_value("generator", "affectstream")
        self._outlet = StreamOutlet(info, chunk_size=1)

    def push(self, result: HopResult) -> None:
        values = (result.valence, result.arousal, result.eeg.valence, result.face.valence, result.confidence,
                  result.eeg.arousal, result.face.arousal, result.quality_eeg)
        self._outlet.push_sample(np.asarray(values, dtype=np.float32), timestamp=result.t)

    def close(self) -> None:
        del self._outlet


class JsonlSink:
    """One JSON object per hop, flushed per line so a killed run keeps everything written so far."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = self.path.open("w", encoding="utf-8")
        self.lines = 0

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")
        self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        self._fh.close()


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        value = obj.item()
        return None if isinstance(value, float) and not math.isfinite(value) else value
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
