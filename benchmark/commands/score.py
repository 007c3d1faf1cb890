"""`ichbench score`: score a folder of predicted masks against the truth labels."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import click

from ichbench.submissions.defaults import DEFAULT_TOLERANCE_MM
from ichbench.submissions.status import Status

_STATUS_HELP = "\n".join(
    textwrap.fill(status.description, width=96, initial_indent=f"  {status.value:<18} ",
                  subsequent_indent=" " * 21) for status in Status)

_DIR = click.Path(file_okay=False, dir_okay=True, path_type=Path)


@click.command("score", epilog="\b\nStatuses (cases.csv 'status' column):\n" + _STATUS_HELP)
@click.argument("pred_dir", metavar="PRED_DIR",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--truth", "truth_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of truth labels (<id>.nii.gz or <id>.mha), one per case to "
                   "score.")
@click.option("--out", "out_dir", required=True, type=_DIR,
              help="Folder for cases.csv and summary.json (created; not inside PRED_DIR).")
@click.option("--tolerance-mm", type=click.FloatRange(min=0, max=1e6),
              default=DEFAULT_TOLERANCE_MM, show_default=True,
              help="NSD tolerance τ in mm.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores].")
@click.option("--lenient-geometry", is_flag=True,
              help="Score masks whose spacing, origin or direction differ from the truth's "
                   "(with a warning) instead of refusing them.")
@click.option("--label-map", "label_map_text", default=None, metavar="MAP",
              help="Class names of a label-map truth: a JSON file or object ({\"1\": "
                   "\"EDH\"}) or value=name pairs (1=EDH,2=IPH) [default: BHSD's 1 EDH, "
                   "2 IPH, 3 IVH, 4 SAH, 5 SDH when the values lie in 1-5, else the values]. "
                   "Given, the truth is read as a label map.")
@click.option("--absent-class", type=click.Choice(["nan", "one"]), default="nan",
              show_default=True,
              help="A class absent from both masks of a case: left out of that class's "
                   "statistics (nan, nnU-Net) or scored as perfect (one, BraTS).")
@click.option("--raters", is_flag=True,
              help="TRUTH holds MBH-Seg25's <case>/label_annot_<k>.nii.gz masks, one per "
                   "rater: write raters.csv (per rater), multirater.csv (Dice_max, "
                   "Dice_max_reverse, Dice_max_mean, Dice_match, Dice_soft, GED as "
                   "MBH-Seg25's toolkit computes them; inter-rater Dice) and summary.json.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def score(pred_dir: Path, truth_dir: Path, out_dir: Path, tolerance_mm: float,
          jobs: int | None, lenient_geometry: bool, label_map_text: str | None,
          absent_class: str, raters: bool, quiet: bool) -> None:
    """Score the masks in PRED_DIR against the truth labels, the INSTANCE 2022 way.

    Each truth case is matched by id (file name without .nii/.nii.gz/.mha) and gets one row in
    OUT/cases.csv: DC, NSD, HD, HD95 (mm), RVD, volumes (mL), voxel counts, a status and
    a message. A missing or unusable mask is scored as an empty prediction (DC 0, HD inf,
    RVD 1) and flagged. OUT/summary.json holds mean, std, median, quartiles, min, max and
    count per metric, the status counts and the ignored files.

    Masks hold whole numbers, non-zero is foreground, on the truth's grid. Links are never
    followed. Exit status 0 whenever scoring completed, whatever the statuses.

    A label-map truth (e.g. BHSD's subtypes) adds OUT/subtypes.csv (the merged prediction's
    detection and DC per truth subtype) and, for a label-map submission, OUT/classes.csv
    (every class scored on its own); cases.csv stays the merged ICH (label > 0).
    """
    from ichbench.submissions import ScoreError, score_folder
    from ichbench.submissions.classes import LabelMapError, parse_label_map

    try:
        label_map = parse_label_map(label_map_text) if label_map_text else None
    except LabelMapError as exc:
        raise click.BadParameter(str(exc), param_hint="--label-map") from None
    if raters:
        _score_raters(pred_dir, truth_dir, out_dir, tolerance_mm=tolerance_mm, jobs=jobs,
                      lenient_geometry=lenient_geometry, label_map=label_map, quiet=quiet)
        return
    try:
        result = score_folder(pred_dir, truth_dir, out_dir, tolerance_mm=tolerance_mm,
                              jobs=jobs, lenient_geometry=lenient_geometry,
                              progress=False if quiet else None, label_map=label_map,
                              absent_class=absent_class)
    except ScoreError as exc:
        raise click.ClickException(str(exc)) from None
    if quiet:
        return
    summary = result.summary
    means = "  ".join(f"{name.upper()} {_fmt(summary['metrics'][name]['mean'])}"
                      for name in ("dc", "nsd", "hd", "hd95", "rvd"))
    click.echo(f"{summary['n_cases']} cases  mean {means}")
    counts = ", ".join(f"{status} {n}" for status, n in summary["status_counts"].items() if n)
    click.echo(f"status: {counts}")
    lesions, clinical = summary.get("lesions"), summary.get("clinical")
    if lesions and clinical:  # issue 13: lesion-wise and clinical numbers
        click.echo(f"lesions: {lesions['gt_lesions']} in the truth, TP {lesions['lesion_tp']}, "
                   f"FP {lesions['lesion_fp']}, FN {lesions['lesion_fn']}, pooled F1 "
                   f"{_fmt(lesions['lesion_f1_pooled'])}; volume error mean "
                   f"{_fmt(clinical['mean_abs_error_ml'])} mL")
    if "classes" in summary:  # issue 22: per class and macro-averaged
        per_class = summary["classes"]["per_class"]
        shown = ", ".join(f"{name} {_fmt(c['metrics']['dc']['mean'])} ({c['rows']})"
                          for name, c in per_class.items())
        click.echo(f"classes: mean DC {shown}; macro DC "
                   f"{_fmt(summary['classes']['macro']['dc'])}")
    if "subtypes" in summary:
        shown = ", ".join(f"{name} {s['detected']}/{s['gt_lesions']} DC {_fmt(s['dc_pooled'])}"
                          for name, s in summary["subtypes"].items())
        click.echo(f"subtypes (lesions found, pooled DC): {shown}")
    if summary["ignored_files"]:
        click.echo(f"ignored: {len(summary['ignored_files'])} file(s) in {pred_dir}")
    if summary["warnings"]:
        click.echo(f"warnings: {len(summary['warnings'])} (see summary.json)")
    extra = [str(p) for p in (result.classes_csv, result.subtypes_csv) if p is not None]
    click.echo(f"wrote {', '.join([str(result.cases_csv), *extra])} and "
               f"{result.summary_json}")


def _score_raters(pred_dir: Path, truth_dir: Path, out_dir: Path, *, tolerance_mm: float,
                  jobs: int | None, lenient_geometry: bool,
                  label_map: dict[int, str] | None, quiet: bool) -> None:
    """The --raters branch: score against every rater, print the model beside its ceiling."""
    from ichbench.submissions import ScoreError
    from ichbench.submissions.raters import score_raters

    try:
        summary = score_raters(pred_dir, truth_dir, out_dir, tolerance_mm=tolerance_mm,
                               jobs=jobs, lenient_geometry=lenient_geometry,
                               label_map=label_map)
    except ScoreError as exc:
        raise click.ClickException(str(exc)) from None
    if quiet:
        return
    block_ = summary["raters"]
    click.echo(f"{summary['n_cases']} cases, raters per case "
               f"{_fmt(block_['raters_per_case']['mean'])}; against the consensus: mean DC "
               f"{_fmt(summary['metrics']['dc']['mean'])}")
    for name, block in block_["classes"].items():
        means = "  ".join(f"{c} {_fmt(block['metrics'][c]['mean'])}"
                          for c in ("dice_mean", "dice_max", "dice_max_mean", "dice_match",
                                    "dice_soft", "ged"))
        click.echo(f"{name}: {means}  inter-rater Dice {_fmt(block['interrater_dice_mean'])}")
    counts = ", ".join(f"{status} {n}" for status, n in summary["status_counts"].items() if n)
    click.echo(f"status: {counts}")
    click.echo(f"wrote {out_dir}/cases.csv, {out_dir}/raters.csv, {out_dir}/multirater.csv "
               f"and {out_dir}/summary.json")


def _fmt(value: float) -> str:
    return str(value) if math.isinf(value) or math.isnan(value) else f"{value:.4f}"
