"""Subject profiles: what calibration learned about one person, in one folder the live path can load.

``<profiles>/<subject>/``

* ``profile.json`` -- format version, subject, creation time, the montage and the base EEG student (name and
  sha256) it was made for, whether its data were synthetic;
* ``baseline.npz`` -- the state of the per-subject feature normaliser after the resting baseline;
* ``bad_channels.json`` -- channels the signal check failed (label -> reason), kept out of the estimate;
* ``eeg_student.onnx`` + ``eeg_student.pt`` + ``manifest.json`` -- the fine-tuned student, sha256-checked on load like
  the bundled one;
* ``calibration.xdf`` and ``report.json`` / ``report.md`` / ``report.png`` -- the recording and the before/after
  scores.

A profile made for another montage, another base model or another format version is refused with a message that
says which, because its normaliser and weights would silently mean something else.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PROFILE_VERSION", "Profile", "ProfileError", "default_profiles_dir", "load_profile", "profile_dir",
           "save_profile"]

PROFILE_VERSION = 1
_SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ProfileError(ValueError):
    """A profile that is missing, malformed or made for something else (one line, shown to the user)."""


def default_profiles_dir() -> Path:
    """``$AFFECTSTREAM_PROFILES``, else the per-user data folder (``$XDG_DATA_HOME/affectstream/profiles``)."""
    if os.environ.get("AFFECTSTREAM_PROFILES"):
        return Path(os.environ["AFFECTSTREAM_PROFILES"])
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "affectstream" / "profiles"


def profile_dir(root: str | Path, subject: str) -> Path:
    if not _SUBJECT_ID.match(subject):
        raise ProfileError(f"subject id {subject!r} must be letters, digits, '-' or '_' (at most 64)")
    return Path(root) / subject


@dataclass(frozen=True)
class Profile:
    folder: Path
    meta: dict
    norm_state: dict[str, np.ndarray]
    bad_channels: dict[str, str]

    @property
    def subject(self) -> str:
        return self.meta["subject"]


def _base_model() -> dict:
    from affectstream.core.feature_norm import NORM_MEMORY_FRAMES
    from affectstream.models.deploy.manifest import EEG_STUDENT, load_manifest

    entry = load_manifest()["models"][EEG_STUDENT]
    return {"name": EEG_STUDENT, "sha256": entry["sha256"], "frames": int(entry["input"]["frames"]),
            "norm_memory": float(entry["input"].get("norm_memory", NORM_MEMORY_FRAMES))}


def save_profile(root: str | Path, subject: str, *, model, architecture: dict, norm, bad_channels: dict[str, str],
                 synthetic: bool, montage: tuple[str, ...]) -> Path:
    """Write the profile's model, normaliser and metadata (the report and recording are added by the caller)."""
    from affectstream.models.deploy.export import bundle_eeg_student

    folder = profile_dir(root, subject)
    folder.mkdir(parents=True, exist_ok=True)
    base = _base_model()
    data = "synthetic" if synthetic else "real"
    bundle_eeg_student(
        model.cpu().eval(), folder, architecture=architecture, shared={"data": data}, norm_memory=base["norm_memory"],
        onnx_fields={"task": "eeg_valence_arousal", "trained_on": f"calibration of {subject} ({data})",
                     "outputs": {"valence_arousal": "valence_arousal"}, "base_model": base},
        torch_fields={"task": "eeg_valence_arousal (torch)"},
        input_fields={"normalisation": "RunningFeatureNorm per subject, started from the profile's baseline"})
    np.savez(folder / "baseline.npz", **norm.state())
    (folder / "bad_channels.json").write_text(json.dumps(bad_channels, indent=1))
    (folder / "profile.json").write_text(json.dumps({
        "version": PROFILE_VERSION, "subject": subject, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "montage": list(montage), "base_model": base, "data": data}, indent=1))
    return folder


def load_profile(root: str | Path, subject: str) -> Profile:
    """The subject's profile after checking it was made for this montage and this bundled student.

    Raises
    ------
    ProfileError
        Missing or malformed, or made for another montage, model or format version.
    """
    from affectstream.core.montage import MONTAGE_32
    from affectstream.models.deploy.manifest import EEG_STUDENT, ModelIntegrityError, verified_path

    folder = profile_dir(root, subject)
    meta_path = folder / "profile.json"
    if not meta_path.is_file():
        raise ProfileError(f"no profile for subject {subject!r} in {Path(root)} (run `affectstream calibrate "
                           f"--subject {subject}` first)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{meta_path} is not readable JSON: {exc}") from None
    if meta.get("version") != PROFILE_VERSION:
        raise ProfileError(f"profile {subject!r} has format version {meta.get('version')!r}; this affectstream reads "
                           f"version {PROFILE_VERSION}: calibrate again")
    if list(meta.get("montage", [])) != list(MONTAGE_32):
        raise ProfileError(f"profile {subject!r} was made for another montage ({len(meta.get('montage', []))} "
                           "channels): calibrate again")
    base = _base_model()
    if meta.get("base_model", {}).get("sha256") != base["sha256"]:
        raise ProfileError(f"profile {subject!r} was made for another version of the EEG student "
                           f"({str(meta.get('base_model', {}).get('sha256'))[:12]}..., bundled now "
                           f"{base['sha256'][:12]}...): calibrate again")
    try:
        verified_path(EEG_STUDENT, folder / "manifest.json")
    except ModelIntegrityError as exc:
        raise ProfileError(f"profile {subject!r}: {exc}") from None
    with np.load(folder / "baseline.npz", allow_pickle=False) as z:
        norm_state = {k: z[k] for k in z.files}
    bad = json.loads((folder / "bad_channels.json").read_text())
    return Profile(folder, meta, norm_state, bad)
