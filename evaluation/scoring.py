"""Scoring a benchmark's answers as its own scripts do: reading the answer (a letter, a count, yes or no) and the
accuracy per task, per group and overall (OVO-Bench: means of means; StreamingBench: over questions)."""
import re
import statistics
from dataclasses import dataclass, field

from evaluation.benchmarks import LETTERS, OVO_GROUPS, STREAMINGBENCH_GROUPS


# ---- reading answers -----------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


_MARKS = r"\s.,;:!?()\[\]\"'*`_-"     # spaces and ASCII punctuation that may surround a letter


def parse_letter(text: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The option letter an answer gives, or None: "B", "(B)", "B.", "B) A map", "**B**", "The answer is B",
    "Answer: (C)", "I think it is C because ...", or one option's own text ("A map."). Only the letters of the
    options count; "A" and "I" followed by a word in lower case are English ("A man walks"), not answers; two
    different letters standing alone is no answer."""
    letters = LETTERS[:len(options)]
    s = text.strip().strip("*_`\"' ")
    one = f"[{letters}]"
    whole = re.fullmatch(rf"[{_MARKS}]*([A-Za-z])[{_MARKS}]*", s)    # the answer is one letter, in either case
    if whole and whole.group(1).upper() in letters:
        return whole.group(1).upper()
    for pattern in (rf"^[(\[]?({one})[)\]]?(?:[.:,;)]|\s+[-–]|$)",   # leads with it: "B.", "(B)", "B) ..."
                    rf"(?i:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*[(\[]?({one})(?![A-Za-z0-9])",
                    rf"[(\[]({one})[)\]]"):                          # bracketed anywhere
        m = re.search(pattern, s)
        if m:
            return m.group(1)
    by_text = [letters[i] for i, o in enumerate(options) if _norm(o) and _norm(o) == _norm(s)]
    if len(by_text) == 1:
        return by_text[0]
    # Standing alone: between spaces or punctuation (noise such as "2o\ufffdC\ufffd" names no letter).
    alone = {m.group(1) for m in re.finditer(rf"(?:^|(?<=[\s({{\[\"*]))({one})(?=$|[\s.,;:!?)\]\"*])", s)
             if not (m.group(1) in "AI" and re.match(r"\s+[a-z]", s[m.end():]))}
    return alone.pop() if len(alone) == 1 else None


@dataclass
class Verdict:
    parsed: str | None      # what was read from the answer: a letter, a count, "Yes"/"No"; None: nothing readable
    correct: bool


def judge(kind: str, expected: str, text: str, options: tuple[str, ...] = ()) -> Verdict:
    """Score one answer. Choices by `parse_letter`. Forward probes as OVO-Bench's utils/OVOBenchScore.py does:
    REC, the digits of the answer joined equal the count; SSR and CRR, the answer is exactly "Y"/"N", or the
    expected "Yes"/"No" occurs in it (so an answer holding both counts either way, as there)."""
    text = text.strip()
    if kind == "choice":
        letter = parse_letter(text, options)
        return Verdict(letter, letter == expected)
    if kind == "count":
        digits = "".join(re.findall(r"\d+", text))
        return Verdict(digits or None, digits == expected)
    if kind == "yesno":
        short = {"Y": "Yes", "N": "No"}.get(text)
        found = [w for w in ("Yes", "No") if w in text]
        parsed = short or ("/".join(found) if found else None)
        return Verdict(parsed, short == expected if short else expected in text)
    raise ValueError(f"unknown answer kind {kind!r}")


# ---- scores ----------------------------------------------------------------------------------------------------
@dataclass
class Tally:
    asked: int = 0           # probes asked (a choice question is one probe)
    correct: int = 0
    unparsed: int = 0        # answers with nothing readable in them (counted wrong)
    accuracy: float = 0.0    # correct / asked, or the mean of the parts' accuracies (see `averaging`)


@dataclass
class Scores:
    averaging: str                                           # how groups and the overall score are averaged
    tasks: dict[str, Tally] = field(default_factory=dict)    # task -> tally, in the benchmark's order
    task_group: dict[str, str] = field(default_factory=dict)
    groups: dict[str, Tally] = field(default_factory=dict)
    overall: Tally = field(default_factory=Tally)


def score(rows: list[dict], format: str) -> Scores:
    """Accuracy per task, per group and overall. OVO-Bench (score.py): a group's score is the mean of its tasks'
    accuracies and the overall score the mean of the groups'. StreamingBench (src/data/count.py): accuracies are
    over questions, a group's and the total alike."""
    groups = OVO_GROUPS if format == "ovobench" else STREAMINGBENCH_GROUPS
    macro = format == "ovobench"
    order = {t: i for i, t in enumerate(t for ts in groups.values() for t in ts)}
    out = Scores(averaging="mean of task accuracies per group, mean of groups overall" if macro
                 else "over questions, per group and overall")
    for r in sorted(rows, key=lambda r: order.get(r["task"], len(order))):
        tally = out.tasks.setdefault(r["task"], Tally())
        out.task_group[r["task"]] = r["group"]
        for t in (tally, out.groups.setdefault(r["group"], Tally()), out.overall):
            t.asked += 1
            t.correct += r["correct"]
            t.unparsed += r["parsed"] is None
    for t in [*out.tasks.values(), *out.groups.values(), out.overall]:
        t.accuracy = t.correct / t.asked if t.asked else 0.0
    if macro:
        for g, tally in out.groups.items():
            tally.accuracy = statistics.fmean(out.tasks[t].accuracy for t in out.tasks if out.task_group[t] == g)
        out.groups = {g: out.groups[g] for g in groups if g in out.groups}
        if out.groups:
            out.overall.accuracy = statistics.fmean(t.accuracy for t in out.groups.values())
    else:
        out.groups = {g: out.groups[g] for g in groups if g in out.groups}
    return out
