"""Every ``python train.py / generate.py / evaluate.py`` and ``python -m ecg_synth.reproduce``
command the README shows composes (reproduce: its options parse), and its table of config
groups lists every option there is.

A renamed config key leaves the README behind silently; Hydra refuses the stale override, so
composing each command (without running it) keeps the README true.
"""

from __future__ import annotations

import re
import shlex

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from ecg_synth import reproduce
from ecg_synth.run_info import REPO_ROOT
from tests.helpers import compose_train, config_options

# The command runs to the end of its inline code span, table cell or line, or to a comment.
COMMAND = re.compile(
    r"python (?:(train|generate|evaluate)\.py|-m ecg_synth\.(reproduce))((?:[^`|#\n<]|<[^>\n]*>)*)"
)
PLACEHOLDER = re.compile(r"<[^>]*>")  # <run folder>, <time>, <p>: any value composes
README = (REPO_ROOT / "README.md").read_text()


def readme_commands() -> list[tuple[str, list[str]]]:
    found = []
    for entry_script, module, args in COMMAND.findall(README):
        script = entry_script or module
        tokens = shlex.split(PLACEHOLDER.sub("x", args))
        if "--help" in tokens:
            continue
        found.append((script, [t for t in tokens if t not in ("-m", "--multirun")]))
    return found


COMMANDS = readme_commands()


def first_of_each_sweep(overrides: list[str]) -> list[str]:
    """A multirun command's first job: ``a=1,2`` -> ``a=1`` (Hydra's own override parser)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    out = []
    for text, override in zip(overrides, parsed, strict=True):
        if override.is_sweep_override():
            text = f"{override.get_key_element()}={next(override.sweep_string_iterator())}"
        out.append(text)
    return out


def test_the_readme_shows_commands_of_every_entry_point():
    scripts = {script for script, _ in COMMANDS}
    assert scripts == {"train", "generate", "evaluate", "reproduce"}, scripts
    assert len(COMMANDS) >= 20  # the parser still finds the README's commands


@pytest.mark.parametrize(
    ("script", "overrides"), COMMANDS, ids=[" ".join([s, *o]) for s, o in COMMANDS]
)
def test_readme_command_composes(tmp_path, script, overrides):
    if script == "reproduce":
        reproduce.load_config(overrides)  # raises on an unknown option or value
        return
    cfg = compose_train(tmp_path, first_of_each_sweep(overrides), config_name=script)
    ours = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.to_container(ours, resolve=True)  # every interpolation resolves


def test_a_stale_key_in_a_command_is_caught(tmp_path):
    # What this file guards against: the README once showed `model.lr_g=...`.
    with pytest.raises(ConfigCompositionException, match="lr_g"):
        compose_train(tmp_path, ["model.lr_g=1e-4"], config_name="train")


@pytest.mark.parametrize("group", ["dataset", "model", "trainer", "callbacks", "logger", "debug"])
def test_readme_group_table_lists_every_option(group):
    row = re.search(rf"^\| `{group}` \|(.*)\|$", README, re.M)
    assert row, f"no row for `{group}` in the README's configuration table"
    listed = set(re.findall(r"`([\w.]+)`", row.group(1)))
    missing = set(config_options(group)) - listed
    assert not missing, f"README omits {sorted(missing)}"
