"""Reading per-seed score files: one per line, CSV with a column, JSON lists; bad input is one clear error."""

from __future__ import annotations

import pytest

from repaudit.errors import UsageError
from repaudit.model import Claim, Verdict
from repaudit.scores import printed_number, read_scores, scores_audit


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_one_number_per_line_skips_blanks_and_comments(tmp_path):
    path = write(tmp_path, "m.txt", "# seeds 0-2\n0.81\n\n 0.80 \n8.05e-1\n")
    assert read_scores(path) == (0.81, 0.80, 0.805)


def test_csv_column(tmp_path):
    path = write(tmp_path, "m.csv", "seed, acc\n0, 0.81\n1, 0.80\n")
    assert read_scores(path, column="acc") == (0.81, 0.80)  # a space after the comma is no name
    with pytest.raises(UsageError, match="no column 'f1'.*seed, acc"):
        read_scores(path, column="f1")


def test_an_empty_csv_cell_is_a_failed_run_never_dropped(tmp_path):
    # pandas' to_csv writes a NaN score as an empty cell; dropping it would flatter the claim
    path = write(tmp_path, "m.csv", ",seed,acc\n0,0,0.81\n1,1,\n2,2,0.80\n")
    with pytest.raises(UsageError, match=r"m.csv: line 3, column 'acc' is empty; leave failed"):
        read_scores(path, column="acc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("81.2%\n80.5%\n", r"line 1: '81.2%' is not a number; write it without the % sign"),
        (
            "0,81\n0,80\n",
            r"line 1: '0,81' has a decimal comma; write it with a decimal point \(0.81\)",
        ),
    ],
)
def test_percent_signs_and_decimal_commas_name_their_fix(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        read_scores(write(tmp_path, "m.txt", text))


def test_utf16_from_powershell_is_read_and_other_encodings_named(tmp_path):
    path = tmp_path / "u16.txt"
    path.write_bytes("0.81\r\n0.80\r\n".encode("utf-16"))  # with its byte-order mark
    assert read_scores(path) == (0.81, 0.80)
    latin1 = tmp_path / "l1.txt"
    latin1.write_bytes("# r\xe9sultats\n0.81\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"l1.txt: not UTF-8 text \(byte 0xe9 at offset 3\); save"):
        read_scores(latin1)


def test_csv_without_column_says_to_pass_it(tmp_path):
    path = write(tmp_path, "m.csv", "0,0.81\n1,0.80\n")
    with pytest.raises(UsageError, match="--column"):
        read_scores(path)


def test_json_list(tmp_path):
    assert read_scores(write(tmp_path, "m.json", "[0.81, 0.8, 1]")) == (0.81, 0.8, 1.0)
    with pytest.raises(UsageError, match="JSON list"):
        read_scores(write(tmp_path, "d.json", '{"acc": [0.8]}'))
    with pytest.raises(UsageError, match="item 2"):
        read_scores(write(tmp_path, "b.json", "[0.8, true]"))


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity"])
def test_nan_and_inf_are_rejected_not_dropped(tmp_path, bad):
    path = write(tmp_path, "m.txt", f"0.81\n{bad}\n0.80\n")
    with pytest.raises(
        UsageError, match=r"line 2: .* is not a finite score; leave failed runs out"
    ):
        read_scores(path)
    with pytest.raises(UsageError, match="item 2"):
        read_scores(write(tmp_path, "m.json", f'[0.81, "{bad}"]'))


def test_unreadable_empty_and_garbage(tmp_path):
    with pytest.raises(UsageError, match="cannot read scores"):
        read_scores(tmp_path / "missing.txt")
    with pytest.raises(UsageError, match="no scores found"):
        read_scores(write(tmp_path, "e.txt", "\n# nothing\n"))
    with pytest.raises(UsageError, match="line 1: 'acc' is not a number"):
        read_scores(write(tmp_path, "h.txt", "acc\n0.8\n"))


def test_scores_audit_is_a_complete_audit_with_a_stable_id():
    claim = Claim("acc", 0.812, baseline=0.805)
    method, baseline = (0.81, 0.80, 0.805, 0.812, 0.799), (0.80, 0.79, 0.801, 0.795, 0.798)
    audit = scores_audit(claim, method, baseline, alpha=0.05, inputs=["m.txt", "b.txt"])
    assert audit.source is None and audit.fingerprint is None
    assert len(audit.runs) == 10 and all(r.ok for r in audit.runs)
    assert audit.verdict is Verdict.HOLDS and audit.verdict_reason
    again = scores_audit(claim, method, baseline, alpha=0.05, inputs=["m.txt", "b.txt"])
    assert again.audit_id == audit.audit_id and again.results == audit.results
    other = scores_audit(claim, method[:4], baseline, alpha=0.05, inputs=["m.txt", "b.txt"])
    assert other.audit_id != audit.audit_id


@pytest.mark.parametrize(
    ("text", "value", "decimals"),
    [
        ("0.8320", 0.832, 4),
        ("83.25", 83.25, 2),
        (" 1e-3 ", 0.001, 3),
        ("1E3", 1000.0, -3),
        ("7", 7.0, 0),
    ],
)
def test_printed_number_keeps_the_papers_precision(text, value, decimals):
    assert printed_number(text, flag="--claim") == (value, decimals)


@pytest.mark.parametrize(("text", "problem"), [("0.8a", "not a number"), ("nan", "not a finite number"),
                                               ("1e400", "not a finite number")])  # fmt: skip
def test_printed_number_rejects_what_is_not_a_finite_number(text, problem):
    with pytest.raises(UsageError, match=f"--claim: .* is {problem}"):
        printed_number(text, flag="--claim")
