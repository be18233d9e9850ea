"""A zoo-* command on a CPU-only machine prints no CUDA driver error where no GPU
was asked for, and one line naming the devices (zoo.cli.devices)."""
import os
import subprocess
import sys

from zoo.cli.devices import cuda_noise_dropped, describe, kept_lines

CAUGHT = ("I0000 oneDNN custom operations are on.\n"
          "I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
          "not be used.\n"
          "E0000 cuda_platform.cc:51] failed call to cuInit: INTERNAL: CUDA error\n")


class Device:
    def __init__(self, name, device_type):
        self.name, self.device_type = name, device_type


def test_the_cuda_noise_is_dropped_only_when_quiet():
    assert kept_lines(CAUGHT, quiet=True) == ["I0000 oneDNN custom operations are on.\n"]
    assert "".join(kept_lines(CAUGHT, quiet=False)) == CAUGHT


def test_devices_in_one_line():
    cpu = Device("/physical_device:CPU:0", "CPU")
    gpus = [Device(f"/physical_device:GPU:{i}", "GPU") for i in range(2)]
    assert describe([cpu]) == "CPU (no GPU found)"
    assert describe([cpu, *gpus]) == "2 GPU (GPU:0, GPU:1), CPU"


def test_caught_stderr_is_written_back_without_the_noise(capfd):
    with cuda_noise_dropped():
        os.write(2, CAUGHT.encode())
    assert capfd.readouterr().err == "I0000 oneDNN custom operations are on.\n"


def test_no_cuinit_line_where_no_gpu_was_asked_for():
    result = subprocess.run(
        [sys.executable, "-c", "from zoo.cli.devices import report_devices; report_devices()"],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("devices: ")]
    assert len(lines) == 1, result.stderr
    if "no GPU found" in lines[0]:
        assert "cuinit" not in result.stderr.lower(), result.stderr
