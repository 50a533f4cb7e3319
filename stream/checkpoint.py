"""A stream's resume point: everything the ingestion loop carries from one step to the next, taken at a clip
boundary. It is stored with the clip in the same transaction, so a run that is interrupted and started again
continues where its last stored clip ends and computes exactly what a straight run would have.
"""
import json
from dataclasses import dataclass, field

import numpy as np
import torch

FORMAT = 2


@dataclass
class Checkpoint:
    samples: int            # sampled frames consumed before the resume point: a file resumes with frames(skip=samples)
    done: bool              # the source was read to its end
    values: dict            # JSON-able: counters, frame size, event detector, timings, notes
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # ref_tokens, gate_frame, last_hist

    def dumps(self) -> tuple[str, bytes]:
        """(JSON text, safetensors bytes): no pickle in what is stored."""
        from safetensors.torch import save
        text = json.dumps({"format": FORMAT, "samples": self.samples, "done": self.done, "values": self.values})
        return text, save({k: v.contiguous() for k, v in self.tensors.items()})

    @classmethod
    def loads(cls, text: str, blob: bytes) -> "Checkpoint":
        from safetensors.torch import load
        meta = json.loads(text)
        if meta.get("format") != FORMAT:
            raise ValueError(f"the stored resume point has format {meta.get('format')} and this version reads "
                             f"{FORMAT}: start again in a new output or memory folder")
        return cls(samples=meta["samples"], done=meta["done"], values=meta["values"], tensors=load(blob))


_COUNTERS = ("frames", "steps", "encoded", "tokens_total", "tokens_kept", "clips", "events", "frames_skipped")


def capture(state, size: tuple[int, int] | None, gate_frame: np.ndarray | None, frames_per_step: int,
            done: bool = False) -> Checkpoint:
    """The resume point of a `StreamState` between two steps. `size` and `gate_frame` are the frame size and pixel
    gate reference as they were before the next step (the loop plans the gate a batch ahead)."""
    d = state.detector
    values = {k: getattr(state, k) for k in _COUNTERS}
    values.update(size=list(size) if size else None, timings=dict(state.timings), notes=dict(state.notes),
                  detector=d.state(), presence=state.presence, index_base=state.index_base,
                  time_base=state.time_base)
    tensors = {}
    if state.ref_tokens is not None:
        tensors["ref_tokens"] = state.ref_tokens.float()
    if gate_frame is not None:
        tensors["gate_frame"] = torch.from_numpy(np.ascontiguousarray(gate_frame))
    if state.last_hist is not None:
        tensors["last_hist"] = torch.from_numpy(state.last_hist)
    if state.background is not None:
        tensors["background"] = state.background.float()
    samples = state.frames if done else state.steps * frames_per_step
    return Checkpoint(samples=samples, done=done, values=values, tensors=tensors)


def restore(state, ckpt: Checkpoint) -> None:
    """Put a fresh `StreamState` where the checkpoint was taken."""
    v = ckpt.values
    for k in _COUNTERS:
        setattr(state, k, v[k])
    state.frames = ckpt.samples
    state.index_base, state.time_base = v.get("index_base", 0), v.get("time_base", 0.0)   # absent before they existed
    state.size = tuple(v["size"]) if v["size"] else None
    state.timings = dict(v["timings"])
    state.notes = dict(v["notes"])
    state.ref_tokens = ckpt.tensors.get("ref_tokens")
    gate = ckpt.tensors.get("gate_frame")
    state.ref_frame = None if gate is None else gate.numpy()
    hist = ckpt.tensors.get("last_hist")
    state.last_hist = None if hist is None else hist.numpy()
    state.background, state.presence = ckpt.tensors.get("background"), v["presence"]
    state.detector.load(v["detector"])
