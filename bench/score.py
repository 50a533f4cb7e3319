"""Matching detected event times with annotated ones."""


def f1(predicted: list[float], truth: list[float], tolerance: float) -> dict:
    """One-to-one matching, nearest pairs first, within `tolerance` seconds -> precision, recall, F1 and counts."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)
                   if abs(p - t) <= tolerance)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    hits = len(used_p)
    precision = hits / len(predicted) if predicted else (1.0 if not truth else 0.0)
    recall = hits / len(truth) if truth else 1.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(score, 3), "hits": hits,
            "predicted": len(predicted), "truth": len(truth)}
