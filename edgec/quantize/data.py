"""Calibration data: what the user gives, checked against the model's inputs once.

Accepted forms: an ``.npz`` file with one array per model input, samples stacked along the
batch axis (a model input [1, 3, 224, 224] takes an array [S, 3, 224, 224]; an input [B, ...]
takes [S * B, ...]); a folder of such files (read in name order and concatenated); or, from
Python, an iterable of ``{input name: array}`` dicts, one per sample. Every mistake is one
``CalibrationError`` naming the input and what to do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgec.errors import CalibrationError
from edgec.signature import TensorSpec

MIN_SAMPLES = 8


@dataclasses.dataclass
class CalibrationSet:
    """Samples for a model, each a ``{input name: array of the input's exact shape}``."""

    samples: list[dict[str, np.ndarray]]
    origin: str

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self.samples)



def load_calibration(source, inputs: tuple[TensorSpec, ...] | list[TensorSpec],
                     min_samples: int = MIN_SAMPLES, kind: str = "calibration") -> CalibrationSet:
    """Read ``source`` and check it against the model ``inputs``; ``kind`` names the data in
    errors ("calibration", "evaluation")."""
    if isinstance(source, CalibrationSet):
        samples, origin = source.samples, source.origin
    elif isinstance(source, (str, Path)):
        origin = str(source)
        samples = _split(_read_arrays(Path(source), kind), inputs, origin, kind)
    else:
        origin = f"the {kind} samples"
        try:
            samples = [dict(s) for s in source]
        except (TypeError, ValueError) as err:
            raise CalibrationError(f"{kind} data must be an .npz file, a folder of .npz "
                                   "files or an iterable of {input name: array} dicts") from err
    for index, sample in enumerate(samples):
        _check_sample(sample, inputs, origin, index, kind)
    if len(samples) < min_samples:
        raise CalibrationError(
            f"{origin} holds {len(samples)} {kind} sample(s); at least {min_samples} are "
            "needed for stable activation ranges (use a few hundred representative inputs)")
    return CalibrationSet(samples, origin)


def _read_arrays(path: Path, kind: str) -> dict[str, np.ndarray]:
    if path.is_dir():
        files = sorted(path.glob("*.npz"))
        if not files:
            raise CalibrationError(f"{kind} folder '{path}' contains no .npz files")
    elif path.is_file():
        files = [path]
    else:
        raise CalibrationError(f"{kind} data '{path}' does not exist")
    parts: dict[str, list[np.ndarray]] = {}
    for file in files:
        try:
            with np.load(file, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as err:
            raise CalibrationError(f"{kind} file '{file}' is not a readable .npz file: "
                                   f"{err}") from err
        if parts and set(arrays) != set(parts):
            raise CalibrationError(f"{kind} file '{file}' has arrays {sorted(arrays)} but "
                                   f"'{files[0]}' has {sorted(parts)}; every file needs the "
                                   "same keys")
        for key, value in arrays.items():
            parts.setdefault(key, []).append(value)
    try:
        return {key: np.concatenate(values) for key, values in parts.items()}
    except ValueError as err:
        raise CalibrationError(f"the arrays in {kind} folder '{path}' do not stack: "
                               f"{err}") from err


def _split(arrays: dict[str, np.ndarray], inputs, origin: str,
           kind: str) -> list[dict[str, np.ndarray]]:
    _check_names(set(arrays), inputs, origin)
    counts = {}
    for spec in inputs:
        array = arrays[spec.name]
        batch = spec.shape[0] if spec.shape else 1
        if not spec.shape or array.ndim != len(spec.shape) \
                or tuple(array.shape[1:]) != tuple(spec.shape[1:]) or array.shape[0] % batch:
            want = f"[S*{batch}, {', '.join(str(d) for d in spec.shape[1:])}]" if spec.shape \
                else "[S]"
            raise CalibrationError(
                f"{kind} array '{spec.name}' in {origin} has shape {list(array.shape)}; "
                f"the model input is {spec.describe()}, so stack samples as {want}")
        counts[spec.name] = array.shape[0] // batch
    if len(set(counts.values())) > 1:
        raise CalibrationError(f"the arrays in {origin} hold different sample counts "
                               f"{counts}; give every input the same number of samples")
    total = next(iter(counts.values()), 0)
    samples = []
    for i in range(total):
        sample = {}
        for spec in inputs:
            batch = spec.shape[0] if spec.shape else 1
            sample[spec.name] = arrays[spec.name][i * batch:(i + 1) * batch]
        samples.append(sample)
    return samples


def _check_names(given: set[str], inputs, origin: str) -> None:
    wanted = {spec.name for spec in inputs}
    if given != wanted:
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(repr(m) for m in missing)}")
        if extra:
            parts.append(f"has {', '.join(repr(e) for e in extra)}, which the model does not "
                         "take")
        raise CalibrationError(f"{origin} {' and '.join(parts)}; the model's inputs are "
                               f"{', '.join(s.describe() for s in inputs)}")


def _check_sample(sample, inputs, origin: str, index: int, kind: str) -> None:
    _check_names(set(sample), inputs, f"sample {index} of {origin}")
    for spec in inputs:
        array = np.asarray(sample[spec.name])
        where = f"input '{spec.name}' of sample {index} in {origin}"
        if tuple(array.shape) != tuple(spec.shape):
            raise CalibrationError(f"{where} has shape {list(array.shape)}; the model takes "
                                   f"{spec.describe()}")
        if array.dtype != np.dtype(spec.dtype):
            wanted = np.dtype(spec.dtype).kind
            if array.dtype.kind != wanted or array.dtype.kind not in "fiu":
                raise CalibrationError(f"{where} is {array.dtype}; the model takes "
                                       f"{spec.dtype}")
            array = array.astype(spec.dtype)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CalibrationError(f"{where} contains NaN or infinite values; {kind} "
                                   "needs real inputs")
        sample[spec.name] = np.ascontiguousarray(array)
