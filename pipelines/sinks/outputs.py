"""Where hop results go: the ``Affect`` LSL outlet and JSONL files.

The outlet follows the contract in docs/architecture.md (name ``affectstream``, type ``Affect``, float32, a
``source_id`` of its own per instance, :func:`affect_source_id`) so any LSL tool - LabRecorder included - can
record or plot the estimates. Each output sample is stamped with the stream time of the EEG window it describes, not
with the time it was computed, so a recording lines the estimate up with the data that produced it.

The stream is declared irregular (nominal rate 0), with the hop in ``desc/hop_s``: estimates pause while the EEG is
lost, and a reader that trusts a nominal rate - pyxdf's default load, which fits a regular stream's stamps to a
line - moved a recording's estimates by seconds across such a pause (issue 20, item 4).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO

import numpy as np

from affectstream.pipelines.engine import HopResult

#: Channels of the Affect outlet, in order.
AFFECT_CHANNELS: tuple[str, ...] = (
    "valence", "arousal", "valence_eeg", "valence_face", "confidence", "arousal_eeg", "arousal_face", "quality_eeg",
)
#: The prefix of every Affect ``source_id`` (and the whole id where no input stream names one, as in a replay).
AFFECT_SOURCE_ID = "affectstream-affect"


def affect_source_id(eeg_source_id: str, subject: str | None = None, taken: Collection[str] = ()) -> str:
    """The ``source_id`` of one instance's Affect outlet: ``affectstream-affect-<eeg source_id>[-sub-<subject>]``.

    Derived from the input, not random, so that a restarted session announces the same id again (LabRecorder then
    re-attaches it as the same stream); ``-2``, ``-3``... is appended while an Affect stream already announced on
    the machine (``taken``) holds the id, so that two instances on one headset publish two streams. Two instances
    started within the same lookup (about a second) can still both take the first free id.
    """
    base = f"{AFFECT_SOURCE_ID}-{eeg_source_id}" + (f"-sub-{subject}" if subject else "")
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


class AffectOutlet:
    """The ``Affect`` LSL outlet (NaN where a value is unavailable, as LSL has no null).

    Parameters
    ----------
    source_id : str
        See :func:`affect_source_id`.
    hop_s : float
        Seconds between estimates (``desc/hop_s``; the nominal rate is 0, see the module).
    synthetic : bool
        The input is simulated (``desc/synthetic``).
    desc : mapping | None
        Further ``desc`` fields (what the EEG model was trained on, the input's ``source_id``, the subject).
    """

    def __init__(self, source_id: str = AFFECT_SOURCE_ID, hop_s: float = 0.25, synthetic: bool = False,
                 desc: Mapping[str, str] | None = None) -> None:
        from mne_lsl.lsl import StreamInfo, StreamOutlet

        info = StreamInfo("affectstream", "Affect", len(AFFECT_CHANNELS), 0.0, "float32", source_id)
        info.set_channel_names(list(AFFECT_CHANNELS))
        info.set_channel_types(["misc"] * len(AFFECT_CHANNELS))
        fields = {"synthetic": "true" if synthetic else "false", "generator": "affectstream", "hop_s": f"{hop_s:g}",
                  **(desc or {})}
        for key, value in fields.items():
            info.desc.append_child_value(key, value)
        self.source_id = source_id
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
