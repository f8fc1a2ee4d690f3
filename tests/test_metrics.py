"""Tests for hpo_widgets.metrics: hand-worked values, corner cases, sklearn cross-checks."""

from __future__ import annotations

import doctest
import json
import math
import pickle
import warnings

import numpy as np
import pytest

from hpo_widgets import metrics as m

# Every corner case must be answered with 0.0 and a flag, never with a warning.
pytestmark = pytest.mark.filterwarnings("error")

ALL_FLAGS = set(m.FLAGS)


def check_score(score, value, flags):
    """A Score with this value (approximately) and exactly these flags, never NaN."""
    assert isinstance(score, m.Score)
    assert not math.isnan(score)
    assert float(score) == pytest.approx(value, abs=1e-12)
    assert set(score.flags) == set(flags), score.flags
    assert set(score.flags) <= ALL_FLAGS


def test_doc_examples_run():
    result = doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 20
    assert result.failed == 0


# ---------------------------------------------------------------------------------------
# hand-worked values


# TP = 3, FN = 1, FP = 2, TN = 4
Y_TRUE = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
Y_PRED = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]


def test_confusion_matrix_binary():
    cm = m.confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.tolist() == [[4, 2], [1, 3]]
    assert cm.dtype == np.int64
    assert m.confusion_matrix(Y_TRUE, Y_PRED, labels=[1, 0]).tolist() == [[3, 1], [2, 4]]


def test_binary_hand_worked():
    check_score(m.accuracy(Y_TRUE, Y_PRED), 0.7, [])
    check_score(m.precision(Y_TRUE, Y_PRED), 3 / 5, [])
    check_score(m.recall(Y_TRUE, Y_PRED), 3 / 4, [])
    check_score(m.f1(Y_TRUE, Y_PRED), 2 / 3, [])
    check_score(m.fbeta(Y_TRUE, Y_PRED, beta=2), 15 / 21, [])
    check_score(m.fbeta(Y_TRUE, Y_PRED, beta=0.5), 0.625, [])
    check_score(m.fbeta(Y_TRUE, Y_PRED, beta=1), 2 / 3, [])
    check_score(m.balanced_accuracy(Y_TRUE, Y_PRED), (3 / 4 + 4 / 6) / 2, [])
    check_score(m.matthews_corrcoef(Y_TRUE, Y_PRED), 10 / math.sqrt(600), [])


def test_pos_label_swaps_the_positive_class():
    # with 0 as the positive class: TP = 4, FN = 2, FP = 1
    check_score(m.precision(Y_TRUE, Y_PRED, pos_label=0), 4 / 5, [])
    check_score(m.recall(Y_TRUE, Y_PRED, pos_label=0), 4 / 6, [])
    check_score(m.f1(Y_TRUE, Y_PRED, pos_label=0), 8 / 11, [])


def test_string_labels_with_pos_label():
    t = ["ham", "spam", "spam", "ham"]
    p = ["ham", "spam", "ham", "ham"]
    check_score(m.f1(t, p, pos_label="spam"), 2 / 3, [])
    check_score(m.recall(t, p, pos_label="ham"), 1.0, [])
    with pytest.raises(ValueError, match="pos_label"):
        m.f1(t, p)  # pos_label=1 is not a class


# y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2]
# confusion [[2,1,0],[0,1,1],[0,0,1]]; TP = [2,1,1], FP = [0,1,1], FN = [1,1,0], support 3,2,1
MC_TRUE = [0, 0, 0, 1, 1, 2]
MC_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_matrix_multiclass():
    assert m.confusion_matrix(MC_TRUE, MC_PRED).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize(
    ("fn", "average", "expected"),
    [
        (m.precision, "macro", (1 + 0.5 + 0.5) / 3),
        (m.precision, "weighted", (3 * 1 + 2 * 0.5 + 1 * 0.5) / 6),
        (m.precision, "micro", 4 / 6),
        (m.recall, "macro", (2 / 3 + 1 / 2 + 1) / 3),
        (m.recall, "weighted", 4 / 6),
        (m.recall, "micro", 4 / 6),
        (m.f1, "macro", (4 / 5 + 2 / 4 + 2 / 3) / 3),
        (m.f1, "weighted", (3 * 4 / 5 + 2 * 2 / 4 + 1 * 2 / 3) / 6),
        (m.f1, "micro", 4 / 6),
        (m.f1, "auto", (4 / 5 + 2 / 4 + 2 / 3) / 3),  # auto -> macro for three classes
    ],
)
def test_multiclass_averages(fn, average, expected):
    check_score(fn(MC_TRUE, MC_PRED, average=average), expected, [])


def test_multiclass_fbeta_balanced_accuracy_mcc():
    # F2 per class: 5TP / (5TP + 4FN + FP)
    f2 = (10 / 14 + 5 / 10 + 5 / 6) / 3
    check_score(m.fbeta(MC_TRUE, MC_PRED, beta=2, average="macro"), f2, [])
    check_score(m.balanced_accuracy(MC_TRUE, MC_PRED), (2 / 3 + 1 / 2 + 1) / 3, [])
    # Gorodkin: (c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) = 12 / sqrt(24 * 22)
    check_score(m.matthews_corrcoef(MC_TRUE, MC_PRED), 12 / math.sqrt(24 * 22), [])
    check_score(m.accuracy(MC_TRUE, MC_PRED), 4 / 6, [])


def test_binary_average_refuses_multiclass():
    with pytest.raises(ValueError, match="average='binary'.*'macro'"):
        m.f1(MC_TRUE, MC_PRED)
    with pytest.raises(ValueError, match="average"):
        m.precision(MC_TRUE, MC_PRED, average="samples")
    with pytest.raises(ValueError, match="average"):
        m.precision(MC_TRUE, MC_PRED, average=None)


def test_multiclass_class_never_predicted():
    # class 2 is never predicted: its precision is 0/0 -> 0, flagged; F1 still defined
    t = [0, 1, 2, 2]
    p = [0, 1, 1, 1]
    flags = ["no_positive_prediction", "no_true_positives"]
    check_score(
        m.precision(t, p, average="macro"), (1 + 1 / 3 + 0) / 3, [*flags, "undefined_precision"]
    )
    check_score(m.recall(t, p, average="macro"), (1 + 1 + 0) / 3, flags)
    check_score(m.f1(t, p, average="macro"), (1 + 2 / 4 + 0) / 3, flags)
    # micro pools the counts: nothing is 0/0
    check_score(m.precision(t, p, average="micro"), 2 / 4, flags)


def test_labels_extend_the_class_set():
    # class 3 named in labels but absent everywhere: 0/0 in macro averages, flagged
    s = m.recall([0, 1, 2], [0, 1, 2], average="macro", labels=[0, 1, 2, 3])
    check_score(
        s,
        3 / 4,
        ["no_positive_truth", "no_positive_prediction", "no_true_positives", "undefined_recall"],
    )
    # weighted gives an absent class weight 0, so its 0/0 recall changes nothing
    s = m.recall([0, 1, 2], [0, 1, 2], average="weighted", labels=[0, 1, 2, 3])
    check_score(s, 1.0, ["no_positive_truth", "no_positive_prediction", "no_true_positives"])
    # balanced accuracy leaves a class without truth out of its mean
    check_score(
        m.balanced_accuracy([0, 1, 2], [0, 1, 2], labels=[0, 1, 2, 3]), 1.0, ["no_positive_truth"]
    )


# ---------------------------------------------------------------------------------------
# corner cases: 0/0 -> 0.0 plus flags, never NaN, never a warning

CP = "constant_prediction"
SCT = "single_class_truth"
NPT = "no_positive_truth"
NPP = "no_positive_prediction"
NTP = "no_true_positives"

CORNER_CASES = {
    # predictions all zeros: TP = FP = 0, FN = 2, TN = 2
    "all_zeros": (
        [0, 1, 0, 1],
        [0, 0, 0, 0],
        {
            "precision": (0.0, [CP, NPP, NTP, "undefined_precision"]),
            "recall": (0.0, [CP, NPP, NTP]),
            "f1": (0.0, [CP, NPP, NTP]),
            "fbeta2": (0.0, [CP, NPP, NTP]),
            "balanced_accuracy": (0.5, [CP]),
            "mcc": (0.0, [CP, "undefined_mcc"]),
            "accuracy": (0.5, [CP]),
        },
    ),
    # predictions all ones: TP = 2, FP = 2, FN = 0, TN = 0
    "all_ones": (
        [0, 1, 0, 1],
        [1, 1, 1, 1],
        {
            "precision": (0.5, [CP]),
            "recall": (1.0, [CP]),
            "f1": (2 / 3, [CP]),
            "fbeta2": (5 / 6, [CP]),
            "balanced_accuracy": (0.5, [CP]),
            "mcc": (0.0, [CP, "undefined_mcc"]),
            "accuracy": (0.5, [CP]),
        },
    ),
    # no positives in the truth, one false positive: recall is 0/0
    "no_positive_truth": (
        [0, 0, 0, 0],
        [0, 1, 0, 0],
        {
            "precision": (0.0, [SCT, NPT, NTP]),
            "recall": (0.0, [SCT, NPT, NTP, "undefined_recall"]),
            "f1": (0.0, [SCT, NPT, NTP]),
            "fbeta2": (0.0, [SCT, NPT, NTP]),
            "balanced_accuracy": (0.75, [SCT, NPT]),
            "mcc": (0.0, [SCT, "undefined_mcc"]),
            "accuracy": (0.75, [SCT]),
        },
    ),
    # no positive anywhere: precision, recall and F1 are all 0/0
    "no_positive_anywhere": (
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        {
            "precision": (0.0, [CP, SCT, NPT, NPP, NTP, "undefined_precision"]),
            "recall": (0.0, [CP, SCT, NPT, NPP, NTP, "undefined_recall"]),
            "f1": (0.0, [CP, SCT, NPT, NPP, NTP, "undefined_f1"]),
            "fbeta2": (0.0, [CP, SCT, NPT, NPP, NTP, "undefined_fbeta"]),
            "balanced_accuracy": (1.0, [CP, SCT]),
            "mcc": (0.0, [CP, SCT, "undefined_mcc"]),
            "accuracy": (1.0, [CP, SCT]),
        },
    ),
    # every prediction wrong: TP = 0 but every ratio is defined
    "no_true_positives": (
        [1, 1, 0, 0],
        [0, 0, 1, 1],
        {
            "precision": (0.0, [NTP]),
            "recall": (0.0, [NTP]),
            "f1": (0.0, [NTP]),
            "fbeta2": (0.0, [NTP]),
            "balanced_accuracy": (0.0, []),
            "mcc": (-1.0, []),
            "accuracy": (0.0, []),
        },
    ),
    # a single class present in truth and prediction
    "single_class": (
        [1, 1, 1],
        [1, 1, 1],
        {
            "precision": (1.0, [CP, SCT]),
            "recall": (1.0, [CP, SCT]),
            "f1": (1.0, [CP, SCT]),
            "fbeta2": (1.0, [CP, SCT]),
            "balanced_accuracy": (1.0, [CP, SCT]),
            "mcc": (0.0, [CP, SCT, "undefined_mcc"]),
            "accuracy": (1.0, [CP, SCT]),
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CORNER_CASES))
def test_corner_cases(case):
    y_true, y_pred, expected = CORNER_CASES[case]
    for name, (value, flags) in expected.items():
        if name == "fbeta2":
            score = m.fbeta(y_true, y_pred, beta=2)
        else:
            score = m.METRICS[name](y_true, y_pred)
        check_score(score, value, flags)


@pytest.mark.parametrize("case", sorted(CORNER_CASES))
def test_corner_cases_in_report(case):
    y_true, y_pred, expected = CORNER_CASES[case]
    report = m.classification_report(y_true, y_pred, beta=2)
    for name, (value, flags) in expected.items():
        assert report["fbeta" if name == "fbeta2" else name] == pytest.approx(value)
        assert set(flags) <= set(report["flags"])
    assert not any(isinstance(v, float) and math.isnan(v) for v in report.values())


def test_single_class_multiclass_average():
    check_score(m.f1([2, 2, 2], [2, 2, 2], average="macro"), 1.0, [CP, SCT])
    # class 1 only predicted: its recall is 0/0
    check_score(
        m.recall([2, 2, 2], [2, 2, 1], average="macro"),
        (0 + 2 / 3) / 2,
        [SCT, NPT, NTP, "undefined_recall"],
    )


def test_no_numpy_floating_point_warnings():
    with np.errstate(all="raise"):
        for y_true, y_pred, _ in CORNER_CASES.values():
            m.classification_report(y_true, y_pred, y_score=np.asarray(y_pred, dtype=float))


# ---------------------------------------------------------------------------------------
# Score


def test_score_is_a_float_with_flags():
    s = m.precision([0, 1], [0, 0])
    assert isinstance(s, float)
    assert s == 0.0 and s + 1 == 1.0 and type(s + 1) is float
    assert s.flags == tuple(sorted(s.flags))
    assert "undefined_precision" in repr(s) and str(s) == "0.0"
    assert json.loads(json.dumps({"v": s})) == {"v": 0.0}
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.flags == s.flags and isinstance(back, m.Score)
    assert repr(m.Score(0.25)) == "0.25"
    assert f"{m.Score(0.25, ['x']):.1f}" == "0.2"


# ---------------------------------------------------------------------------------------
# input forms


def test_to_labels_forms():
    assert m.to_labels([0, 1, 1]).tolist() == [0, 1, 1]
    assert m.to_labels([0.0, 1.0, 2.0]).tolist() == [0, 1, 2]
    assert m.to_labels([True, False]).tolist() == [1, 0]
    assert m.to_labels([0.2, 0.5, 0.51, 0.9]).tolist() == [0, 0, 1, 1]  # p > threshold
    assert m.to_labels([0.2, 0.5, 0.9], threshold=0.3).tolist() == [0, 1, 1]
    assert m.to_labels([[0.2], [0.7]]).tolist() == [0, 1]  # sigmoid output (n, 1)
    assert m.to_labels([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]).tolist() == [1, 0]
    assert m.to_labels([[-1.0, 3.0], [2.0, -5.0]]).tolist() == [1, 0]  # 2-D logits
    assert m.to_labels([-3.0, 0.5, 2.0], logits=True).tolist() == [0, 1, 1]
    assert m.to_labels([-3.0, 0.5], logits=True, threshold=0.7).tolist() == [0, 0]
    assert m.to_labels(["a", "b"]).tolist() == ["a", "b"]


def test_to_labels_rejects_1d_logits_without_flag():
    with pytest.raises(ValueError, match="logits"):
        m.to_labels([-1.5, 0.3, 2.2])


def test_probabilities_and_one_hot_inputs_match_labels():
    labels = np.array([0, 1, 1, 0, 1, 0])
    proba = np.array([0.1, 0.8, 0.4, 0.3, 0.9, 0.6])  # thresholded: [0, 1, 0, 0, 1, 1]
    hard = (proba > 0.5).astype(int)
    matrix = np.stack([1 - proba, proba], axis=1)
    one_hot = np.eye(2)[labels]
    for fn in (m.precision, m.recall, m.f1, m.balanced_accuracy, m.matthews_corrcoef, m.accuracy):
        expected = fn(labels, hard)
        assert fn(labels, proba) == expected
        assert fn(labels, proba[:, None]) == expected
        assert fn(labels, matrix) == expected
        assert fn(one_hot, matrix) == expected
        assert fn(labels.astype(float), hard.astype(bool)) == expected


def test_two_d_labels_name_the_columns():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    t = ["cat", "dog", "dog"]
    s = m.recall(t, proba, average="macro", labels=["cat", "dog", "eel"])
    check_score(s, (1 + 1 / 2 + 0) / 3, [NPT, NTP, "undefined_recall"])
    with pytest.raises(ValueError, match="columns"):
        m.recall(t, proba, average="macro", labels=["cat", "dog"])


# ---------------------------------------------------------------------------------------
# bad input


def test_error_mismatched_lengths():
    with pytest.raises(ValueError, match=r"y_true has 3 samples but y_pred has 2"):
        m.f1([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"y_true has 2 samples but y_score has 3"):
        m.pr_auc([0, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("arg", ["y_true", "y_pred"])
def test_error_empty(arg):
    kwargs = {"y_true": [0, 1], "y_pred": [0, 1], arg: []}
    with pytest.raises(ValueError, match=f"{arg} is empty"):
        m.precision(**kwargs)


def test_error_nan():
    with pytest.raises(
        ValueError, match=r"y_pred contains NaN \(1 of 3 values, first at index 1\)"
    ):
        m.f1([0, 1, 1], [0.2, float("nan"), 0.7])
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        m.accuracy([0, 1], [[0.5, 0.5], [np.nan, 0.1]])
    with pytest.raises(ValueError, match="y_score contains NaN"):
        m.pr_auc([0, 1], [0.5, np.nan])
    with pytest.raises(ValueError, match="y_true contains NaN"):
        m.recall([0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="y_pred contains infinite"):
        m.recall([0, 1], [0, np.inf])
    with pytest.raises(ValueError, match="y_pred contains missing values"):
        m.recall([0, 1], [0, None])


def test_error_other_bad_input():
    with pytest.raises(ValueError, match="y_true must hold class labels"):
        m.f1([0.2, 0.9], [0, 1])
    with pytest.raises(ValueError, match="beta"):
        m.fbeta([0, 1], [0, 1], beta=0)
    with pytest.raises(ValueError, match="beta"):
        m.fbeta([0, 1], [0, 1], beta=float("nan"))
    with pytest.raises(ValueError, match="threshold"):
        m.f1([0, 1], [0.2, 0.7], threshold=1.5)
    with pytest.raises(ValueError, match="y_pred must be 1-D or 2-D"):
        m.f1([0, 1], np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="y_true must be a 1-D array"):
        m.f1(1, [1])
    with pytest.raises(ValueError, match="y_pred contains label 5"):
        m.f1([0, 1], [0, 5], labels=[0, 1])
    with pytest.raises(ValueError, match="different label types"):
        m.f1(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="labels must not repeat"):
        m.f1([0, 1], [0, 1], labels=[0, 1, 1])
    with pytest.raises(ValueError, match="pos_label=3"):
        m.precision([0, 1], [0, 1], pos_label=3)


# ---------------------------------------------------------------------------------------
# PR-AUC


def test_pr_auc_hand_worked():
    # ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = 0.5 * 1 + 0.5 * 2/3
    check_score(m.pr_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 5 / 6, [])
    check_score(m.pr_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]), 1.0, [])
    # worst ranking: AP = 0.5 * 1/3 + 0.5 * 2/4
    check_score(m.pr_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]), 0.5 / 3 + 0.5 / 2, [])


def test_pr_auc_ties_enter_together():
    # the tied pair at 0.5 holds one positive and one negative; taken as a block:
    # (R 0.5, P 1), (R 1, P 2/3) -> 0.5 + 0.5 * 2/3, whatever the order of the pair
    check_score(m.pr_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]), 5 / 6, [])
    check_score(m.pr_auc([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]), 5 / 6, [])


def test_pr_auc_corner_cases():
    # a constant score ranks nothing: AP equals the positive rate
    check_score(m.pr_auc([0, 0, 0, 1], [0.3, 0.3, 0.3, 0.3]), 0.25, ["constant_score"])
    # no positive in the truth: 0/0 -> 0.0
    check_score(
        m.pr_auc([0, 0, 0], [0.1, 0.5, 0.9]),
        0.0,
        [SCT, NPT, "undefined_pr_auc"],
    )
    check_score(m.pr_auc([1, 1], [0.1, 0.5]), 1.0, [SCT])
    with pytest.raises(ValueError, match="2-D"):
        m.pr_auc([0, 1, 2], [0.1, 0.5, 0.9])


# y_true = [0, 1, 2, 2]; per-class AP: class 0 -> 1, class 1 -> 1/2 (tie), class 2 -> 5/6
PR_TRUE = [0, 1, 2, 2]
PR_SCORE = [[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.1, 0.3, 0.6], [0.5, 0.1, 0.4]]


def test_pr_auc_multiclass_hand_worked():
    check_score(m.pr_auc(PR_TRUE, PR_SCORE, average="macro"), (1 + 1 / 2 + 5 / 6) / 3, [])
    check_score(m.pr_auc(PR_TRUE, PR_SCORE, average="weighted"), (1 + 1 / 2 + 2 * 5 / 6) / 4, [])
    check_score(m.pr_auc(PR_TRUE, PR_SCORE, average="auto"), (1 + 1 / 2 + 5 / 6) / 3, [])
    # micro pools the 12 one-vs-rest pairs; positives at 0.7, 0.6, 0.4, 0.3
    check_score(m.pr_auc(PR_TRUE, PR_SCORE, average="micro"), 0.25 * (2 + 0.6 + 4 / 7), [])
    check_score(m.pr_auc(np.eye(3)[PR_TRUE], PR_SCORE, average="macro"), 7 / 9, [])
    named = m.pr_auc(["a", "b", "c", "c"], PR_SCORE, average="macro", labels=["a", "b", "c"])
    check_score(named, 7 / 9, [])
    with pytest.raises(ValueError, match="average='binary'"):
        m.pr_auc(PR_TRUE, PR_SCORE)


def test_pr_auc_multiclass_class_without_truth():
    s = m.pr_auc([0, 1, 1], [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3]], average="macro")
    check_score(s, (1 + 1 + 0) / 3, [NPT, "undefined_pr_auc"])


def test_pr_auc_two_column_scores_use_pos_label_column():
    proba = np.array([0.1, 0.4, 0.35, 0.8])
    matrix = np.stack([1 - proba, proba], axis=1)
    assert m.pr_auc([0, 0, 1, 1], matrix) == pytest.approx(5 / 6)
    assert m.pr_auc([0, 0, 1, 1], proba[:, None]) == pytest.approx(5 / 6)
    # class 0 as positive: its column 0.9(+) 0.65(-) 0.6(+) 0.2(-) -> 0.5 * 1 + 0.5 * 2/3
    assert m.pr_auc([0, 0, 1, 1], matrix, pos_label=0) == pytest.approx(5 / 6)
    # columns that rank differently; class 0: 0.9(+) 0.8(-) 0.7(-) 0.6(+)
    matrix = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    assert m.pr_auc([0, 1, 1, 0], matrix, pos_label=0) == pytest.approx(0.5 * 1 + 0.5 * 2 / 4)
    # class 1: 0.4(-) 0.3(+) 0.2(+) 0.1(-)
    assert m.pr_auc([0, 1, 1, 0], matrix) == pytest.approx(0.5 * 1 / 2 + 0.5 * 2 / 3)


# ---------------------------------------------------------------------------------------
# cross-check against scikit-learn


def _sk(fn, *args, **kwargs):
    """Call sklearn with its own warnings silenced (ours are errors in this module)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _random_cases(k):
    rng = np.random.default_rng(1234 + k)
    for n, rate in ((200, None), (300, 0.05), (60, None)):
        if rate is None:
            y_true = rng.integers(0, k, n)
        else:  # imbalanced: one class rare
            y_true = (rng.random(n) < rate).astype(int) * (k - 1)
            y_true[:k] = np.arange(k)
        y_pred = rng.integers(0, k, n)
        yield y_true, y_pred
        yield y_true, np.zeros(n, dtype=int)  # constant predictor
        yield y_true, np.where(rng.random(n) < 0.8, y_true, y_pred)  # a decent model
        yield y_true, rng.integers(0, max(k - 1, 1), n)  # the last class never predicted


@pytest.mark.parametrize("k", [2, 4])
def test_cross_check_sklearn_labels(k):
    skm = pytest.importorskip("sklearn.metrics")
    averages = (
        ["binary", "macro", "micro", "weighted"] if k == 2 else ["macro", "micro", "weighted"]
    )
    for y_true, y_pred in _random_cases(k):
        for avg in averages:
            kw = {"average": avg, "zero_division": 0}
            assert m.precision(y_true, y_pred, average=avg) == pytest.approx(
                _sk(skm.precision_score, y_true, y_pred, **kw)
            )
            assert m.recall(y_true, y_pred, average=avg) == pytest.approx(
                _sk(skm.recall_score, y_true, y_pred, **kw)
            )
            assert m.f1(y_true, y_pred, average=avg) == pytest.approx(
                _sk(skm.f1_score, y_true, y_pred, **kw)
            )
            for beta in (0.5, 2.0):
                assert m.fbeta(y_true, y_pred, beta, average=avg) == pytest.approx(
                    _sk(skm.fbeta_score, y_true, y_pred, beta=beta, **kw)
                )
        assert m.balanced_accuracy(y_true, y_pred) == pytest.approx(
            _sk(skm.balanced_accuracy_score, y_true, y_pred)
        )
        assert m.matthews_corrcoef(y_true, y_pred) == pytest.approx(
            _sk(skm.matthews_corrcoef, y_true, y_pred), abs=1e-12
        )
        assert m.accuracy(y_true, y_pred) == pytest.approx(_sk(skm.accuracy_score, y_true, y_pred))
        assert np.array_equal(
            m.confusion_matrix(y_true, y_pred), _sk(skm.confusion_matrix, y_true, y_pred)
        )


def test_cross_check_sklearn_average_precision_binary():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    for n, rate in ((100, 0.5), (400, 0.03), (50, 0.2)):
        y = (rng.random(n) < rate).astype(int)
        y[0] = 1
        noisy = y * 0.3 + rng.random(n)
        for score in (noisy, np.round(noisy, 1), rng.random(n)):  # rounding makes ties
            assert m.pr_auc(y, score) == pytest.approx(
                _sk(skm.average_precision_score, y, score), abs=1e-12
            )
            assert m.pr_auc(1 - y, -score, pos_label=1) == pytest.approx(
                _sk(skm.average_precision_score, 1 - y, -score), abs=1e-12
            )


def test_cross_check_sklearn_average_precision_multiclass():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(11)
    for n, k in ((120, 3), (300, 5)):
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)
        raw = rng.random((n, k)) + 0.5 * np.eye(k)[y]
        proba = np.round(raw / raw.sum(axis=1, keepdims=True), 2)
        for avg in ("macro", "weighted", "micro"):
            assert m.pr_auc(y, proba, average=avg) == pytest.approx(
                _sk(skm.average_precision_score, y, proba, average=avg), abs=1e-12
            )


# ---------------------------------------------------------------------------------------
# baselines and degenerate models


def test_baseline_scores():
    imbalanced = [0] * 98 + [1] * 2
    assert m.baseline_score("accuracy", imbalanced) == pytest.approx(0.98)
    assert m.baseline_score("val_acc", imbalanced) == pytest.approx(0.98)
    assert m.baseline_score("f1", imbalanced) == 0.0  # majority predictor never says 1
    assert m.baseline_score("precision", imbalanced) == 0.0
    assert m.baseline_score("balanced_accuracy", imbalanced) == 0.5
    assert m.baseline_score("mcc", imbalanced) == 0.0
    assert m.baseline_score("pr_auc", imbalanced) == pytest.approx(0.02)
    # positives are the majority: always predicting 1
    assert m.baseline_score("f1", [1, 1, 1, 0]) == pytest.approx(6 / 7)
    assert m.baseline_score("precision", [1, 1, 1, 0]) == pytest.approx(0.75)
    assert m.baseline_score("recall", [1, 1, 1, 0]) == 1.0
    assert m.baseline_score("fbeta", [1, 1, 1, 0], beta=2) == pytest.approx(15 / 16)
    # a tie goes in the baseline's favour
    assert m.baseline_score("f1", [0, 0, 1, 1]) == pytest.approx(2 / 3)


def test_baseline_scores_multiclass():
    y = [0, 0, 0, 1, 2]
    assert m.baseline_score("balanced_accuracy", y) == pytest.approx(1 / 3)
    # predicting 0 always: class 0 F1 = 2*3 / (2*3 + 2) = 0.75, others 0
    assert m.baseline_score("f1", y, average="macro") == pytest.approx(0.25)
    assert m.baseline_score("f1", y, average="micro") == pytest.approx(0.6)
    assert m.baseline_score("pr_auc", y, average="macro") == pytest.approx(1 / 3)
    assert m.baseline_score("pr_auc", y, average="weighted") == pytest.approx(0.36 + 0.04 + 0.04)
    # baselines equal the score of the majority predictor
    for name in ("f1", "precision", "recall", "balanced_accuracy", "accuracy", "mcc"):
        fn = m.get_metric(name)
        kw = {"average": "macro"} if name in ("f1", "precision", "recall") else {}
        assert m.baseline_score(name, y, **kw) == pytest.approx(fn(y, [0] * 5, **kw))
    for name in m.METRICS:
        kw = {} if name in ("accuracy", "balanced_accuracy", "mcc") else {"average": "macro"}
        assert type(m.baseline_score(name, y, **kw)) is float
    with pytest.raises(ValueError, match="no baseline"):
        m.baseline_score("val_loss", y)


def test_degenerate_flags_constant_predictor():
    y = [0] * 95 + [1] * 5
    constant = [0] * 100
    acc = m.accuracy(y, constant)
    assert acc == 0.95
    assert m.degenerate_flags(y, constant, acc, "val_accuracy") == [
        "constant_prediction",
        "majority_class_prediction",
        "no_better_than_baseline",
    ]
    assert m.degenerate_flags(y, constant, m.f1(y, constant), "f1") == [
        "constant_prediction",
        "majority_class_prediction",
        "no_better_than_baseline",
    ]
    assert "no_better_than_baseline" in m.degenerate_flags(y, constant, 0.0, "val_mcc")
    assert "no_better_than_baseline" in m.degenerate_flags(y, constant, 0.5, "balanced_accuracy")
    # always predicting the minority class is constant but not the majority class
    assert m.degenerate_flags(y, [1] * 100) == ["constant_prediction"]


def test_degenerate_flags_good_model_and_other_metrics():
    y = [0] * 95 + [1] * 5
    good = [0] * 94 + [1] * 6
    assert m.degenerate_flags(y, good, m.f1(y, good), "val_f1") == []
    assert m.degenerate_flags(y, good, m.accuracy(y, good), "val_accuracy") == []
    assert m.degenerate_flags(y, good, 0.1, "val_loss") == []  # losses have no baseline
    assert m.degenerate_flags(y, good, 0.1, "my_custom_metric") == []
    assert m.degenerate_flags(y, None, float("nan"), "val_f1") == ["nan_metric"]
    assert m.degenerate_flags(y, metric_value=0.95, metric_name="accuracy") == [
        "no_better_than_baseline"
    ]
    with pytest.raises(ValueError, match="metric_name"):
        m.degenerate_flags(y, good, 0.5)


# ---------------------------------------------------------------------------------------
# imbalance warning


def _two_percent_positives():
    """An imbalanced binary set: 7 positives in 350 samples (2.0%)."""
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_breast_cancer()  # bundled with sklearn, no download
    malignant = np.flatnonzero(data.target == 0)[:7]
    benign = np.flatnonzero(data.target == 1)[:343]
    idx = np.r_[benign, malignant]
    y = (data.target[idx] == 0).astype(int)  # malignant is the positive class
    return data.data[idx], y


def _generated_two_percent():
    rng = np.random.default_rng(3)
    y = np.zeros(350, dtype=int)
    y[rng.choice(350, 7, replace=False)] = 1
    return rng.normal(size=(350, 3)) + y[:, None], y


@pytest.mark.parametrize("source", ["breast_cancer", "generated"])
def test_imbalance_warning_two_percent(source):
    x, y = _two_percent_positives() if source == "breast_cancer" else _generated_two_percent()
    assert y.mean() == pytest.approx(0.02)
    message = m.imbalance_warning(y, "val_accuracy")
    assert message is not None
    assert "2.0%" in message and "7 of 350" in message and "0.980" in message
    assert "'f1'" in message and "'balanced_accuracy'" in message
    assert m.imbalance_warning(y, "accuracy") is not None
    assert m.imbalance_warning(y, "val_f1") is None
    assert m.imbalance_warning(y, "balanced_accuracy") is None
    assert m.imbalance_warning(y, "val_loss") is None

    # the trap the warning is about: a model that never finds a positive
    never = np.zeros_like(y)
    report = m.classification_report(y, never, metric="val_accuracy")
    assert report["accuracy"] == pytest.approx(0.98)
    assert report["f1"] == 0.0 and report["balanced_accuracy"] == 0.5 and report["mcc"] == 0.0
    assert {
        "constant_prediction",
        "majority_class_prediction",
        "no_better_than_baseline",
        "undefined_precision",
        "undefined_mcc",
    } <= set(report["flags"])
    assert report["warnings"] == [m.imbalance_warning(y, "accuracy")]

    # a simple rule on the features does find them, and nothing is flagged as degenerate
    score = x[:, 0] if source == "breast_cancer" else x.sum(axis=1)
    ranked = score >= np.sort(score)[-7]
    rule_flags = m.degenerate_flags(y, ranked.astype(int), m.f1(y, ranked), "val_f1")
    assert rule_flags == []


def test_imbalance_warning_balanced_and_single_class():
    assert m.imbalance_warning([0, 1] * 10, "accuracy") is None
    assert m.imbalance_warning([0] * 91 + [1] * 9, "accuracy") is not None
    assert m.imbalance_warning([0] * 91 + [1] * 9, "accuracy", min_fraction=0.05) is None
    assert "single class" in m.imbalance_warning([1, 1, 1], "accuracy")
    # a one-hot truth whose third class never occurs
    assert "class 2 is 0.0%" in m.imbalance_warning(np.eye(3)[[0, 1, 0, 1]], "accuracy")


# ---------------------------------------------------------------------------------------
# registry and direction


def test_registry():
    assert set(m.METRICS) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "fbeta",
        "balanced_accuracy",
        "mcc",
        "pr_auc",
    }
    assert m.get_metric("val_f1") is m.f1
    assert m.get_metric("test_matthews_corrcoef") is m.matthews_corrcoef
    assert m.get_metric("average_precision") is m.pr_auc
    assert m.get_metric("val_binary_accuracy") is m.accuracy
    with pytest.raises(ValueError, match="unknown metric 'val_speed'"):
        m.get_metric("val_speed")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("f1", True),
        ("val_f1", True),
        ("test_accuracy", True),
        ("val_balanced_accuracy", True),
        ("val_mcc", True),
        ("pr_auc", True),
        ("val_auc", True),
        ("val_sparse_categorical_accuracy", True),
        ("f1_macro", True),
        ("val_f2", True),
        ("precision_at_5", True),
        ("loss", False),
        ("val_loss", False),
        ("test_mse", False),
        ("val_mae", False),
        ("mean_squared_error", False),
        ("val_error_rate", False),
        ("val_binary_crossentropy", False),
        ("rmse", False),
        ("f1_loss", False),
        ("speed", None),
        ("val_throughput", None),
    ],
)
def test_higher_is_better(name, expected):
    assert m.higher_is_better(name) is expected


# ---------------------------------------------------------------------------------------
# classification_report


def test_report_binary_from_probabilities():
    proba = [0.1, 0.8, 0.4, 0.3, 0.9, 0.6]
    y = [0, 1, 1, 0, 1, 0]
    report = m.classification_report(y, proba, beta=2)
    hard = [0, 1, 0, 0, 1, 1]
    assert report["n"] == 6 and report["classes"] == [0, 1] and report["average"] == "binary"
    assert report["precision"] == m.precision(y, hard)
    assert report["recall"] == m.recall(y, hard)
    assert report["f1"] == m.f1(y, hard)
    assert report["fbeta"] == m.fbeta(y, hard, beta=2) and report["beta"] == 2.0
    assert report["balanced_accuracy"] == m.balanced_accuracy(y, hard)
    assert report["mcc"] == m.matthews_corrcoef(y, hard)
    assert report["pr_auc"] == m.pr_auc(y, proba)  # probabilities double as scores
    assert report["support"] == {0: 3, 1: 3}
    assert report["per_class"][1] == {
        "precision": 2 / 3,
        "recall": 2 / 3,
        "f1": 2 / 3,
        "support": 3,
    }
    assert report["baseline"]["accuracy"] == 0.5 and report["baseline"]["mcc"] == 0.0
    assert report["flags"] == [] and report["warnings"] == []
    json.dumps(report)  # plain Python values only
    assert all(type(report[k]) is float for k in ("precision", "recall", "f1", "mcc", "pr_auc"))


def test_report_inputs():
    y = [0, 1, 1, 0]
    assert m.classification_report(y, [0, 1, 0, 0])["pr_auc"] is None  # labels are not scores
    r = m.classification_report(y, y_score=[0.2, 0.9, 0.6, 0.1])
    assert r["f1"] == 1.0 and r["pr_auc"] == 1.0
    r = m.classification_report(y, [0, 1, 0, 0], y_score=[0.2, 0.9, 0.6, 0.1])
    assert r["recall"] == 0.5 and r["pr_auc"] == 1.0
    with pytest.raises(ValueError, match="y_pred"):
        m.classification_report(y)


def test_report_multiclass():
    r = m.classification_report(MC_TRUE, MC_PRED, average="macro")
    assert r["f1"] == pytest.approx((4 / 5 + 2 / 4 + 2 / 3) / 3)
    assert r["per_class"][2] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert "pos_label" not in r
    r = m.classification_report(PR_TRUE, PR_SCORE, average="auto")
    assert r["average"] == "macro" and r["pr_auc"] == pytest.approx(7 / 9)
    assert r["accuracy"] == 0.5  # argmax: [0, 2, 2, 0]
    with pytest.raises(ValueError, match="average='binary'"):
        m.classification_report(MC_TRUE, MC_PRED)
    with pytest.raises(ValueError, match="metric 'val_speed'"):
        m.classification_report(MC_TRUE, MC_PRED, average="macro", metric="val_speed")


def test_batch_confusion_matrices_add_up_to_the_full_set():
    rng = np.random.default_rng(5)
    y = (rng.random(1000) < 0.05).astype(int)
    p = np.where(rng.random(1000) < 0.5, y, 0)
    total = sum(
        m.confusion_matrix(y[i : i + 100], p[i : i + 100], labels=[0, 1])
        for i in range(0, 1000, 100)
    )
    assert np.array_equal(total, m.confusion_matrix(y, p))
    # and the mean of per-batch F1 is not the F1 of the whole set
    per_batch = [float(m.f1(y[i : i + 100], p[i : i + 100])) for i in range(0, 1000, 100)]
    assert np.mean(per_batch) != pytest.approx(float(m.f1(y, p)))
