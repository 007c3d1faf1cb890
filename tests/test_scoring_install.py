"""The scoring-only install: requirements/score.txt suffices for score and grand-challenge."""

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def score_requirements():
    lines = (ROOT / "requirements" / "score.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _name(requirement):
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_score_requirements_repeat_the_package_requirements_without_methods():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = score_requirements()
    assert requirements, "requirements/score.txt lists nothing"
    for requirement in requirements:
        assert requirement in project["dependencies"], requirement
    names = {_canonical(_name(r)) for r in requirements}
    assert not names & {"torch", "torchvision", "nnunetv2", "matplotlib"}


def _allowed_distributions():
    """The score requirements and everything they require in turn."""
    allowed, todo = set(), [_name(r) for r in score_requirements()]
    while todo:
        name = _canonical(todo.pop())
        if name in allowed:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # e.g. a backport for older Pythons
            continue
        allowed.add(name)
        for requirement in requires:
            if "extra ==" not in requirement:
                todo.append(_name(requirement))
    return allowed


def test_score_and_grand_challenge_load_only_the_score_requirements(tmp_path):
    from ichbench.io.volumes import Geometry, write_volume

    geometry = Geometry((8, 8, 4), (1.0, 1.0, 5.0), (0.0, 0.0, 0.0),
                        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    mask = np.zeros(geometry.shape, np.uint8)
    mask[1:3, 2:5, 2:6] = 1
    for folder in ("truth", "sub"):
        write_volume(mask, geometry, tmp_path / folder / "001.nii.gz")
    # The child process behaves as if only the score requirements were installed: every
    # other distribution's modules raise ModuleNotFoundError (optional imports, such as
    # numpy.f2py trying charset_normalizer, degrade as they would in a light install).
    allowed = _allowed_distributions()
    hidden = sorted({module for module, dists in metadata.packages_distributions().items()
                     if module != "ichbench" and module not in sys.stdlib_module_names
                     and not {_canonical(d) for d in dists} & allowed})
    assert "torch" in hidden or "torch" not in metadata.packages_distributions()
    code = textwrap.dedent("""
        import json, sys
        hidden = set(json.loads(sys.argv[2]))
        at_start = set(sys.modules)  # e.g. setuptools' .pth hook, loaded by site

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in hidden:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NotInstalled())
        from ichbench.cli import cli
        for args in json.loads(sys.argv[1]):
            try:
                cli(args, standalone_mode=False)
            except SystemExit as exc:
                assert not exc.code, exc.code
        print("LOADED", json.dumps(sorted(m for m in set(sys.modules) - at_start
                                          if m.split(".")[0] in hidden)))
        """)
    runs = [["score", tmp_path / "sub", "--truth", tmp_path / "truth", "--out",
             tmp_path / "scores", "-q", "-j", "1"],
            ["grand-challenge", "dry-run", tmp_path / "sub", "--truth", tmp_path / "truth",
             "--out", tmp_path / "gc", "-j", "1"]]
    done = subprocess.run([sys.executable, "-c", code, json.dumps(runs, default=str),
                           json.dumps(hidden)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "scores" / "cases.csv").is_file()
    assert (tmp_path / "gc" / "output" / "metrics.json").is_file()
    assert json.loads(done.stdout.split("LOADED", 1)[1]) == []


def test_dockerfile_installs_the_scoring_requirements_only_and_runs_evaluate_unprivileged():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    runs = " ".join(line for line in lines if line.startswith(("RUN", "&&")))
    assert "pip install -r requirements/score.txt" in runs
    installs = re.findall(r"pip install ([^&]+)", runs)
    assert all("-r requirements/score.txt" in i or "--no-deps" in i for i in installs), installs
    assert not re.search(r"torch|nnunet", runs)
    users = [line.split()[1] for line in lines if line.startswith("USER")]
    assert users and users[-1] not in ("root", "0")
    assert lines[-1] == 'ENTRYPOINT ["ichbench", "grand-challenge", "evaluate"]'
    ignored = (ROOT / ".dockerignore").read_text()
    copied = [source for line in lines if line.startswith("COPY ")
              for source in line.split()[1:-1]]
    assert "requirements/score.txt" in copied and "submissions" in copied
    for source in copied:
        assert f"!{source}" in ignored, f"{source} is copied but excluded from the context"


def _light_cli(args, cwd):
    """Run ``ichbench ARGS`` in a child that sees only the scoring-only install."""
    allowed = _allowed_distributions()
    hidden = sorted({module for module, dists in metadata.packages_distributions().items()
                     if module != "ichbench" and module not in sys.stdlib_module_names
                     and not {_canonical(d) for d in dists} & allowed})
    code = textwrap.dedent("""
        import json, sys
        hidden = set(json.loads(sys.argv[1]))

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in hidden:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NotInstalled())
        from ichbench.cli import main
        sys.argv = ["ichbench", *sys.argv[2:]]
        main()
        """)
    return subprocess.run([sys.executable, "-c", code, json.dumps(hidden), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_score_requirements_include_zlib_ng():
    # issue 23: without it the evaluation container inflated .nii.gz 3-10x slower
    assert any(_canonical(_name(r)) == "zlib-ng" for r in score_requirements())


def test_commands_that_need_the_full_install_say_so_before_writing(tmp_path):
    # issue 23: leaderboard (figures on) wrote its tables, then a matplotlib traceback;
    # report likewise; run --method threshold ended in a torch traceback
    from ichbench.io.volumes import Geometry, write_volume

    geometry = Geometry((8, 8, 4), (1.0, 1.0, 5.0), (0.0, 0.0, 0.0),
                        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    mask = np.zeros(geometry.shape, np.uint8)
    mask[1:3, 2:5, 2:6] = 1
    for folder in ("truth", "sub"):
        write_volume(mask, geometry, tmp_path / folder / "001.nii.gz")
    scored = _light_cli(["score", "sub", "--truth", "truth", "--out", "scores", "-q", "-j",
                         "1"], tmp_path)
    assert scored.returncode == 0, scored.stderr
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    attempts = {
        ("leaderboard", "scores", "--out", "lb"): "needs matplotlib",
        ("leaderboard", "--task", "a:x=scores", "--task", "b:x=scores", "--out", "lbt"):
            "needs matplotlib",
        ("report", "scores", "--out", "report.pdf"): "needs matplotlib",
        ("run", "--method", "threshold", "--data", "truth", "--out", "runs"):
            "needs torch and matplotlib",
        ("run", "--method", "threshold", "--no-report", "--out", "runs"): "needs torch,",
        ("run", "--method", "cascade", "--out", "runs"): "needs torch and matplotlib and "
                                                         "nnunetv2",
        ("data", "show", "truth", "--out", "show.png"): "needs matplotlib",
    }
    for args, words in attempts.items():
        done = _light_cli(args, tmp_path)
        assert done.returncode == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0], (args, lines)
        assert "requirements/score.txt" in lines[0] and "pip install torch==" in lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    tables = _light_cli(["leaderboard", "scores", "--out", "lb", "--no-figures"], tmp_path)
    assert tables.returncode == 0, tables.stderr
    assert (tmp_path / "lb" / "leaderboard.json").is_file()
