"""Model files and training checkpoints: payload, atomic write, checksum, verified read.

A model file (``model.pt``) is one ``torch.save`` of plain data and tensors only (read back with
``torch.load(weights_only=True)``, so loading never executes code): the format version, the
config, the estimator's parameters, the fitted metadata, the weights, the distilled student when there is
one (format version 3) and a SHA-256 checksum.
A training checkpoint (``checkpoint.pt``) is a model file with the trainer's state added.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from .calibration import IntervalCalibrator
from .config import FORMAT_VERSION, LEGACY_VALUES, TSDiffConfig
from .distillation import DistilledStudent
from .errors import CheckpointError, ModelFileError, SaveError
from .frames import FrameSpec, SeriesData
from .model import TSDiffModel
from .training import Trainer, TrainResult

if TYPE_CHECKING:
    from .estimator import TSDiff

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"


def model_payload(est: "TSDiff", state_dict: dict[str, torch.Tensor], train_result: TrainResult) -> dict[str, Any]:
    """The model file's contents (plain data and tensors) for a fitted estimator and the given weights."""
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()}
    payload = {
        "format_version": FORMAT_VERSION,
        "kind": "tsdiff.TSDiff",
        "config": est.config_.to_dict(),
        "params": params,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "fitted": {
            "freq": est.freq_,
            "spec": {k: getattr(est.spec_, k) for k in ("id_col", "timestamp_col", "target_col",
                                                         "freq", "tz", "wide")},
            "known_covariates": list(est.known_covariates_),
            "past_covariates": list(est.past_covariates_),
            "static_vocab": [list(v) for v in est.static_vocab_],
            "static_real_cols": int(est.static_real_cols_),
            "static_categorical": list(est.static_categorical_),
            "static_real_names": list(est.static_real_names_),
            "static_codes": None if est.static_codes_ is None else torch.from_numpy(est.static_codes_),
            "static_reals": None if est.static_reals_ is None else torch.from_numpy(est.static_reals_),
            "series": [_series_to_plain(s) for s in est.series_],
            "calibration": (None if getattr(est, "calibrator_", None) is None
                            else est.calibrator_.to_dict()),
            "scale_floors": _optional_tensor(est.scale_floors_),
            "nonnegative": _optional_tensor(est.nonnegative_),
            "static_real_mean": _optional_tensor(est.static_real_mean_),
            "static_real_std": _optional_tensor(est.static_real_std_),
            "train_result": {"steps": train_result.steps, "best_step": train_result.best_step,
                             "best_val_loss": float(train_result.best_val_loss),
                             "stopped_reason": train_result.stopped_reason,
                             "elapsed": float(train_result.elapsed)},
        },
    }
    student = getattr(est, "student_", None)
    if student is not None:  # format version 3
        payload["student"] = student.to_payload()
    return payload


def save_model(est: "TSDiff", directory: Path) -> Path:
    """Write ``model.pt`` (atomically, with its checksum) and ``config.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = model_payload(est, est.model_.state_dict(), est.train_result_)
    target = directory / MODEL_FILE
    _write_model_file(payload, target)
    _write_atomic(directory / "config.json", (json.dumps(est.config_.to_dict(), indent=2) + "\n").encode())
    return target


def read_model(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """The model file at ``path`` (a directory or its ``model.pt``) and its verified payload.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted or foreign file, or a newer format version.
    """
    p = Path(path)
    file = p / MODEL_FILE if p.is_dir() else p
    if not file.exists():
        raise ModelFileError(f"no tsdiff model at {str(path)!r} (expected a directory holding {MODEL_FILE})")
    return file, _read_model_file(file)


@contextlib.contextmanager
def damaged_file_errors(file: Path) -> Iterator[None]:
    """Turn the errors of reading a payload's contents into :class:`~tsdiff.errors.ModelFileError`."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{str(file)!r} is a damaged tsdiff model file: {type(exc).__name__}: "
                             f"{str(exc)[:200]}") from None


def saved_params(payload: dict[str, Any], device: str) -> dict[str, Any]:
    """The constructor parameters saved in ``payload`` (format version 1 gets its legacy values), on ``device``."""
    params = dict(payload["params"])
    params["device"] = device
    if "nonnegative" not in payload["fitted"]:  # format version 1: the inputs of that version, no clipping
        params.update(LEGACY_VALUES)  # the TSDiff parameters of the same names
        params["nonnegative"] = False
    return params


def restore_fitted(est: "TSDiff", payload: dict[str, Any]) -> None:
    """Set the fitted attributes of ``est`` (whose ``device_`` is set) from a model file's payload."""
    fitted = payload["fitted"]
    cfg = TSDiffConfig.from_dict(payload["config"])
    est.config_ = cfg
    with torch.random.fork_rng(devices=[]):
        model = TSDiffModel(cfg)
    model.load_state_dict(payload["state_dict"])
    est.model_ = model.to(est.device_).eval()
    est.freq_ = fitted["freq"]
    est.spec_ = FrameSpec(**fitted["spec"])
    est.known_covariates_ = list(fitted["known_covariates"])
    est.past_covariates_ = list(fitted["past_covariates"])
    est.static_vocab_ = [list(v) for v in fitted["static_vocab"]]
    est.static_real_cols_ = int(fitted["static_real_cols"])
    est.static_categorical_ = list(fitted["static_categorical"])
    est.static_real_names_ = list(fitted["static_real_names"])
    est.static_codes_ = None if fitted["static_codes"] is None else fitted["static_codes"].numpy()
    est.static_reals_ = None if fitted["static_reals"] is None else fitted["static_reals"].numpy()
    est.series_ = [_series_from_plain(d) for d in fitted["series"]]
    est.item_ids_ = [s.item_id for s in est.series_]
    est.train_result_ = TrainResult(**fitted["train_result"])
    est.calibrator_ = IntervalCalibrator.from_dict(fitted.get("calibration"))
    est.scale_floors_ = _optional_array(fitted.get("scale_floors"))
    est.nonnegative_ = _optional_array(fitted.get("nonnegative"))
    est.static_real_mean_ = _optional_array(fitted.get("static_real_mean"))
    est.static_real_std_ = _optional_array(fitted.get("static_real_std"))
    student = payload.get("student")  # format version 3; absent from older files and from models without one
    est.student_ = (None if student is None else
                    DistilledStudent.from_payload(student, cfg, model.seq_channels, est.device_))


def _fingerprint(cfg: TSDiffConfig, validation: Any, series: Sequence[SeriesData],
                 static_cat: Optional[np.ndarray], static_real: Optional[np.ndarray]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the config (but ``max_time``, a stop) and a data hash."""
    import hashlib

    h = hashlib.sha256()
    for s in series:
        h.update(repr((s.item_id, pd.Timestamp(s.start).isoformat(), len(s))).encode())
        for arr in (s.target, s.known_covariates, s.past_covariates):
            if arr is not None:
                h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    for arr in (static_cat, static_real):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    config = {k: v for k, v in cfg.to_dict().items() if k != "max_time"}
    return {"config": json.loads(json.dumps(config, default=str)), "validation": validation,
            "data": h.hexdigest(), "n_series": len(series)}


class _Checkpointer:
    """Writes and restores :data:`CHECKPOINT_FILE` for :meth:`TSDiff.fit` (one per fit call)."""

    def __init__(self, est: "TSDiff", directory: Path, train_rng: np.random.Generator, dist: Any,
                 fingerprint: dict[str, Any]) -> None:
        self.est, self.directory, self.train_rng, self.dist = est, directory, train_rng, dist
        self.fingerprint = fingerprint
        self.file = directory / CHECKPOINT_FILE

    def write(self, trainer: Trainer, step: int) -> None:
        """``Trainer.checkpoint_fn``: gather every rank's random streams, rank 0 writes the file."""
        from .distributed import all_gather_object

        mine = dict(trainer.rng_state(), numpy=self.train_rng.bit_generator.state)
        ranks = all_gather_object(mine, self.dist)  # collective: every rank calls write at the same step
        if not self.dist.is_main:
            return
        state = trainer.state_dict(rng_state={"ranks": ranks})
        weights = state["best_state"] if state["best_state"] is not None else state["ema"]
        result = TrainResult(steps=step, best_step=trainer.result.best_step,
                             best_val_loss=trainer.result.best_val_loss, stopped_reason="checkpoint",
                             elapsed=state["elapsed"], world_size=self.dist.world_size)
        payload = model_payload(self.est, weights, result)
        payload["checkpoint"] = {"fingerprint": self.fingerprint, "world_size": int(self.dist.world_size),
                                 "trainer": state}
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_model_file(payload, self.file)
        logger.info("step %d: checkpoint written to %s", step, self.file)

    def restore(self, trainer: Trainer) -> bool:
        """Load the checkpoint into ``trainer`` and the window sampler; False when there is none."""
        if not self.file.exists():
            logger.info("resume: no checkpoint in %s yet, training from the start", self.directory)
            return False
        payload = _read_model_file(self.file)
        ck = payload.get("checkpoint")
        if not isinstance(ck, dict):
            raise CheckpointError(f"{str(self.file)!r} is a model file, not a training checkpoint; "
                                  "resume needs a checkpoint written by fit(checkpoint_dir=...)")
        theirs, ours = ck["fingerprint"], self.fingerprint
        if theirs["config"] != ours["config"] or theirs["validation"] != ours["validation"]:
            keys = sorted(k for k in set(theirs["config"]) | set(ours["config"])
                          if theirs["config"].get(k) != ours["config"].get(k))
            diff = ", ".join(f"{k}: checkpoint {theirs['config'].get(k)!r} vs now {ours['config'].get(k)!r}"
                             for k in keys[:6]) or f"validation: {theirs['validation']} vs {ours['validation']}"
            raise CheckpointError(f"the checkpoint {str(self.file)!r} was written with another config ({diff}); "
                                  "use the same parameters to resume, or another checkpoint_dir to start afresh")
        if theirs["data"] != ours["data"]:
            raise CheckpointError(f"the checkpoint {str(self.file)!r} was written for other data "
                                  f"({theirs['n_series']} series then, {ours['n_series']} now, or different "
                                  "values); resume with the same data, or use another checkpoint_dir")
        if int(ck["world_size"]) != self.dist.world_size:
            raise CheckpointError(f"the checkpoint {str(self.file)!r} was written by {ck['world_size']} "
                                  f"processes but {self.dist.world_size} are resuming it; every process's "
                                  "random streams are in it: resume with the same number of processes")
        state = dict(ck["trainer"])
        mine = state["rng"]["ranks"][self.dist.rank]
        state["rng"] = {"generator": mine["generator"], "global": mine["global"]}
        trainer.load_state_dict(state)
        self.train_rng.bit_generator.state = mine["numpy"]
        logger.info("resumed from %s at step %d", self.file, trainer.step)
        return True


def _write_atomic(target: Path, data: Optional[bytes] = None, payload: Optional[dict[str, Any]] = None) -> None:
    """Write ``data`` (or ``torch.save(payload)``) to ``target`` atomically: temp file, fsync, ``os.replace``.

    A failed write (full disk, no permission ...) raises :class:`~tsdiff.errors.SaveError`
    naming the file and the cause; the temp file is removed and the previous ``target`` is left as it was.
    """
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".tmp-", dir=directory)
    except OSError as exc:
        raise _save_error(target, exc) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if payload is not None:
                torch.save(payload, fh)
            else:
                fh.write(data or b"")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) or isinstance(exc.__cause__, OSError) or "No space left" in str(exc):
            raise _save_error(target, exc) from exc
        raise


def _save_error(target: Path, exc: BaseException) -> SaveError:
    import errno as errno_mod

    os_exc = exc if isinstance(exc, OSError) else exc.__cause__ if isinstance(exc.__cause__, OSError) else None
    code = getattr(os_exc, "errno", None)
    if code is None and "No space left" in str(exc):
        code = errno_mod.ENOSPC
    cause = (os.strerror(code) if code else str(exc)) + (f" [{errno_mod.errorcode.get(code, code)}]" if code else "")
    hint = " Free some disk space or write somewhere else." if code == errno_mod.ENOSPC else ""
    err = SaveError(f"could not write {str(target)!r}: {cause}. Nothing was replaced: the previous file there, "
                    f"if any, is intact.{hint}")
    err.errno = code
    return err


def _write_model_file(payload: dict[str, Any], target: Path) -> None:
    """Add the checksum to ``payload`` and write it atomically to ``target``."""
    payload["checksum"] = _checksum(payload)
    _write_atomic(target, payload=payload)


def _read_model_file(file: Path) -> dict[str, Any]:
    """Read and verify a file written by :func:`_write_model_file` (``weights_only=True``, checksum, version)."""
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, unsafe globals ...
        # torch's own message suggests weights_only=False, which would run code from the file: not shown.
        raise ModelFileError(f"{str(file)!r} is not a readable tsdiff model file (truncated, corrupted, "
                             f"or not written by tsdiff; {type(exc).__name__}). Nothing in it was "
                             "executed: tsdiff reads model files with torch.load(weights_only=True)") from None
    if not isinstance(payload, dict) or payload.get("kind") != "tsdiff.TSDiff":
        raise ModelFileError(f"{str(file)!r} is not a tsdiff model file")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{str(file)!r} has format version {version!r}; this tsdiff reads versions up to "
                             f"{FORMAT_VERSION}: upgrade tsdiff to load it")
    if payload.get("checksum") != _checksum(payload):
        raise ModelFileError(f"{str(file)!r} is corrupted: its checksum does not match its contents")
    return payload


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 over the config, parameters, fitted metadata and every weight tensor's bytes.

    Detects corruption that the zip container does not (torch does not verify CRCs on load).
    """
    import hashlib

    h = hashlib.sha256()
    meta = {k: payload.get(k) for k in ("format_version", "kind", "config", "params")}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    fitted = payload.get("fitted") or {}
    plain = {k: v for k, v in fitted.items() if k != "series" and not isinstance(v, torch.Tensor)}
    h.update(json.dumps(plain, sort_keys=True, default=str).encode())
    tensors = [(f"w.{k}", v) for k, v in sorted((payload.get("state_dict") or {}).items())]
    tensors += [(f"f.{k}", v) for k, v in sorted(fitted.items()) if isinstance(v, torch.Tensor)]
    for i, ser in enumerate(fitted.get("series") or []):
        h.update(repr((ser.get("item_id"), ser.get("start"))).encode())
        tensors += [(f"s{i}.{k}", ser[k]) for k in ("target", "known_covariates", "past_covariates")
                    if isinstance(ser.get(k), torch.Tensor)]
    for name, t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    if "checkpoint" in payload:  # training state of a checkpoint file (absent from model files)
        _hash_nested(h, "c", payload["checkpoint"])
    if "student" in payload:  # the distilled student (format version 3; absent from older files)
        _hash_nested(h, "d", payload["student"])
    return h.hexdigest()


def _hash_nested(h: Any, name: str, obj: Any) -> None:
    """Feed nested dicts/lists of tensors and plain values into the hash ``h``, keys sorted."""
    if isinstance(obj, torch.Tensor):
        h.update(f"{name}:{obj.dtype}:{tuple(obj.shape)}".encode())
        h.update(obj.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            _hash_nested(h, f"{name}.{k}", obj[k])
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _hash_nested(h, f"{name}[{i}]", v)
    else:
        h.update(f"{name}={obj!r}".encode())


def _optional_tensor(a: Optional[np.ndarray]) -> Optional[torch.Tensor]:
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def _optional_array(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.numpy()


def _series_to_plain(s: SeriesData) -> dict[str, Any]:
    return {
        "item_id": s.item_id if isinstance(s.item_id, (str, int)) else str(s.item_id),
        "start": s.start.isoformat(),
        "target": torch.from_numpy(np.ascontiguousarray(s.target, dtype=np.float32)),
        "known_covariates": None if s.known_covariates is None else torch.from_numpy(
            np.ascontiguousarray(s.known_covariates, dtype=np.float32)),
        "past_covariates": None if s.past_covariates is None else torch.from_numpy(
            np.ascontiguousarray(s.past_covariates, dtype=np.float32)),
    }


def _series_from_plain(d: dict[str, Any]) -> SeriesData:
    return SeriesData(item_id=d["item_id"], start=pd.Timestamp(d["start"]), target=d["target"].numpy(),
                      known_covariates=None if d["known_covariates"] is None else d["known_covariates"].numpy(),
                      past_covariates=None if d["past_covariates"] is None else d["past_covariates"].numpy())
