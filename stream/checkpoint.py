"""A stream's resume point: everything the ingestion loop carries from one step to the next, taken at a clip
boundary. It is stored with the clip in the same transaction, so a run that is interrupted and started again
continues where its last stored clip ends and computes exactly what a straight run would have.
"""
import json
from dataclasses import dataclass, field

import numpy as np
import torch

from stream.analyzer import AnalyzerState

FORMAT = 3


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


_COUNTERS = ("frames", "steps", "samples_done", "encoded", "tokens_total", "tokens_kept", "clips", "events",
             "frames_skipped")


def _tensor(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def capture(state, gate, done: bool = False) -> Checkpoint:
    """The resume point of a `StreamState` between two steps. `gate` is the pixel gate's state (frame size,
    reference frame, noise histogram) as it was before the next step, since the loop plans the gate a batch ahead;
    the frame analyzer's state is the one recorded with the last frame of the last step (`state.analysis`)."""
    values = {k: getattr(state, k) for k in _COUNTERS}
    values.update(size=list(gate.size) if gate.size else None, timings=dict(state.timings), notes=dict(state.notes),
                  index_base=state.index_base, time_base=state.time_base, tau=state.tau,
                  analysis=state.analysis.values if state.analysis is not None else None)
    tensors = {"tau_cal": _tensor(state.tau_cal.state()), "noise_cal": _tensor(gate.noise)}
    if state.ref_tokens is not None:
        tensors["ref_tokens"] = state.ref_tokens.float()
    if state.prev_tokens is not None:
        tensors["prev_tokens"] = state.prev_tokens.float()
    if gate.frame is not None:
        tensors["gate_frame"] = _tensor(gate.frame)
    if state.analysis is not None:
        tensors.update({f"analysis.{k}": _tensor(v) for k, v in state.analysis.arrays.items()})
    samples = state.frames if done else state.samples_done
    return Checkpoint(samples=samples, done=done, values=values, tensors=tensors)


def restore(state, ckpt: Checkpoint) -> None:
    """Put a fresh `StreamState` where the checkpoint was taken."""
    v, t = ckpt.values, ckpt.tensors
    for k in _COUNTERS:
        setattr(state, k, v[k])
    state.frames = ckpt.samples
    state.size = tuple(v["size"]) if v["size"] else None
    state.timings, state.notes = dict(v["timings"]), dict(v["notes"])
    state.index_base, state.time_base, state.tau = v["index_base"], v["time_base"], v["tau"]
    state.ref_tokens, state.prev_tokens = t.get("ref_tokens"), t.get("prev_tokens")
    gate = t.get("gate_frame")
    state.ref_frame = None if gate is None else gate.numpy()
    state.tau_cal.load(t["tau_cal"].numpy())
    state.noise_cal.load(t["noise_cal"].numpy())
    if v["analysis"] is not None:
        arrays = {k.split(".", 1)[1]: x.numpy() for k, x in t.items() if k.startswith("analysis.")}
        state.analysis = AnalyzerState(v["analysis"], arrays)
        state.analyzer.restore(state.analysis)
