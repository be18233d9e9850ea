"""The guides cannot drift: every `--flag` that README.md and docs/*.md show is
defined by the command it is shown with, and every relative link resolves.

The flags come from the code, never from a list here: each zoo-* command's
module (setup.cfg's console_scripts) is imported in a subprocess of its own (two of them
define `--decoding`, so they cannot share one absl FLAGS) and reports its key
flags, the ones its `--help` lists; a script (`python benchmarks/x.py`)
reports every flag defined once it is imported, since absl parses them all.

Example:
    >>> flag_uses("    zoo-export --model_dir=a --quantize=int8")
    [('zoo-export', 'model_dir'), ('zoo-export', 'quantize')]
"""
import concurrent.futures
import configparser
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUIDES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def console_scripts():
    """{command: module} of setup.cfg's console_scripts (zoo-train: zoo.cli.train, ...)."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return {name.strip(): target.split(":")[0].strip()
            for name, _, target in (line.partition("=") for line in lines)}


SCRIPTS = console_scripts()
COMMANDS = tuple(SCRIPTS)  # zoo-train, zoo-export, ...
#: A flag shown outside any command (in prose, "`--seed`") must belong to one of these.
ANY = "any zoo-* command"
FLAG = re.compile(r"^--([a-z][a-z0-9_]*)(?:=|$)")  # absl style: no hyphens
SEPARATORS = {"&&", "||", "|", ";", "(", ")"}

#: Run in a subprocess: prints the JSON list of flags `target` accepts.
PROBE = r"""
import importlib, json, runpy, sys
from absl import app, flags
app.define_help_flags()  # --help, --helpfull: defined when an app runs
target = sys.argv[1]
if target.endswith(".py"):
    sys.path.insert(0, __import__("os").path.dirname(target))
    sys.argv = [target]
    runpy.run_path(target, run_name="docs_probe")
    names = list(flags.FLAGS)
else:
    module = sys.argv[2]
    importlib.import_module(module)
    names = [flag.name for flag in flags.FLAGS.get_key_flags_for_module(module)]
    names += [flag.name for name, defined in flags.FLAGS.flags_by_module_dict().items()
              if name.startswith("absl") for flag in defined]  # --help, --flagfile, ...
print(json.dumps(sorted(set(names))))
"""


def command_of(token, previous):
    """The command a token names (a zoo-* command, a benchmarks/examples script run
    by python), None for another program, or '' for a word that is no command."""
    base = os.path.basename(token)
    if base in COMMANDS:
        return base
    if token.endswith(".py") and previous and os.path.basename(previous).startswith("python"):
        return token
    return None


def flag_uses(text, default=None):
    """(command, flag) for each `--flag` in a shell line: the command is the last
    zoo-* command or script before it; flags of other programs (docker, pip, pytest)
    are skipped; flags before any command belong to `default`."""
    uses, current, at_start, previous = [], default, True, None
    for token in text.split():
        if token in SEPARATORS or token.endswith(";"):
            current, at_start, previous = default, True, None
            continue
        named, match = command_of(token, previous), FLAG.match(token)
        if named:
            current = named
        elif match:
            if current is not None:
                uses.append((current, match.group(1)))
        elif at_start and not re.match(r"^[A-Z_]+=", token) and token != "...":
            current = None  # another program: python -m pytest, docker, curl, ...
        if not re.match(r"^[A-Z_]+=", token):  # (an environment variable comes first)
            at_start = False
        previous = token
    return uses


def guide_flag_uses(path):
    """(line number, command, flag) for every flag a guide shows: in indented and
    fenced shell code blocks (continuation lines joined) and in `inline code` of
    prose paragraphs (where a flag outside a command belongs to ANY)."""
    uses, fenced = [], None
    logical, start, paragraph = "", 0, []

    def prose():
        text = " ".join(line for _, line in paragraph)
        for span in re.findall(r"`([^`]+)`", text):
            uses.extend((paragraph[0][0], *use) for use in flag_uses(span, default=ANY))
        paragraph.clear()
    for number, line in enumerate(path.read_text().splitlines() + [""], 1):
        if line.startswith("```"):
            prose()
            fenced = None if fenced is not None else line[3:].strip()
            continue
        if fenced not in (None, "", "sh", "bash", "shell"):
            continue  # python code and the like
        if fenced is not None or line.startswith("    "):
            prose()
            logical, start = logical + " " + line.strip(), start or number
            if line.rstrip().endswith("\\"):
                logical = logical.rstrip("\\ ")
                continue
            uses.extend((start, *use) for use in flag_uses(logical.split(" # ")[0]))
            logical, start = "", 0
        elif line.strip():
            paragraph.append((number, line))
        else:
            prose()
    return uses


def accepted_flags(target):
    """The flags `target` (a zoo-* command or a script path) accepts, from its code."""
    result = subprocess.run([sys.executable, "-c", PROBE, target, SCRIPTS.get(target, "")],
                            capture_output=True,
                            text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, f"{target}: {result.stderr[-2000:]}"
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def accepts(flags, flag):
    """absl's boolean flags also take --noflag."""
    return flag in flags or (flag.startswith("no") and flag[2:] in flags)


@pytest.fixture(scope="module")
def shown():
    return {path: guide_flag_uses(path) for path in GUIDES}


def test_every_flag_shown_is_defined_by_its_command(shown):
    targets = sorted(set(COMMANDS) | {command for uses in shown.values()
                                      for _, command, _ in uses if command.endswith(".py")})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        defined = dict(zip(targets, pool.map(accepted_flags, targets)))
    defined[ANY] = set().union(*(defined[command] for command in COMMANDS))
    unknown = [f"{path.relative_to(ROOT)}:{line}: {command} does not define --{flag}"
               for path, uses in shown.items() for line, command, flag in uses
               if not accepts(defined[command], flag)]
    assert unknown == []
    assert sum(len(uses) for uses in shown.values()) > 100  # the parser found the flags


def test_a_bogus_flag_is_caught(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("Run\n\n    zoo-export --model_dir=a \\\n        --no_such_flag=1\n\n"
                     "or `zoo-vocab --type=char`, `--seed=1`; `docker run -p 1:1`.\n")
    uses = guide_flag_uses(guide)
    assert [(command, flag) for _, command, flag in uses] == [
        ("zoo-export", "model_dir"), ("zoo-export", "no_such_flag"), ("zoo-vocab", "type"),
        (ANY, "seed")]
    assert not accepts(accepted_flags("zoo-export"), "no_such_flag")
    assert accepts(accepted_flags("zoo-train"), "nolowercase")


def test_flags_of_other_programs_are_skipped():
    assert flag_uses("python -m pytest -q --dist loadfile tests") == []
    assert flag_uses("docker run -p 8501:8501 --rm tensorflow/serving") == []
    assert flag_uses("TF_CONFIG='{}' zoo-train --strategy=multi_worker") == \
        [("zoo-train", "strategy")]
    assert flag_uses("python benchmarks/prep_memory.py --size_mb=100") == \
        [("benchmarks/prep_memory.py", "size_mb")]
    assert flag_uses("echo x | zoo-predict --export_dir=a -") == [("zoo-predict", "export_dir")]


def relative_links(path):
    """(line number, target) of every markdown link that is not a URL."""
    links = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if not re.match(r"^[a-z]+://|^mailto:", target):
                links.append((number, target))
    return links


def anchors(path):
    """GitHub's anchors of a markdown file's headings."""
    found = set()
    for line in path.read_text().splitlines():
        if re.match(r"^#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_every_relative_link_resolves():
    broken = []
    for path in GUIDES:
        for line, target in relative_links(path):
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            where = f"{path.relative_to(ROOT)}:{line}: {target}"
            if not resolved.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where} (no heading #{anchor})")
    assert broken == []


def test_the_readme_stays_short_and_links_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = {target.partition("#")[0] for _, target in relative_links(ROOT / "README.md")}
    guides = {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")}
    assert guides - linked == set(), "add these guides to the README's table"


def test_the_readme_runs_the_tests_as_ci_does():
    """The README's second set-up command and .ci/run install the same extras and
    run pytest with the same arguments."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    ours = re.search(r"\.venv/bin/python -m pytest (.*)", readme).group(1).strip()
    theirs = re.search(r"^python -m pytest (.*)$", ci, re.M).group(1).strip()
    assert ours == theirs
    assert "pip install -e '.[test]'" in readme and "pip install --quiet -e '.[test]'" in ci
