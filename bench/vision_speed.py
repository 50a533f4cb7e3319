"""Item 3.2 (issue 12), beside item 3's real-time factor: how fast the vision towers ingest on this CPU (random
weights, real shapes, real frames resized to side x side), and what the CPU speed-ups of models.quantize (bf16, int8)
buy and cost.

Each variant (tower, speed-up, torch threads) encodes the same real 2-frame steps, one step a call (a live stream
encodes each step as it comes). In every round every variant runs in turn, so load from other processes falls on all
alike; ratios are taken within a round and their median over rounds is reported. Encode = patchify + the tower's
forward: decoding, event analysis and resizing are not in it. Real-time factor = seconds of stream per wall second:
a step is frames_per_step / fps seconds of stream (2 s at the default 1 fps) over the median seconds to encode it.

Token error: the cosine of each token of a sped-up tower to the same tower's float32 token, mean and min over all
tokens of one step from each clip; for Qwen3-VL also its DeepStack features (tokens taken from inner blocks and
added into the LLM's first layers), pooled over its levels.
"""
import copy
import os
import statistics
import time
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch

from models.preprocess import patchify, resize_frames
from models.quantize import speed_up
from stream.sources import FileSource


@dataclass
class Tower:
    """A float32 vision tower and how its pixels are cut: patch and merge sizes, normalisation."""
    module: torch.nn.Module
    patch: int
    merge: int
    frames_per_step: int
    mean: object
    std: object


def real_steps(paths: list[str], side: int, fps: float, frames_per_step: int) -> list[np.ndarray]:
    """The first step of each clip at `fps`: [frames_per_step, side, side, 3] uint8 each (aspect not kept: the same
    pixels for towers whose cells are 28 and 32 pixels)."""
    steps = []
    for path in paths:
        frames = [f.image for f in islice(FileSource(path, fps).frames(), frames_per_step)]
        steps.append(resize_frames(np.stack(frames), (side, side)))
    return steps


def encode(tower: Tower, module: torch.nn.Module, step: np.ndarray) -> list[torch.Tensor]:
    """One step -> [tokens [n, D], *DeepStack features [n, D]] float32 (Qwen2.5-VL has no DeepStack)."""
    pixels, thw = patchify(step, tower.patch, tower.merge, tower.frames_per_step, mean=tower.mean, std=tower.std)
    with torch.inference_mode():
        out = module(torch.from_numpy(pixels), torch.tensor([[1, thw[1], thw[2]]]))
    return [out.pooler_output.float(), *(x.float() for x in (getattr(out, "deepstack_features", None) or []))]


def _cosines(outs: list[list[torch.Tensor]], refs: list[list[torch.Tensor]], which: slice) -> list[float] | None:
    """[mean, min] cosine per token over all steps, for the outputs picked by `which` (None when there are none)."""
    cos = [torch.nn.functional.cosine_similarity(o, r, dim=-1)
           for out, ref in zip(outs, refs) for o, r in zip(out[which], ref[which])]
    if not cos:
        return None
    cos = torch.cat(cos)
    return [round(cos.mean().item(), 5), round(cos.min().item(), 5)]


def vision_speed(towers: dict[str, Tower], variants: tuple, steps: dict[str, list[np.ndarray]], timed_steps: int,
                 rounds: int, fps: float) -> dict:
    """`variants`: (tower name, speed-up mode, torch threads, 0 = torch's default) in the order they run each round;
    the first is the reference of the 'vs first' ratio. `steps`: per tower, the real steps (token error on all of
    them, timing on the first `timed_steps`)."""
    all_threads = torch.get_num_threads()
    threads = {v: v[2] or all_threads for v in variants}
    modules = {}
    for name, mode, _ in variants:
        if (name, mode) not in modules:     # the speed-ups work in place: each gets its own copy of the float32 tower
            base = towers[name].module
            modules[name, mode] = base if mode == "none" else speed_up(copy.deepcopy(base), mode)
    # Token error, and every variant's first calls (which allocate) out of the timed rounds.
    refs = {name: [encode(t, t.module, s) for s in steps[name]] for name, t in towers.items()}
    errors = {}
    for name, mode in modules:
        if mode == "none":                          # the reference itself
            errors[name, mode] = {"cos_tokens": None, "cos_deepstack": None}
            continue
        outs = [encode(towers[name], modules[name, mode], s) for s in steps[name]]
        errors[name, mode] = {"cos_tokens": _cosines(outs, refs[name], slice(0, 1)),
                              "cos_deepstack": _cosines(outs, refs[name], slice(1, None))}
    load = os.getloadavg()[0]
    seconds = {v: [] for v in variants}             # per round: mean seconds a step
    for _ in range(rounds):
        for v in variants:
            torch.set_num_threads(threads[v])
            t0 = time.perf_counter()
            for s in steps[v[0]][:timed_steps]:
                encode(towers[v[0]], modules[v[:2]], s)
            seconds[v].append((time.perf_counter() - t0) / timed_steps)
    torch.set_num_threads(all_threads)
    first = variants[0]
    rows = []
    for v in variants:
        name, mode, _ = v
        fp32 = (name, "none", 0) if (name, "none", 0) in seconds else None      # the same tower, float32, all threads
        ratio = lambda ref: round(statistics.median(r / s for r, s in zip(seconds[ref], seconds[v])), 3)  # noqa: E731
        s, stream_s = statistics.median(seconds[v]), towers[name].frames_per_step / fps
        rows.append({"tower": name, "mode": mode, "threads": threads[v], "tokens": refs[name][0][0].shape[0],
                     "s_per_step": round(s, 3), "rtf": round(stream_s / s, 3), "vs_first": ratio(first),
                     "vs_fp32": ratio(fp32) if fp32 else None, "round_s": [round(x, 3) for x in seconds[v]],
                     **errors[v[:2]]})
    return {"fps": fps, "rounds": rounds, "timed_steps": timed_steps,
            "error_steps": len(next(iter(steps.values()))), "default_threads": all_threads,
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2), "rows": rows}
