"""Subject profiles: what calibration learned about one person, in one folder the live path can load.

``<profiles>/<subject>/``

* ``profile.json`` -- format version, subject, creation time, the montage and the base EEG student (name and
  sha256) it was made for, whether its data were synthetic, and ``selection``: which model calibration kept
  (``calibrated``, ``uncalibrated`` or ``baseline``), which per-subject model the calibrated one is
  (``student_head`` or ``band_power_ridge``) and the chance test's ``chance_p`` (:mod:`.selection`);
* ``baseline.npz`` -- the state of the per-subject feature normaliser after the resting baseline;
* ``bad_channels.json`` -- channels the signal check failed (label -> reason), kept out of the estimate;
* ``eeg_student.onnx`` + ``manifest.json`` -- the calibrated model, sha256-checked on load like the bundled one: the
  student with refitted heads (and its ``eeg_student.pt``), or the band-power ridge as a graph with the student's
  interface (:mod:`.linear_student`);
* ``calibration.xdf`` and ``report.json`` / ``report.md`` / ``report.png`` -- the recording and the before/after
  scores.

A profile made for another montage, another base model or another format version is refused with a message that
says which, because its normaliser and weights would silently mean something else. A profile may also come from
elsewhere (copied from another machine, downloaded), so :func:`load_profile` reads it as untrusted input: every file
it reads must lie inside the folder once links are resolved, be a regular file within its size cap and hold what
:func:`save_profile` writes (types, shapes, finite values), and the student must run on the live path's input; any
other profile is refused in one line (docs/THREAT_MODEL.md, "Calibration profiles").

A profile that loads is not always *used*: :func:`default_use` says when a run that names the subject should fall
back to the bundled student instead (the kept model is not the calibrated one, or it is not better than chance);
an explicit profile path (``profile = ...`` in a ``--config`` file) still uses it (docs/calibration.md).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PROFILE_VERSION", "Profile", "ProfileError", "default_profiles_dir", "default_use", "load_profile",
           "profile_dir", "save_profile"]

#: 2: ``selection`` (the kept model and the chance test) in profile.json; a version-1 profile was saved and used
#: whether or not it beat the bundled student or chance, so it is refused: calibrate again.
PROFILE_VERSION = 2
_SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

#: Size caps of what loading a profile reads, from what ``save_profile`` writes. Measured on a calibrated profile:
#: profile.json 553 B, manifest.json 1.2 kB, bad_channels.json 2 B (about 20 B per failed channel: under 6 kB for
#: a 256-channel headset), baseline.npz 5.3 kB (three float64 vectors of 192 features). 64 KiB leaves ten times the
#: largest and keeps any refusal far below a megabyte of memory.
_SMALL_CAP = 64 << 10
#: The fine-tuned student keeps the bundled student's architecture (only its heads are trained), so its ONNX graph
#: and its state dict are the bundled files' size, 0.99 MB each today. 16 MiB leaves room for a larger base student
#: (tests/calibration/test_calibration.py loads a calibrated profile, so outgrowing it fails there) and bounds what
#: is hashed and handed to onnxruntime.
_MODEL_CAP = 16 << 20
#: Files whose own name is shown in messages (a name read from the manifest is shown quoted).
_OWN_FILES = ("profile.json", "manifest.json", "baseline.npz", "bad_channels.json")
_META_FIELDS = {"subject": str, "created": str, "data": str, "montage": list, "base_model": dict, "selection": dict}
#: The calibrated model's families (:mod:`.subject_model`).
_MODELS = ("student_head", "band_power_ridge")
#: What :func:`save_profile` records when it is not told what calibration chose: an untested model, never used by
#: default.
UNTESTED = {"kept": "calibrated", "model": "student_head", "chance_p": None, "better_than_chance": False}
_JSON_TYPE = {str: "a string", list: "a list", dict: "an object"}
_NORM_KEYS = ("count", "mean", "var")
#: The features are log10 band power floored at 1e-12 (``core.bandpower.LOG_FLOOR``) of float32 samples, so they lie
#: within about [-12, 80]: a mean beyond +/-100 or a variance above 100^2 is no state of these features.
_LOG_POWER_BOUND = 100.0


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

    @property
    def selection(self) -> dict:
        """``kept``, ``model``, ``chance_p`` and ``better_than_chance`` (checked by :func:`load_profile`)."""
        return self.meta["selection"]


def default_use(profile: Profile) -> str | None:
    """None when a run that names ``profile``'s subject uses the profile; otherwise the one-line notice of why it
    falls back to the bundled EEG student.

    A profile is used by default only when calibration kept its calibrated model (it beat the uncalibrated student
    and the baseline estimator on the training blocks) and that model is better than chance
    (:data:`~.selection.CHANCE_LEVEL`). The notice says how to use it anyway: an explicit ``profile = <folder>``
    in a ``--config`` file.
    """
    sel, name = profile.selection, repr(profile.subject)
    p = "not tested" if sel["chance_p"] is None else f"p = {sel['chance_p']:.3g}"
    anyway = f'(profile = "{profile.folder}" in a --config file uses it anyway)'
    if sel["kept"] == "uncalibrated":
        return (f"calibration of {name} kept the uncalibrated student (no per-subject model beat it on the training "
                f"blocks): using the bundled EEG student {anyway}")
    if sel["kept"] == "baseline":
        return (f"calibration of {name} kept the baseline estimator (it beat the student and the per-subject models "
                f'on the training blocks; eeg_estimator = "baseline" in a --config file selects it): using the '
                f"bundled EEG student {anyway}")
    if not sel["better_than_chance"]:
        return (f"the calibrated model of {name} is not better than chance ({p}): the profile is not used by "
                f"default; using the bundled EEG student {anyway}")
    return None


def _base_model() -> dict:
    from affectstream.core.feature_norm import NORM_MEMORY_FRAMES
    from affectstream.models.deploy.manifest import EEG_STUDENT, load_manifest

    entry = load_manifest()["models"][EEG_STUDENT]
    return {"name": EEG_STUDENT, "sha256": entry["sha256"], "frames": int(entry["input"]["frames"]),
            "norm_memory": float(entry["input"].get("norm_memory", NORM_MEMORY_FRAMES))}


def save_profile(root: str | Path, subject: str, *, model=None, architecture: dict | None = None, linear=None,
                 norm, bad_channels: dict[str, str], synthetic: bool, montage: tuple[str, ...],
                 selection: dict | None = None) -> Path:
    """Write the profile's model, normaliser and metadata (the report and recording are added by the caller).

    The calibrated model is either ``model``, a student (``EEGTCN``, rebuilt from ``architecture``) with refitted
    heads, or ``linear``, the ``band_power_ridge`` :class:`~.subject_model.LinearFit`. ``selection`` is what
    calibration chose (:data:`UNTESTED` when None: such a profile is never used by default). The model files and
    manifest of an earlier calibration of the subject are replaced, not merged.
    """
    folder = profile_dir(root, subject)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("manifest.json", "eeg_student.onnx", "eeg_student.pt"):
        (folder / stale).unlink(missing_ok=True)
    base = _base_model()
    data = "synthetic" if synthetic else "real"
    fields = {"data": data, "task": "eeg_valence_arousal", "trained_on": f"calibration of {subject} ({data})",
              "outputs": {"valence_arousal": "valence_arousal"}, "base_model": base}
    if linear is not None:
        from affectstream.calibration.linear_student import export_linear_student

        export_linear_student(folder, linear.weights, linear.intercept, base["frames"],
                              norm_memory=base["norm_memory"], fields=fields)
    else:
        from affectstream.models.deploy.export import bundle_eeg_student

        bundle_eeg_student(
            model.cpu().eval(), folder, architecture=architecture, shared={"data": data},
            norm_memory=base["norm_memory"], onnx_fields={k: v for k, v in fields.items() if k != "data"},
            torch_fields={"task": "eeg_valence_arousal (torch)"},
            input_fields={"normalisation": "RunningFeatureNorm per subject, started from the profile's baseline"})
    np.savez(folder / "baseline.npz", **norm.state())
    (folder / "bad_channels.json").write_text(json.dumps(bad_channels, indent=1))
    (folder / "profile.json").write_text(json.dumps({
        "version": PROFILE_VERSION, "subject": subject, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "montage": list(montage), "base_model": base, "data": data, "selection": selection or UNTESTED}, indent=1))
    return folder


def load_profile(root: str | Path, subject: str) -> Profile:
    """The subject's profile after checking every file it is made of, and that it was made for this montage and this
    bundled student.

    Each file must lie inside the profile's folder once links are resolved, be a regular file within its size cap,
    and hold what ``save_profile`` writes (types, shapes, finite values, positive variances); the student must be a
    graph onnxruntime runs on the live path's input. Cheap checks come first, the student's trial run last.

    Raises
    ------
    ProfileError
        Missing, malformed, outside its folder, oversized, or made for another montage, model or format version
        (one line).
    """
    folder = profile_dir(root, subject)
    if not os.path.lexists(folder / "profile.json"):
        raise ProfileError(f"no profile for subject {subject!r} in {Path(root)} (run `affectstream calibrate "
                           f"--subject {subject}` first)")
    folder = folder.resolve()
    base = _base_model()
    meta = _checked_meta(folder, subject, base)
    student = _checked_manifest(folder, subject, base)
    norm_state = _checked_norm_state(folder, subject)
    bad = _read_json(folder, "bad_channels.json", subject)
    if not (isinstance(bad, dict) and all(isinstance(v, str) for v in bad.values())):
        raise _broken(subject, "bad_channels.json is not an object of channel -> reason strings")
    _try_student(student, subject, base["frames"])
    return Profile(folder, meta, norm_state, bad)


def _broken(subject: str, what: str) -> ProfileError:
    return ProfileError(f"profile {subject!r}: {what}; calibrate again")


def _brief(text: object, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters (for messages quoting a parser or onnxruntime)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _checked_path(folder: Path, name: str, cap: int, subject: str) -> Path:
    """``folder / name`` with links resolved, after checking it lies inside the (resolved) ``folder``, is a regular
    file (not a device, FIFO or folder: those could block or never end) and holds at most ``cap`` bytes."""
    shown = name if name in _OWN_FILES else repr(name[:100])  # a manifest's name is shown quoted and cut
    try:
        path = (folder / name).resolve(strict=True)
        status = path.stat()
    except FileNotFoundError:
        raise _broken(subject, f"{shown} is missing") from None
    except (OSError, RuntimeError, ValueError) as exc:  # a link loop (RuntimeError before Python 3.13), a NUL
        raise _broken(subject, f"{shown} cannot be opened ({_brief(exc)})") from None
    if not path.is_relative_to(folder):
        raise _broken(subject, f"{shown} lies outside the profile's folder ({_brief(path)})")
    if not stat.S_ISREG(status.st_mode):
        raise _broken(subject, f"{shown} is not a regular file")
    if status.st_size > cap:
        raise _broken(subject, f"{shown} is larger than {cap} bytes ({status.st_size})")
    return path


def _read_json(folder: Path, name: str, subject: str) -> object:
    path = _checked_path(folder, name, _SMALL_CAP, subject)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_SMALL_CAP + 1)  # the cap again: the file may have grown since it was checked
        if len(raw) > _SMALL_CAP:
            raise ValueError(f"larger than {_SMALL_CAP} bytes")
        return json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise _broken(subject, f"{name} is not readable JSON ({_brief(exc)})") from None


def _checked_meta(folder: Path, subject: str, base: dict) -> dict:
    """``profile.json``: its format version, its fields' types, then the montage and base student it was made for."""
    from affectstream.core.montage import MONTAGE_32

    meta = _read_json(folder, "profile.json", subject)
    if not isinstance(meta, dict):
        raise _broken(subject, "profile.json is not a JSON object")
    if meta.get("version") != PROFILE_VERSION:
        raise ProfileError(f"profile {subject!r} has format version {_brief(meta.get('version'), 40)}; this "
                           f"affectstream reads version {PROFILE_VERSION}: calibrate again")
    for key, kind in _META_FIELDS.items():
        if not isinstance(meta.get(key), kind):
            raise _broken(subject, f"profile.json: {key!r} is missing or not {_JSON_TYPE[kind]}")
    if meta["data"] not in ("synthetic", "real"):
        raise _broken(subject, f"profile.json: 'data' is {_brief(meta['data'], 40)!r}, not 'synthetic' or 'real'")
    _check_selection(meta["selection"], subject)
    if meta["montage"] != list(MONTAGE_32):
        raise ProfileError(f"profile {subject!r} was made for another montage ({len(meta['montage'])} "
                           "channels): calibrate again")
    if meta["base_model"].get("sha256") != base["sha256"]:
        raise ProfileError(f"profile {subject!r} was made for another version of the EEG student "
                           f"({_brief(meta['base_model'].get('sha256'), 12)}..., bundled now "
                           f"{base['sha256'][:12]}...): calibrate again")
    return meta


def _check_selection(sel: dict, subject: str) -> None:
    """``selection``: a kept model of :data:`~.selection.KEPT`, a model family, a chance p-value in (0, 1] or null,
    and whether it beat chance -- the fields :func:`default_use` decides by."""
    from affectstream.calibration.selection import CHANCE_LEVEL, KEPT

    p = sel.get("chance_p")
    checks = (("kept", sel.get("kept") in KEPT, f"one of {', '.join(KEPT)}"),
              ("model", sel.get("model") in _MODELS, f"one of {', '.join(_MODELS)}"),
              ("chance_p", p is None or (type(p) in (int, float) and 0 < p <= 1), "a p-value in (0, 1] or null"),
              ("better_than_chance", type(sel.get("better_than_chance")) is bool, "true or false"))
    for key, fine, wanted in checks:
        if not fine:
            raise _broken(subject, f"profile.json: selection {key!r} is {_brief(sel.get(key), 40)}, not {wanted}")
    if sel["better_than_chance"] != (p is not None and p <= CHANCE_LEVEL):
        raise _broken(subject, f"profile.json: selection's better_than_chance contradicts chance_p {p} (the level is "
                               f"{CHANCE_LEVEL})")


def _checked_manifest(folder: Path, subject: str, base: dict) -> Path:
    """The student's ONNX file, after checking the manifest: every file it names inside the folder and within
    :data:`_MODEL_CAP`, the student's input specification that of the bundled one, its sha256."""
    from affectstream.models.deploy.manifest import EEG_STUDENT, ModelIntegrityError, verified_path

    manifest = _read_json(folder, "manifest.json", subject)
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or not isinstance(models, dict) or EEG_STUDENT not in models:
        raise _broken(subject, f"manifest.json is not an object whose 'models' object holds {EEG_STUDENT!r}")
    for name, entry in models.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)):
            raise _broken(subject, f"manifest.json: the entry {_brief(name, 40)!r} names no file")
        _checked_path(folder, entry["file"], _MODEL_CAP, subject)
    spec = models[EEG_STUDENT].get("input")
    spec = spec if isinstance(spec, dict) else {}
    frames, memory = spec.get("frames"), spec.get("norm_memory", base["norm_memory"])
    if type(frames) is not int or frames != base["frames"]:
        raise _broken(subject, f"manifest.json: the student's input 'frames' is {_brief(frames, 40)}, the bundled "
                               f"student's is {base['frames']}")
    if type(memory) not in (int, float) or not (math.isfinite(memory) and memory > 0):
        raise _broken(subject, f"manifest.json: the student's 'norm_memory' is {_brief(memory, 40)}, not a positive "
                               "number of frames")
    try:
        path, _ = verified_path(EEG_STUDENT, folder / "manifest.json")
    except (ModelIntegrityError, OSError) as exc:  # OSError: the student cannot be read to hash it
        raise ProfileError(f"profile {subject!r}: {_brief(exc, 1000)}") from None
    return path


def _checked_norm_state(folder: Path, subject: str) -> dict[str, np.ndarray]:
    """``baseline.npz``: exactly the normaliser's three vectors of :data:`N_FEATURES` numbers, with finite values, a
    non-negative count, means and variances that log10 band power can have, and a positive variance wherever two
    or more frames were absorbed (a NaN or negative one silenced the feature: the valence came out constant)."""
    from affectstream.core.feature_layout import N_FEATURES

    members = _npz_members(_checked_path(folder, "baseline.npz", _SMALL_CAP, subject), subject)
    state = {key: _npy_vector(members[f"{key}.npy"], key, N_FEATURES, subject) for key in _NORM_KEYS}
    count, mean, var = (state[key] for key in _NORM_KEYS)
    if not (np.isfinite(count).all() and (count >= 0).all()):
        raise _broken(subject, "baseline.npz: 'count' has values that are not finite and non-negative")
    if not (np.isfinite(mean).all() and (np.abs(mean) <= _LOG_POWER_BOUND).all()):
        raise _broken(subject, f"baseline.npz: 'mean' has values that are not finite within +/-{_LOG_POWER_BOUND:g}")
    if not (np.isfinite(var).all() and (var >= 0).all() and (var <= _LOG_POWER_BOUND ** 2).all()
            and (var[count >= 2] > 0).all()):
        raise _broken(subject, f"baseline.npz: 'var' has values that are not finite, positive (where a feature was "
                               f"seen twice or more) and at most {_LOG_POWER_BOUND ** 2:g}")
    return state


def _npz_members(path: Path, subject: str) -> dict[str, bytes]:
    """The members of an npz archive (a zip of .npy files), after checking their names; each is read up to the cap,
    since the sizes a zip declares can lie."""
    expected = sorted(f"{key}.npy" for key in _NORM_KEYS)
    try:
        with zipfile.ZipFile(path) as z:
            names = sorted(z.namelist())
            members = {}
            for name in names if names == expected else ():
                with z.open(name) as member:
                    members[name] = member.read(_SMALL_CAP + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise _broken(subject, f"baseline.npz is not a readable npz archive ({_brief(exc)})") from None
    if names != expected:
        raise _broken(subject, f"baseline.npz holds {_brief(names, 80)}, expected count, mean, var")
    return members


def _npy_vector(data: bytes, key: str, n: int, subject: str) -> np.ndarray:
    """One .npy member as float64, after checking from its header (before anything is allocated) that it holds
    ``n`` real numbers; never unpickles."""
    from numpy.lib import format as npy

    try:
        fp = io.BytesIO(data)
        version = npy.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"format version {version}")
        shape, _, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(fp)
    except (ValueError, EOFError) as exc:
        raise _broken(subject, f"baseline.npz: {key!r} is not an .npy array ({_brief(exc)})") from None
    if shape != (n,):
        raise _broken(subject, f"baseline.npz: {key!r} has shape {_brief(shape, 40)}, expected ({n},)")
    if dtype.kind not in "fiu":
        raise _broken(subject, f"baseline.npz: {key!r} holds {_brief(dtype, 40)}, not real numbers")
    try:
        return npy.read_array(io.BytesIO(data), allow_pickle=False).astype(np.float64)
    except (ValueError, EOFError) as exc:  # fewer values than the header says
        raise _broken(subject, f"baseline.npz: {key!r} is not an .npy array ({_brief(exc)})") from None


def _try_student(path: Path, subject: str, frames: int) -> None:
    """Open the student as the live path does and run it once on two zero frames: a graph that does not parse, or
    that does not map (batch, N_FEATURES, frames) floats to finite (batch, 2), is refused here instead of failing on
    the first hop (where the session would fall back to the baseline after its start said "student")."""
    from affectstream.core.feature_layout import N_FEATURES
    from affectstream.models.deploy.runtime import make_session

    wanted = f"it must map (batch, {N_FEATURES}, {frames}) floats to finite (batch, 2)"
    try:
        session = make_session(path, threads=1)
        inputs = session.get_inputs()
        takes = [(i.shape, i.type) for i in inputs]
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [N_FEATURES, frames] or inputs[0].type != "tensor(float)":
            problem = f"it takes {_brief(takes, 80)}"
        else:
            out = session.run(None, {inputs[0].name: np.zeros((2, N_FEATURES, frames), np.float32)})[0]
            fine = np.shape(out) == (2, 2) and np.isfinite(out).all()
            problem = None if fine else f"on zero frames it gave shape {_brief(np.shape(out), 40)} or non-finite values"
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        problem = _brief(exc)
    if problem is not None:
        raise _broken(subject, f"{path.name} is not an EEG student that onnxruntime can run ({wanted}; {problem})")
