"""pyproject.toml and environment.yml must pin the same packages at the same versions."""

from __future__ import annotations

import re
import tomllib

import yaml

from mmlib.config import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)$")


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for req in requirements:
        match = PIN.match(req.strip())
        assert match, f"dependency {req!r} is not pinned with =="
        name = re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")
        pins[name] = match.group(2)
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return _pins(reqs)


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    return _pins([r for r in pip_lists[0] if not r.startswith("-e")])


def test_environment_yml_matches_pyproject():
    py, env = pyproject_pins(), environment_pins()
    assert py == env, (
        f"only in pyproject: {sorted(set(py.items()) - set(env.items()))}; "
        f"only in environment.yml: {sorted(set(env.items()) - set(py.items()))}"
    )


def test_torch_is_pinned_to_the_local_cpu_wheel_version():
    assert pyproject_pins()["torch"] == "2.13.0"


def test_installed_versions_match_the_pins():
    from importlib.metadata import PackageNotFoundError, version

    mismatched = {}
    for name, pinned in pyproject_pins().items():
        try:
            got = version(name)
        except PackageNotFoundError:
            mismatched[name] = (pinned, "not installed")
            continue
        if got.split("+")[0] != pinned:
            mismatched[name] = (pinned, got)
    assert not mismatched, f"installed versions differ from the pins: {mismatched}"
