"""Readers for streaming video QA benchmarks, as their official files are written, into one list of `Question`s.

StreamingBench (github.com/THUNLP-MT/StreamingBench, src/data/questions_real_stream.json and the omni and sqa files):
a list of per-video entries `{"video_path": "./videos/sample_416_real.mp4", "questions": [{"task_type": ...,
"question": ..., "time_stamp": "00:02:37", "options": ["A. Black.", ...] or ["Black.", ...], "answer": "A", ...}]}`;
a question is asked at its time_stamp (src/benchmark/StreamingBench.py cuts the video at it). questions_sqa.json holds
a list of parts per video instead, read as one entry; a Sequential QA question is asked with the video's earlier
questions and their ground-truth answers in its prompt (src/benchmark/StreamingBenchSQA.py). Options are shown as
that code shows them (`shown_options`).

OVO-Bench (github.com/JoeLeelyf/OVO-Bench, data/ovo_bench_new.json): a list of items `{"id", "task", "video", ...}`.
Backward and real-time items have `realtime` (seconds), `question`, `options` and `gt` (the index of the right one);
forward items (REC, SSR, CRR) have `test_info`, probes each asked at its own `realtime` (REC: `count`, how many times
the activity happened by then; SSR: `step` and `type`, 1 when that step is being done then; CRR: `type`, 1 once the
video holds enough to answer). OVO cuts each clip at ceil(realtime) (utils/chunk_videos.py), so that is the time here.

The prompts are each benchmark's own templates (StreamingBench: src/benchmark/StreamingBench.py; OVO-Bench:
constant.py), so scores compare with the published ones.
"""
import json
import math
import string
from dataclasses import dataclass, field
from pathlib import Path

from stream.clock import parse_clock

FORMATS = ("streamingbench", "ovobench")
LETTERS = string.ascii_uppercase

# StreamingBench's task names by group. Real-time: questions_real*.json; omni-source: questions_omni*.json (they need
# the audio, which Vigil does not hear); contextual: questions_omni*.json and questions_sqa*.json (Misleading and
# Anomaly Context Understanding are in the omni file).
STREAMINGBENCH_GROUPS = {
    "real-time": ("Object Recognition", "Attribute Recognition", "Action Recognition", "Text-Rich Understanding",
                  "Spatial Understanding", "Counting", "Event Understanding", "Clips Summarize", "Causal Reasoning",
                  "Prospective Reasoning"),
    "omni-source": ("Emotion Recognition", "Scene Understanding", "Source Discrimination", "Multimodal Alignment"),
    "contextual": ("Misleading Context Understanding", "Anomaly Context Understanding",
                   "Sequential Question Answering", "Proactive Output"),
}
# OVO-Bench's tasks by group (constant.py).
OVO_GROUPS = {"backward": ("EPM", "ASI", "HLD"), "real-time": ("OCR", "ACR", "ATR", "STU", "FPD", "OJR"),
              "forward": ("REC", "SSR", "CRR")}

STREAMINGBENCH_PROMPT = (
    "You are an advanced video question-answering AI assistant. You have been provided with some frames from the "
    "video and a multiple-choice question related to the video. Your task is to carefully analyze the video and "
    "provide the best answer to question, choosing from the four options provided. Respond with only the letter "
    "(A, B, C, or D) of the correct option.\n\nQuestion: {question}\n\nOptions:\n{options}\n\nThe best option is:")
# StreamingBench's Sequential QA (src/benchmark/StreamingBenchSQA.py): the earlier questions of the same video and
# their ground-truth answers go in the prompt.
STREAMINGBENCH_SQA_PROMPT = (
    "You are an advanced video question-answering AI assistant. You have been provided with a video and a "
    "multiple-choice question related to the video. Your task is to carefully analyze the video and the provided "
    "context to answer the question, choosing from the four options provided. Respond with only the letter (A, B, C, "
    "or D) of the correct option.\n\n{context}\n\nHere is the question. Answer it and don't confuse it with the "
    "previous conversation.\nQuestion: {question}\n\nOptions:\n{options}\n\nThe best option is:")
SQA_CONTEXT_HEAD = ("Here are the contextual information related to the video. Please answer the questions based on "
                    "the contextual information: ")
SQA_CONTEXT_ITEM = ("At timestamp {time_stamp}, the following question and answer occurred: Question: {question}; "
                    "Options: {options}; Answer: {answer}; ")
SQA_TASK = "Sequential Question Answering"
# StreamingBench's Proactive Output (src/benchmark/StreamingBenchProactive.py): from a second after the question's
# time to `PROACTIVE_AFTER` seconds past the ground-truth time, once a second, the model is asked whether it is the
# right time to output the answer; on its first yes it is asked the question itself, and that time is scored.
PROACTIVE_TASK = "Proactive Output"
PROACTIVE_AFTER = 4
PROACTIVE_PROMPT = (
    "You are an advanced image question-answering AI assistant. You have been provided with images and a question "
    "related to the images. Your task is to carefully analyze the images and provide the answer to the question. You "
    "need to carefully confirm whether the images content meet the conditions of the question, and then output the "
    "correct content.\n\nQuestion: {}\n\nThe answer is:\n")
PROACTIVE_POLL = "{question} Is it the right time to output \"{output}\"? You can only answer yes or no."
OVO_CHOICE_PROMPT = ("Question: {question}\nOptions:\n{options}\n\nRespond only with the letter corresponding to your "
                     "chosen option (e.g., A, B, C). \nDo not include any additional text or explanation in your "
                     "response.")
OVO_REC_PROMPT = (
    "You're watching a video in which people may perform a certain type of action repetively. \nThe person performing "
    "this kind of action are referred to as 'they' in the following statement.\nYou're task is to count how many "
    "times have different people in the video perform this kind of action in total.\nOne complete motion counts as "
    "one. \nNow, answer the following question: How many times did they {activity}?\nProvide your answer as a single "
    "number (e.g., 0, 1, 2, 3…) indicating the total count.\nDo not include any additional text or explanation in "
    "your response.")
OVO_SSR_PROMPT = (
    "You're watching a tutorial video which contain a sequential of steps. \nThe following is one step from the whole "
    "procedures: \n{step}\nYour task is to determine if the man or woman in the video is currently performing this "
    "step.\nAnswer only with “Yes” or “No”.\nDo not include any additional text or explanation in your response.")
OVO_CRR_PROMPT = (
    "You're responsible of answering questions based on the video content. \nThe following question are relevant to "
    "the latest frames, i.e. the end of the video.\n{question}\nDecide whether existing visual content, especially "
    "latest frames, i.e. frames that near the end of the video, provide enough information for answering the "
    "question.\nAnswer only with “Yes” or “No”.\nDo not include any additional text or explanation in your response.")


class BenchmarkFormatError(ValueError):
    """An annotation file that cannot be read; the message is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Probe:
    """One asking of a question: at `time`, this `prompt`, and the answer that scores."""
    time: float          # stream seconds: the question sees the video up to here
    prompt: str          # the text given to the video LLM
    answer: str          # a letter (choice), a count "3" (count), or "Yes" / "No" (yesno)


@dataclass(frozen=True)
class Question:
    id: str              # unique in its file: StreamingBench "<entry>.<question>" (1-based), OVO-Bench its id
    video: str           # path as the file gives it, relative to the videos folder
    time: float          # stream seconds of its first probe
    prompt: str          # the question as written in the file (SSR: the tutorial's name)
    options: tuple[str, ...]   # choices without their letters; () for forward tasks
    answer: str          # the right letter; "" for forward tasks (each probe has its own)
    task: str            # the benchmark's task name ("Counting", "EPM", "REC", ...)
    group: str           # real-time, backward, forward (OVO-Bench); real-time, omni-source, contextual (StreamingBench)
    kind: str            # how an answer is read: "choice" (a letter), "count" (a number), "yesno", "proactive"
    probes: tuple[Probe, ...] = field(default_factory=tuple)   # in file order (test_info's), each asked at its time
    follow_up: str = ""  # proactive: asked once the model first says it is the right time (its answer is kept)


def _load(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BenchmarkFormatError(f"{path}: cannot read it ({e.strerror})") from e
    except UnicodeDecodeError:
        raise BenchmarkFormatError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BenchmarkFormatError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None


def _need(item: dict, key: str, kind, where: str):
    if not isinstance(item, dict):
        raise BenchmarkFormatError(f"{where}: not an object")
    if key not in item:
        raise BenchmarkFormatError(f"{where}: '{key}' is missing")
    value = item[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BenchmarkFormatError(f"{where}: '{key}' must be {_KIND_NAMES.get(kind, kind)}, got {value!r:.60}")
    return value


_KIND_NAMES = {str: "text", list: "a list", (int, float): "a number", int: "an integer", (int, str): "a number or text",
               (int, float, str): "a time"}


def _seconds(value, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BenchmarkFormatError(f"{where}: '{key}' must be a time, got {value!r:.60}")
    try:
        t = parse_clock(str(value))
    except ValueError:
        raise BenchmarkFormatError(f"{where}: '{key}' {value!r} is not a time (seconds or HH:MM:SS)") from None
    return t


def _options(values: list, where: str) -> tuple[str, ...]:
    """Choices as plain text: StreamingBench writes some as "A. Black." and some as "Black."."""
    if not 2 <= len(values) <= len(LETTERS) or not all(isinstance(v, str) for v in values):
        raise BenchmarkFormatError(f"{where}: 'options' must be 2 to {len(LETTERS)} texts, got {values!r:.80}")
    if all(v.startswith(f"{LETTERS[i]}. ") for i, v in enumerate(values)):
        return tuple(v[3:] for v in values)
    return tuple(values)


def shown_options(values: list[str]) -> list[str]:
    """The options as StreamingBench's own code shows them: as they are when the first starts with "A.", else the
    first four each behind its letter (so a blank option is shown as "C. ", and the answer letter keeps pointing at
    the option the file means)."""
    if values[0].startswith("A."):
        return list(values)
    return [f"{LETTERS[i]}. {v}" for i, v in enumerate(values[:4])]


def _entries(data: list, path: Path) -> list[dict]:
    """Per-video entries: questions_sqa.json holds a list per video of its parts (each with the video's path and
    some of its questions), which are one entry here, its questions in file order."""
    out = []
    for n, item in enumerate(data, 1):
        if isinstance(item, list):
            parts = [p for p in item if isinstance(p, dict)]
            if len(parts) != len(item) or not parts:
                raise BenchmarkFormatError(f"{path}: entry {n} must be a list of parts with 'video_path' and "
                                           f"'questions'")
            videos = {p.get("video_path") for p in parts}
            if len(videos) != 1:
                raise BenchmarkFormatError(f"{path}: entry {n}: its parts name {len(videos)} videos, one is expected")
            item = {"video_path": parts[0].get("video_path"),
                    "questions": [q for p in parts for q in _need(p, "questions", list, f"{path}: entry {n}")]}
        out.append(item)
    return out


def read_streamingbench(path: str | Path) -> list[Question]:
    path = Path(path)
    data = _load(path)
    if isinstance(data, list):
        data = _entries(data, path)
    if not isinstance(data, list):
        raise BenchmarkFormatError(f"{path}: a StreamingBench file is a list of per-video entries, got "
                                   f"{type(data).__name__}")
    if data and isinstance(data[0], dict) and "task" in data[0] and "video_path" not in data[0]:
        raise BenchmarkFormatError(f"{path}: entry 1 has 'task' and no 'video_path': an OVO-Bench file? "
                                   f"(--format ovobench)")
    groups = {task: g for g, tasks in STREAMINGBENCH_GROUPS.items() for task in tasks}
    out = []
    for n, entry in enumerate(data, 1):
        where = f"{path}: entry {n}"
        video = _need(entry, "video_path", str, where)
        context = ""                # SQA: the video's earlier questions with their answers, as the official script
        for k, q in enumerate(_need(entry, "questions", list, where), 1):
            at = f"{where}, question {k}"
            task = _need(q, "task_type", str, at)
            if task not in groups:
                known = "; ".join(f"{g}: {', '.join(t)}" for g, t in STREAMINGBENCH_GROUPS.items())
                raise BenchmarkFormatError(f"{at}: unknown task_type {task!r}; known: {known}")
            text = _need(q, "question", str, at)
            time = _seconds(_need(q, "time_stamp", (int, float, str), at), at, "time_stamp")
            if task == PROACTIVE_TASK:
                out.append(_proactive(q, text, time, f"{n}.{k}", video, groups[task], at))
                continue
            raw = _need(q, "options", list, at)
            options = _options(raw, at)
            answer = _need(q, "answer", str, at).strip()
            if answer not in tuple(LETTERS[:len(options)]):
                raise BenchmarkFormatError(f"{at}: answer {answer!r} is not one of the letters "
                                           f"{', '.join(LETTERS[:len(options)])}")
            shown = shown_options(raw)
            if task == SQA_TASK:
                prompt = STREAMINGBENCH_SQA_PROMPT.format(context=context, question=text, options="\n".join(shown))
                context = (context or SQA_CONTEXT_HEAD) + SQA_CONTEXT_ITEM.format(
                    time_stamp=q["time_stamp"], question=text, options=", ".join(shown), answer=answer)
            else:
                prompt = STREAMINGBENCH_PROMPT.format(question=text, options="\n".join(shown))
            out.append(Question(id=f"{n}.{k}", video=video, time=time, prompt=text, options=options, answer=answer,
                                task=task, group=groups[task], kind="choice", probes=(Probe(time, prompt, answer),)))
    if not out:
        raise BenchmarkFormatError(f"{path}: no questions in it")
    return out


def _proactive(q: dict, text: str, time: float, qid: str, video: str, group: str, at: str) -> Question:
    """A Proactive Output question: one yes/no poll a second, from a second after its time to PROACTIVE_AFTER
    seconds past the ground-truth time (whole seconds, as the official script counts them)."""
    truth = _seconds(_need(q, "ground_truth_time_stamp", (int, float, str), at), at, "ground_truth_time_stamp")
    output = _need(q, "ground_truth_output", str, at)
    poll = PROACTIVE_PROMPT.format(PROACTIVE_POLL.format(question=text, output=output))
    start, last = int(time) + 1, int(truth) + PROACTIVE_AFTER
    if start > last:
        raise BenchmarkFormatError(f"{at}: its ground_truth_time_stamp comes before its time_stamp")
    probes = tuple(Probe(float(t), poll, str(int(truth))) for t in range(start, last + 1))
    return Question(id=qid, video=video, time=float(start), prompt=text, options=(), answer=str(int(truth)),
                    task=PROACTIVE_TASK, group=group, kind="proactive", probes=probes,
                    follow_up=PROACTIVE_PROMPT.format(text))


def _ovo_time(value, where: str) -> float:
    """OVO-Bench cuts the video at ceil(realtime) seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BenchmarkFormatError(f"{where}: 'realtime' must be seconds (a number >= 0), got {value!r:.60}")
    return float(math.ceil(value))


def read_ovobench(path: str | Path) -> list[Question]:
    path = Path(path)
    data = _load(path)
    if not isinstance(data, list):
        raise BenchmarkFormatError(f"{path}: an OVO-Bench file is a list of items, got {type(data).__name__}")
    if data and isinstance(data[0], dict) and "video_path" in data[0] and "task" not in data[0]:
        raise BenchmarkFormatError(f"{path}: item 1 has 'video_path' and no 'task': a StreamingBench file? "
                                   f"(--format streamingbench)")
    groups = {task: g for g, tasks in OVO_GROUPS.items() for task in tasks}
    out, seen = [], set()
    for n, item in enumerate(data, 1):
        where = f"{path}: item {n}"
        qid = _need(item, "id", (int, str), where)
        where = f"{path}: item {n} (id {qid})"
        if str(qid) in seen:
            raise BenchmarkFormatError(f"{where}: id {qid} is used twice")
        seen.add(str(qid))
        task = _need(item, "task", str, where)
        if task not in groups:
            raise BenchmarkFormatError(f"{where}: unknown task {task!r}; known: "
                                       + "; ".join(f"{g}: {', '.join(t)}" for g, t in OVO_GROUPS.items()))
        video = _need(item, "video", str, where)
        if groups[task] != "forward":
            text = _need(item, "question", str, where)
            options = _options(_need(item, "options", list, where), where)
            gt = _need(item, "gt", int, where)
            if not 0 <= gt < len(options):
                raise BenchmarkFormatError(f"{where}: gt {gt} is not an index of its {len(options)} options")
            time = _ovo_time(_need(item, "realtime", (int, float), where), where)
            answer = LETTERS[gt]
            prompt = OVO_CHOICE_PROMPT.format(question=text, options="; ".join(
                f"{LETTERS[i]}. {o}" for i, o in enumerate(options)) + ";")
            out.append(Question(id=str(qid), video=video, time=time, prompt=text, options=options, answer=answer,
                                task=task, group=groups[task], kind="choice", probes=(Probe(time, prompt, answer),)))
            continue
        info = _need(item, "test_info", list, where)
        if not info:
            raise BenchmarkFormatError(f"{where}: 'test_info' has no probes")
        probes = []
        if task == "REC":
            text = _need(item, "activity", str, where)
            kind, prompt = "count", OVO_REC_PROMPT.format(activity=text)
        elif task == "SSR":
            text, kind = _need(item, "tutorial", str, where), "yesno"
        else:
            text = _need(item, "question", str, where)
            kind, prompt = "yesno", OVO_CRR_PROMPT.format(question=text)
        for k, p in enumerate(info, 1):
            at = f"{where}, probe {k}"
            time = _ovo_time(_need(p, "realtime", (int, float), at), at)
            if task == "REC":
                count = _need(p, "count", int, at)
                if count < 0:
                    raise BenchmarkFormatError(f"{at}: 'count' must be >= 0, got {count}")
                answer = str(count)
            else:
                kind_of = _need(p, "type", int, at)
                if kind_of not in (0, 1):
                    raise BenchmarkFormatError(f"{at}: 'type' must be 0 or 1, got {kind_of}")
                answer = "Yes" if kind_of == 1 else "No"
                if task == "SSR":
                    prompt = OVO_SSR_PROMPT.format(step=_need(p, "step", str, at))
            probes.append(Probe(time, prompt, answer))
        out.append(Question(id=str(qid), video=video, time=min(p.time for p in probes), prompt=text, options=(), answer="",
                            task=task, group="forward", kind=kind, probes=tuple(probes)))
    if not out:
        raise BenchmarkFormatError(f"{path}: no questions in it")
    return out


def read_questions(path: str | Path, format: str) -> list[Question]:
    """The questions of an annotation file in `format` (one of FORMATS), in file order."""
    if format == "streamingbench":
        return read_streamingbench(path)
    if format == "ovobench":
        return read_ovobench(path)
    raise BenchmarkFormatError(f"unknown benchmark format {format!r}; use {' or '.join(FORMATS)}")
