"""`ichbench data`: make a synthetic dataset, check a dataset folder, show a few cases."""

from __future__ import annotations

from pathlib import Path

import click

from ichbench.commands.needs import require_full_install

_DIR = click.Path(file_okay=False, dir_okay=True, path_type=Path)


@click.group("data")
def data() -> None:
    """Datasets: generate the synthetic phantom, validate a folder, draw a figure.

    Layout (INSTANCE 2022): train/data/001.nii.gz, train/label/001.nii.gz (train_2/ also
    accepted), evaluation/101.nii.gz ... (validation 101-130, test 131-200); synthetic data
    adds evaluation_label/ with the labels the organisers hold.
    """


@data.command("synth")
@click.argument("out_dir", type=_DIR)
@click.option("--cases", type=click.IntRange(3, 200), default=200, show_default=True,
              help="Number of cases, split 100/30/70 like INSTANCE with its numbering "
                   "(N=20: train 001-010, validation 101-103, test 131-137). Rule: validation "
                   "round(0.15 N), test round(0.35 N), each ≥ 1; train the rest, raised to ≥ 5 "
                   "when N ≥ 10.")
@click.option("--preset", type=click.Choice(["small", "full"]), default="small",
              show_default=True, help="full: 512×512×N like the real scans; small: 128×128×N, "
                                      "same anatomy and field of view (tests, CPU demos).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Dataset seed; case i is the same for any --cases.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores].")
def synth(out_dir: Path, cases: int, preset: str, seed: int, jobs: int | None) -> None:
    """Generate a synthetic head-CT dataset with hemorrhage labels in OUT_DIR."""
    from ichbench.phantom import generate_dataset

    if out_dir.exists() and any(out_dir.iterdir()):
        raise click.ClickException(f"{out_dir}: folder exists and is not empty; choose a new "
                                   "folder (synthetic data is never written over other files)")
    records = generate_dataset(out_dir, cases=cases, preset=preset, seed=seed, jobs=jobs)
    volumes = sorted(float(r["volumes_ml"]["total"]) for r in records)  # type: ignore[index]
    seconds = sum(float(r["seconds"]) for r in records)  # type: ignore[arg-type]
    click.echo(f"wrote {len(records)} cases ({preset}, seed {seed}) to {out_dir}; "
               f"lesion volume median {volumes[len(volumes) // 2]:.1f} mL "
               f"(min {volumes[0]:.2f}, max {volumes[-1]:.1f}); "
               f"{seconds / len(records):.1f} s per case")


@data.command("check")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
def check(root: Path, quiet: bool) -> None:
    """Validate a dataset folder (real or synthetic); never modifies it.

    Prints a summary table (cases, spacing, slice counts, lesion volumes) and one line per
    problem. Exit status 1 only when the folder cannot be used as is (ERROR lines);
    warnings alone exit 0.
    """
    import sys

    from ichbench.data.datacheck import check_dataset

    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc="check", unit="case")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    report = check_dataset(root, progress=progress)
    if bar is not None:
        bar.close()
    if not quiet:
        click.echo(report.summary())
    for problem in report.problems:
        click.echo(str(problem))
    if not report.usable:
        raise SystemExit(1)


@data.command("show")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Figure file (.png, .pdf).")
@click.option("--cases", "case_ids", default=None,
              help="Comma-separated case ids [default: 4 labelled cases across the splits].")
def show(root: Path, out_file: Path, case_ids: str | None) -> None:
    """Draw a few cases: brain window (W80/L40) with the label outline, skull base, bone."""
    require_full_install("data show", "matplotlib")
    from ichbench.data.datafigure import show_cases
    from ichbench.data.dataset import DatasetError
    from ichbench.io.atomic import atomic_path

    ids = [c.strip() for c in case_ids.split(",") if c.strip()] if case_ids else None
    try:
        fig = show_cases(root, ids)
    except (DatasetError, KeyError) as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    with atomic_path(out_file) as tmp:
        fig.savefig(tmp, format=out_file.suffix.lstrip(".") or "png")
    click.echo(f"wrote {out_file}")
