"""RPC deployment on loopback with real TVM RPC servers (edgec serve) and a tracker."""

from __future__ import annotations

import numpy as np
import pytest

import edgec
from edgec.device.runners import DeviceSpec, run_on
from edgec.errors import DeviceError, OptionError, TargetError
from edgec.runtime.inputs import random_inputs
from tests.conftest import run_cli
from tests.device.conftest import edgec_process, free_port


@pytest.fixture(scope="module")
def host_server():
    port = free_port()
    with edgec_process(["serve", "--port", str(port)], "listening on 127.0.0.1") as (proc, _):
        yield port


def test_rpc_run_matches_local(host_server, digits_artifact_path):
    artifact = edgec.load(digits_artifact_path)
    inputs = random_inputs(artifact.signature, seed=5)
    remote = run_on(DeviceSpec.parse(f"rpc://127.0.0.1:{host_server}"), artifact, inputs,
                    repeat=3)
    local = artifact.run(inputs)
    np.testing.assert_array_equal(remote.outputs["logits"], local["logits"])
    assert remote.latency.count == 3 and "x86_64" in remote.where and not remote.emulated


def test_cli_rpc_check(host_server, digits_artifact_path, digits_model):
    result = run_cli("run", digits_artifact_path, "--device", f"rpc://127.0.0.1:{host_server}",
                     "--check", digits_model, "--repeat", "2")
    assert result.returncode == 0, result.stderr
    assert f"device     rpc://127.0.0.1:{host_server} (x86_64)" in result.stdout
    assert "result     PASS" in result.stdout


def test_wrong_architecture_is_refused_before_upload(host_server, tmp_path):
    from tests.conftest import DIGITS_MODEL

    pi = edgec.compile(DIGITS_MODEL, "rasp4b", input_shapes={"input": (1, 1, 8, 8)})
    with pytest.raises(TargetError, match=r"built for board 'rasp4b' \(aarch64\); the device at "
                                          r"rpc://127\.0\.0\.1:\d+ is x86_64"):
        run_on(DeviceSpec.parse(f"rpc://127.0.0.1:{host_server}"), pi,
               random_inputs(pi.signature), repeat=0)


def test_no_server_there(digits_artifact_path):
    port = free_port()
    with pytest.raises(DeviceError, match=rf"cannot connect to an RPC server at "
                                          rf"127\.0\.0\.1:{port}.*edgec serve --port {port}"):
        run_on(DeviceSpec.parse(f"rpc://127.0.0.1:{port}"), edgec.load(digits_artifact_path),
               random_inputs(edgec.load(digits_artifact_path).signature))
    result = run_cli("run", digits_artifact_path, "--device", f"rpc://127.0.0.1:{port}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot connect to an RPC server" in result.stderr


def test_tracker_flow(digits_artifact_path):
    tracker_port, server_port = free_port(), free_port()
    artifact = edgec.load(digits_artifact_path)
    inputs = random_inputs(artifact.signature)
    with edgec_process(["tracker", "--port", str(tracker_port)], "listening"):
        with edgec_process(["serve", "--port", str(server_port), "--tracker",
                            f"127.0.0.1:{tracker_port}", "--key", "hostcpu"],
                           "registered with tracker"):
            result = run_on(DeviceSpec.parse(None, f"127.0.0.1:{tracker_port}", "hostcpu"),
                            artifact, inputs, repeat=1)
            np.testing.assert_array_equal(result.outputs["logits"],
                                          artifact.run(inputs)["logits"])
            with pytest.raises(DeviceError, match=r"under key 'rasp4b' \(keys there: hostcpu\)"):
                run_on(DeviceSpec.parse(None, f"127.0.0.1:{tracker_port}", "rasp4b"), artifact,
                       inputs)
    with pytest.raises(DeviceError, match="no RPC tracker answers"):
        run_on(DeviceSpec.parse(None, f"127.0.0.1:{tracker_port}", "hostcpu"), artifact, inputs)


def test_device_option_errors():
    with pytest.raises(OptionError, match="use local, emulate, or rpc://HOST:PORT"):
        DeviceSpec.parse("gpu0")
    with pytest.raises(OptionError, match="--key goes with --tracker"):
        DeviceSpec.parse(None, None, "rasp4b")
    with pytest.raises(DeviceError, match="must look like HOST:PORT"):
        from edgec.device.rpc_client import parse_host_port

        parse_host_port("localhost", "device")


def test_serve_warns_when_not_on_loopback():
    port = free_port()
    with edgec_process(["serve", "--host", "0.0.0.0", "--port", str(port)],
                       "listening on 0.0.0.0") as (_, lines):
        text = "".join(lines)
        assert "warning: listening on 0.0.0.0" in text
        assert "executes whatever code a client sends it" in text


def test_serve_needs_key_with_tracker():
    result = run_cli("serve", "--tracker", "127.0.0.1:9", "--port", str(free_port()))
    assert result.returncode == 2 and "--tracker needs --key" in result.stderr
