"""The documentation keeps up with the code."""

from pathlib import Path

from appliance.config.schema import KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_every_configuration_key_is_documented():
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f"[{k.section}] {k.name}" for k in KEYS
               if f"`{k.name}`" not in text or k.env_var not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n\n", 3)[:3]
    assert "make run" in "\n".join(head) and "make test" in "\n".join(head)
