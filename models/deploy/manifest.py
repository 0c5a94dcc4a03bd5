"""The manifest of bundled models: ``models/weights/manifest.json``.

Each entry names a file, its sha256, its input specification, what it was trained on (real or synthetic, stated
plainly) and its measured metrics. A model is only ever loaded through :func:`verified_path`, which refuses a file
whose hash does not match: a swapped or corrupted model file must never run silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from affectstream.models.deploy.runtime import sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"

#: Manifest name of the EEG student's streaming ONNX graph (what the live path runs).
EEG_STUDENT = "eeg_student"
#: Manifest name of the EEG student's torch weights (weights-only state dict), used for gradient saliency.
EEG_STUDENT_TORCH = "eeg_student_torch"


class ModelIntegrityError(RuntimeError):
    """A model file is missing, or its sha256 differs from the manifest."""


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    """The manifest as a dict ``{"models": {name: entry}}``; empty when no manifest exists."""
    path = path or MANIFEST
    if not path.exists():
        return {"models": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelIntegrityError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelIntegrityError(f"{path} has no 'models' table")
    return data


def save_entry(name: str, entry: dict[str, Any], path: Path | None = None) -> None:
    """Add or replace one entry; the sha256 of its file is computed here, never copied from elsewhere."""
    path = path or MANIFEST
    data = load_manifest(path)
    entry = dict(entry)
    entry["sha256"] = sha256_file(path.parent / entry["file"])
    data["models"][name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def verified_path(name: str, path: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The file of model ``name`` and its entry, after checking its sha256.

    Raises
    ------
    ModelIntegrityError
        When the model is not in the manifest, its file is missing, or its hash differs.
    """
    path = path or MANIFEST
    entry = load_manifest(path)["models"].get(name)
    if entry is None:
        raise ModelIntegrityError(f"no model named {name!r} in {path}")
    if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)):
        # A hand-edited or damaged entry must be refused like a bad hash, not crash the caller with a KeyError.
        raise ModelIntegrityError(f"the entry of model {name!r} in {path} lacks a file name or a sha256")
    file = path.parent / entry["file"]
    if not file.is_file():
        raise ModelIntegrityError(f"model file {file} listed in {path} is missing")
    digest = sha256_file(file)
    if digest != entry.get("sha256"):
        raise ModelIntegrityError(
            f"model file {file} does not match its manifest entry (sha256 {digest[:12]}... expected "
            f"{str(entry.get('sha256'))[:12]}...): refusing to load it; re-export or restore the file"
        )
    return file, entry
