"""Scoring a benchmark's answers as its own scripts do (`official`), and a second reading by Vigil's letter parser
(`judge`, labelled "parsed"); the accuracy per task, per group and overall (OVO-Bench: means of means;
StreamingBench: over questions).

The official rules, from each benchmark's own code:
- OVO-Bench (utils/OVOBenchScore.py): a choice is right when the ground-truth letter occurs in the response
  (`gt in response`, case-sensitive: "A man walks" holds an "A"); REC when the response's digits joined are the count;
  SSR and CRR when the response is exactly "Y"/"N" for Yes/No, or the expected "Yes"/"No" occurs in it.
- StreamingBench (src/data/count.py): a choice is right when the response's first character is the answer letter
  (`response[0] == answer`: "(A)" and " A" are wrong).
One difference, on purpose: a failed or empty response is asked and wrong here. OVO-Bench scores None as 0 too;
StreamingBench's script skips an empty response in sqa and raises on it elsewhere, so its totals can be smaller.
"""
import re
import statistics
from dataclasses import dataclass, field

from evaluation.benchmarks import LETTERS, OVO_GROUPS, STREAMINGBENCH_GROUPS


# ---- reading answers -----------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


_MARKS = r"\s.,;:!?()\[\]\"'*`_-"     # spaces and ASCII punctuation that may surround a letter


_JOINS = ("or", "and", "nor", "vs", "versus", "then")   # "A or B": a letter, not the article


def parse_letter(text: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The option letter an answer gives, or None: "B", "(B)", "B.", "B) A map", "**B**", "The answer is B",
    "Answer: (C)", "I think it is C because ...", or one option's own text ("A map."). Only the letters of the
    options count; "A" and "I" followed by a word in lower case are English ("A man walks"), not answers, unless the
    word joins letters ("A or B"). Two different letters standing alone is no answer, always ("A or B", "A, B",
    "B) or C"); only a letter named as the answer ("The answer is B, not A") wins over another."""
    letters = LETTERS[:len(options)]
    s = text.strip().strip("*_`\"' ")
    one = f"[{letters}]"
    whole = re.fullmatch(rf"[{_MARKS}]*([A-Za-z])[{_MARKS}]*", s)    # the answer is one letter, in either case
    if whole and whole.group(1).upper() in letters:
        return whole.group(1).upper()
    named = re.search(rf"(?i:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*[(\[]?({one})(?![A-Za-z0-9])", s)
    if named:
        return named.group(1)
    # Standing alone: between spaces or punctuation (noise such as "2o\ufffdC\ufffd" names no letter).
    alone = set()
    for m in re.finditer(rf"(?:^|(?<=[\s({{\[\"*]))({one})(?=$|[\s.,;:!?)\]\"*])", s):
        word = re.match(r"\s+([a-z]+)", s[m.end():])
        if not (m.group(1) in "AI" and word and word.group(1) not in _JOINS):
            alone.add(m.group(1))
    if len(alone) > 1:
        return None
    for pattern in (rf"^[(\[]?({one})[)\]]?(?:[.:,;)]|\s+[-–]|$)",   # leads with it: "B.", "(B)", "B) ..."
                    rf"[(\[]({one})[)\]]"):                          # bracketed anywhere
        m = re.search(pattern, s)
        if m:
            return m.group(1)
    by_text = [letters[i] for i, o in enumerate(options) if _norm(o) and _norm(o) == _norm(s)]
    if len(by_text) == 1:
        return by_text[0]
    return alone.pop() if alone else None


OFFICIAL_RULES = {
    "ovobench": "right when the ground-truth letter occurs in the response (OVO-Bench utils/OVOBenchScore.py)",
    "streamingbench": "right when the response's first character is the answer letter (StreamingBench "
                      "src/data/count.py)",
}


def official(format: str, kind: str, expected: str, response: str | None) -> bool:
    """Whether a response is right by the benchmark's own rule (see the module's docstring), on the response exactly
    as the model gave it; a failed (None) or empty one is wrong."""
    if not response:
        return False
    if kind == "choice":
        return expected in response if format == "ovobench" else response[0] == expected
    if kind == "count":
        return "".join(re.findall(r"\d+", response)) == expected
    if kind == "yesno":
        return response == expected[0] or expected in response
    raise ValueError(f"unknown answer kind {kind!r}")


# count.py's window for Proactive Output: the time of the model's first yes within 2 s of the ground truth.
PROACTIVE_TOLERANCE = 2.0


def says_yes(response: str | None) -> bool:
    """A proactive poll's answer is yes as the official script reads it: "yes" anywhere in it, any case."""
    return bool(response) and "yes" in response.strip().lower()


def proactive(time: float, truth: str, response: str | None, last: bool) -> tuple[bool, bool]:
    """(whether this poll decides the question, whether it is right): the first yes decides (right within
    PROACTIVE_TOLERANCE of the ground-truth time), and so does the last poll with no yes (wrong)."""
    yes = says_yes(response)
    return yes or last, yes and abs(time - float(truth)) <= PROACTIVE_TOLERANCE


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


def score(rows: list[dict], format: str, key: str = "correct") -> Scores:
    """Accuracy per task, per group and overall, of the rows' `key` ("correct": the official rule; "correct_parsed":
    Vigil's parsed letter). OVO-Bench (OVOBenchScore.py): a group's score is the mean of its tasks' accuracies and
    the overall score the mean of the groups'. StreamingBench (src/data/count.py): accuracies are over questions, a
    group's and the total alike."""
    groups = OVO_GROUPS if format == "ovobench" else STREAMINGBENCH_GROUPS
    macro = format == "ovobench"
    order = {t: i for i, t in enumerate(t for ts in groups.values() for t in ts)}
    out = Scores(averaging="mean of task accuracies per group, mean of groups overall" if macro
                 else "over questions, per group and overall")
    for r in sorted(rows, key=lambda r: order.get(r["task"], len(order))):
        if not r.get("counts", True):
            continue                     # a proactive poll that said no before the last: not a score of its own
        tally = out.tasks.setdefault(r["task"], Tally())
        out.task_group[r["task"]] = r["group"]
        for t in (tally, out.groups.setdefault(r["group"], Tally()), out.overall):
            t.asked += 1
            t.correct += r[key]
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
