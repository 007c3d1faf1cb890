"""`ichbench grand-challenge`: the evaluation method of a grand-challenge.org phase.

``evaluate`` is the container's entry point; ``dry-run`` builds the tree grand-challenge
would hand it from a folder of masks and evaluates it, so organisers can test a phase.
Nothing heavy is imported here: the scoring install has no torch.
"""

from __future__ import annotations

import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ichbench.submissions.defaults import DEFAULT_TOLERANCE_MM

_DIR = click.Path(file_okay=False, dir_okay=True, path_type=Path)


def _scoring_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                     help="Worker processes [default: $GRAND_CHALLENGE_MAX_WORKERS, else all "
                          "cores]."),
        click.option("--tolerance-mm", type=click.FloatRange(min=0, max=1e6),
                     default=DEFAULT_TOLERANCE_MM, show_default=True,
                     help="NSD tolerance τ in mm."),
        click.option("--lenient-geometry", is_flag=True,
                     help="Score masks whose spacing, origin or direction differ from the "
                          "truth's, with a warning."),
        click.option("--require-all-cases", is_flag=True,
                     help="Fail the evaluation when a case has no prediction (default: "
                          "score it as an empty prediction, as INSTANCE did)."),
        click.option("--input-interface", metavar="SLUG", default=None,
                     help="Slug of the CT input, if jobs have several input images."),
        click.option("--output-interface", metavar="SLUG", default=None,
                     help="Slug of the mask output, if jobs have several output images."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("grand-challenge")
def grand_challenge() -> None:
    """Evaluate submissions the way a grand-challenge.org evaluation container does."""


@grand_challenge.command("evaluate")
@click.option("--input", "input_dir", type=_DIR, default=Path("/input"), show_default=True,
              help="Folder with predictions.json and one <pk>/output/ folder per job.")
@click.option("--ground-truth", type=_DIR, default=Path("/opt/ml/input/data/ground_truth"),
              show_default=True, help="Folder of truth labels (<id>.nii.gz or <id>.mha).")
@click.option("--output", "output_dir", type=_DIR, default=Path("/output"),
              show_default=True, help="Folder for metrics.json.")
@_scoring_options
def evaluate(input_dir: Path, ground_truth: Path, output_dir: Path, **options: Any) -> None:
    """Score a grand-challenge submission; write OUTPUT/metrics.json.

    Each job is matched to its truth case by the name of its input image without the
    suffix (the CT 131.nii.gz or 131.mha → truth 131). A missing, failed or unusable job
    is scored as an empty prediction and flagged with a status; jobs whose input matches
    no truth case are listed under unmatched_jobs. When the submission cannot be
    evaluated at all, the last line on stderr says why and the exit status is 1.
    """
    _run(lambda: _evaluate(input_dir, ground_truth, output_dir, options))


@grand_challenge.command("dry-run")
@click.argument("submission_dir", type=click.Path(exists=True, file_okay=False,
                                                  path_type=Path))
@click.option("--truth", "truth_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of truth labels (<id>.nii.gz or <id>.mha).")
@click.option("--out", "out_dir", required=True, type=_DIR,
              help="New folder for input/ (the tree grand-challenge would build) and "
                   "output/metrics.json.")
@_scoring_options
def dry_run(submission_dir: Path, truth_dir: Path, out_dir: Path, **options: Any) -> None:
    """Lay out a folder of masks as grand-challenge would, then evaluate it.

    SUBMISSION_DIR holds one mask per case (<case>.nii.gz, .nii or .mha): each becomes a
    succeeded job whose input CT is named <case>.mha and whose output is
    <pk>/output/images/ich-segmentation/<uuid>.mha. The evaluation then runs exactly as
    in the container, with --input OUT/input --output OUT/output.
    """
    from ichbench.submissions.grand_challenge_tree import build_input_tree

    def work() -> None:
        try:
            tree = build_input_tree(submission_dir, out_dir / "input", truth_dir=truth_dir)
        except (FileExistsError, NotADirectoryError) as exc:
            raise click.ClickException(str(exc)) from None
        for note in tree.notes:
            click.echo(note)
        click.echo(f"built {tree.input_dir} with {tree.n_jobs} job(s)")
        _evaluate(tree.input_dir, truth_dir, out_dir / "output", options)

    _run(work)


def _evaluate(input_dir: Path, ground_truth: Path, output_dir: Path,
              options: dict[str, Any]) -> None:
    from ichbench.submissions.grand_challenge import evaluate as evaluate_submission

    # A progress bar only on a terminal: grand-challenge's stderr must end with the reason.
    result = evaluate_submission(input_dir, ground_truth, output_dir, progress=None,
                                 **options)
    aggregates = result.metrics["aggregates"]
    means = "  ".join(f"{m.upper()} {_fmt(aggregates[m]['mean'], aggregates[m]['n_infinite'])}"
                      for m in ("dc", "nsd", "hd", "hd95", "rvd"))
    click.echo(f"{aggregates['n_cases']} cases  mean {means}")
    counts = ", ".join(f"{s} {n}" for s, n in result.status_counts.items() if n)
    click.echo(f"status: {counts}")
    if result.metrics["unmatched_jobs"]:
        click.echo(f"unmatched jobs: {len(result.metrics['unmatched_jobs'])}")
    click.echo(f"wrote {result.metrics_json}")


def _run(work: Callable[[], None]) -> None:
    """Run ``work``; end with one participant-readable line on stderr if it fails."""
    from ichbench.submissions.grand_challenge import EvaluationError

    try:
        work()
    except click.ClickException:
        raise
    except EvaluationError as exc:
        click.echo(" ".join(str(exc).split()), err=True)
        sys.exit(1)
    except Exception as exc:  # the participant must still see one sentence last
        traceback.print_exc()
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        click.echo(f"The evaluation failed with an internal error ({reason}); please tell "
                   "the organisers.", err=True)
        sys.exit(2)


def _fmt(value: float, n_infinite: int) -> str:
    if n_infinite and (value is None or math.isinf(value)):
        return "inf"
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"
