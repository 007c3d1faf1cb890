import ast
from pathlib import Path

import ichbench.submissions.status as status_module
from ichbench.metrics import DEFAULT_TOLERANCE_MM as METRICS_TOLERANCE
from ichbench.submissions import DEFAULT_TOLERANCE_MM, DESCRIPTIONS, Status


def test_every_status_has_one_sentence_description():
    assert set(DESCRIPTIONS) == set(Status)
    for status in Status:
        text = status.description
        assert text.endswith(".") and text[0].isupper() and len(text) > 30, status


def test_contract_statuses_exist_with_their_csv_values():
    required = {"ok", "missing", "unreadable", "geometry_mismatch", "not_a_mask", "ambiguous",
                "outside_folder"}
    assert required <= {s.value for s in Status}
    assert Status("truth_unreadable") is Status.TRUTH_UNREADABLE
    assert str(Status.OK) == "ok"


def test_only_ok_and_truth_unreadable_are_not_scored_as_empty():
    assert {s for s in Status if not s.scored_as_empty} == {Status.OK,
                                                            Status.TRUTH_UNREADABLE}


def test_status_module_imports_nothing_heavy():
    # the CLI builds its help from it, so `ichbench --help` stays instant
    tree = ast.parse(Path(status_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "enum"}


def test_cli_default_tolerance_is_the_metrics_default():
    assert DEFAULT_TOLERANCE_MM == METRICS_TOLERANCE == 0.42
