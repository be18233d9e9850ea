"""`--help` of an installed zoo-* command lists that command's flags (absl lists
those of the main module, which for a console script is the generated wrapper)."""
import os
import shutil
import subprocess
import sys

#: command -> flags its --help must list (its own, and shared ones it reads).
EXPECTED = {
    "zoo-train": ["--train_steps", "--task_config", "--model_dir", "--train_data", "--plugins",
                  "--vocab_sample", "--seed"],
    "zoo-export": ["--export_dir", "--quantize", "--model_dir", "--eval_data"],
    "zoo-vocab": ["--output", "--type", "--train_data", "--vocab_sample", "--seed"],
}
#: command -> flags of other commands that its --help must not list.
UNEXPECTED = {"zoo-train": ["--quantize", "--signature", "--output"],
              "zoo-export": ["--train_steps", "--vocab_size", "--train_data", "--vocab_sample",
                             "--seed"],
              "zoo-vocab": ["--train_steps", "--model_dir", "--quantize"]}


def script(name):
    """The installed console script next to this Python, else on PATH."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else shutil.which(name)


def test_help_lists_the_commands_own_flags():
    runs = {name: subprocess.Popen([script(name), "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            for name in EXPECTED}
    for name, process in runs.items():
        out, err = process.communicate(timeout=300)
        assert "Traceback" not in err, err
        listed = {line.split(":")[0].split()[0].replace("--[no]", "--")
                  for line in out.splitlines() if line.startswith("  --")}
        assert set(EXPECTED[name]) <= listed, (name, out)
        assert out.startswith(f"{name}: "), out  # the command's docstring
        assert not set(UNEXPECTED[name]) & listed, (name, out)
