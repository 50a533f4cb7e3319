"""CPU speed-ups of a vision tower: bfloat16 weights, or int8 weights with int8 activations in its linear layers.

Both keep the tower's class, so a Qwen model that holds it still calls it the same way, and both hand back float32
outputs, as the float32 tower does. int8 here is our own small layer on `torch._int_mm` (int8 x int8 -> int32, the
kernel torchao's int8 layers use on a CPU): `torch.ao.quantization.quantize_dynamic` still runs in torch 2.13 but
warns that it is deprecated (in favour of torchao, a new dependency), and it scales a whole weight matrix with one
number, where this layer scales each output channel and each token.
"""
import torch
from torch import nn

MODES = ("none", "bf16", "int8")
# The int8 range used, symmetric (-127 is kept so that a value and its negative round alike).
_Q = torch.iinfo(torch.int8).max


def _scale(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Symmetric int8 scale along `dim` (keepdim): the largest |x| maps to 127; an all-zero row gets a tiny scale."""
    return x.abs().amax(dim, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny) / _Q


class Int8Linear(nn.Module):
    """nn.Linear with int8 weights, one scale per output channel, and its input quantised to int8 per token at each
    call (dynamic: no calibration data). The product is summed in int32 and scaled back to float32."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()                                    # [out, in]
        scale = _scale(w, 1)                                                  # [out, 1]
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # Stored [in, out] contiguous: the layout in which torch._int_mm is fast on a CPU (about 5x slower transposed).
        self.register_buffer("weight_q", (w / scale).round().clamp(-_Q, _Q).to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale.t().contiguous())          # [1, out]
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()                       # [N, in]
        s = _scale(rows, 1)                                                   # [N, 1]
        q = (rows / s).round_().clamp_(-_Q, _Q).to(torch.int8)
        y = torch._int_mm(q, self.weight_q).float().mul_(s * self.weight_scale)   # [N, out]
        if self.bias is not None:
            y.add_(self.bias)
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _int8(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            _int8(child)


def _floating_to(x, dtype: torch.dtype):
    """Tensors (in tuples, lists and dicts, transformers' outputs included) cast to dtype where floating."""
    if torch.is_tensor(x):
        return x.to(dtype) if x.is_floating_point() else x
    if isinstance(x, dict):              # transformers' ModelOutput is a dict: keep its class, set its fields
        for k, v in x.items():
            x[k] = _floating_to(v, dtype)
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_floating_to(v, dtype) for v in x)
    return x


def speed_up(module: nn.Module, mode: str) -> nn.Module:
    """`module` made faster on a CPU, in place (as nn.Module.to is; deep-copy it first to keep the float32 one):
    "none" leaves it as it is, "bf16" casts it to bfloat16 (its inputs are cast on the way in, its outputs back to
    float32), "int8" swaps each nn.Linear for an Int8Linear (the rest stays float32). Returns the module."""
    if mode not in MODES:
        raise ValueError(f"unknown speed-up {mode!r}: choose from {', '.join(MODES)}")
    if mode == "bf16":
        module.to(torch.bfloat16)
        module.register_forward_pre_hook(lambda m, args, kwargs: (_floating_to(args, torch.bfloat16),
                                                                  _floating_to(kwargs, torch.bfloat16)),
                                         with_kwargs=True)
        module.register_forward_hook(lambda m, args, out: _floating_to(out, torch.float32))
    elif mode == "int8":
        _int8(module)
    return module
