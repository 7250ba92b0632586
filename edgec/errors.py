"""The error families of edgec.

Everything a user can cause (a bad model file, an unknown target, wrong inputs, a tampered
artifact) raises a subclass of :class:`EdgecError`. Its message names the offending input and
says what to do; the CLI prints it on one line, without a traceback, and exits non-zero.

Anything else that escapes is a bug in edgec (or in TVM) and is reported as such.
"""

from __future__ import annotations


class EdgecError(Exception):
    """A problem with what the user gave edgec; the message says how to fix it."""

    exit_code = 2


class ModelError(EdgecError):
    """The model file cannot be read or is not a valid ONNX model."""


class UnsupportedModelError(EdgecError):
    """A valid ONNX model that uses an opset or operators edgec cannot compile."""


class InputShapeError(EdgecError):
    """Input shapes are missing, contradictory or malformed."""


class OptionError(EdgecError):
    """A command-line option or API argument with a value that cannot be used."""


class TargetError(EdgecError):
    """An unknown or invalid target/board, or an artifact built for another machine."""


class BoardFileError(TargetError):
    """A board file in targets/ is malformed."""


class ToolchainError(EdgecError):
    """A compiler, linker or emulator the build needs is missing."""


class DoesNotFitError(EdgecError):
    """A model whose code, weights or memory exceed what the board has."""


class ArtifactError(EdgecError):
    """An artifact file that cannot be read."""


class ArtifactIntegrityError(ArtifactError):
    """An artifact whose contents do not match its manifest (corrupt or tampered)."""


class RunInputError(EdgecError):
    """Inputs given to a compiled model do not match its signature."""


class CheckFailedError(EdgecError):
    """Outputs disagree with the ONNX Runtime reference beyond the tolerance."""

    exit_code = 1


class TuningError(EdgecError):
    """A tuning run that could not measure anything (a busy machine, a broken device)."""

    exit_code = 1


class InternalError(Exception):
    """A bug in edgec or TVM, not something the user did."""


class DeviceError(EdgecError):
    """A device (RPC server, tracker, emulator) that cannot be reached or used."""


class CalibrationError(EdgecError):
    """Calibration data that does not fit the model (names, shapes, dtypes, values, count)."""
