"""The hardware plan: quant, GPU layers, context, KV cache type, flash attention.

llama.cpp has its own `--fit`, but llama-cpp-python does not bind it, so the
arithmetic lives here (field-notes.md section 1):

    KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x bytes per value
    f16: 2 bytes; q8_0: 34/32; q4_0: 18/32 (a quantized V cache needs flash attention)

Weights are the GGUF's size. Every number the plan uses is in `reason`/`steps`,
so `lwz fit` can show its working; every choice can be overridden by a flag.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from lwz_cli.models.catalog import LWZ_QUANTS, QWEN25_32B, Architecture, Quant
from lwz_cli.models.hardware import GIB, Machine
from lwz_cli.profiles import LWZ
from lwz_cli.tokens import document_tokens, round_up

KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
GGML_TYPE = {"f16": 1, "q8_0": 8, "q4_0": 2}  # type_k / type_v ids
GPU_RESERVE = 0.6 * GIB  # CUDA context, compute buffers with flash attention
GPU_SHARE = 0.95  # of free VRAM we plan to use
RAM_SHARE = 0.85  # of RAM: the OS and everything else need the rest
CPU_OVERHEAD = 1.0 * GIB
# Quality first when the GPU holds it all; speed first on a CPU (decode is bound
# by memory bandwidth, so a smaller quant is proportionally faster).
GPU_ORDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_M")
CPU_ORDER = ("Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_M")


@dataclass
class FitPlan:
    fits: bool
    quant: str | None
    n_layers: int
    gpu_layers: int
    ctx: int
    kv_type: str
    flash_attn: bool
    est_vram_gb: float
    est_ram_gb: float
    reason: str
    weights_gb: float = 0.0
    kv_gb: float = 0.0
    threads: int = 1
    mmap: bool = True
    mlock: bool = False
    steps: list[str] = field(default_factory=list)
    nearest: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def type_kv(self) -> int:
        return GGML_TYPE[self.kv_type]


def kv_bytes(arch: Architecture, tokens: int, kv_type: str) -> float:
    return 2 * arch.layers * arch.kv_heads * arch.head_dim * KV_BYTES[kv_type] * tokens


def context_for(words: int | None, arch: Architecture, prompt_tokens: int = 400) -> int:
    """Tokens a job needs: prompt + think + the target with margin, in 256s."""
    needed = prompt_tokens + document_tokens(words, "en", LWZ)
    return min(round_up(needed), arch.context)


def _gb(n: float) -> float:
    return round(n / GIB, 2)


def plan(
    machine: Machine,
    *,
    arch: Architecture = QWEN25_32B,
    weights: int | None = None,
    quant: str | None = None,
    words: int | None = 10_000,
    ctx: int | None = None,
    quants: tuple[Quant, ...] = LWZ_QUANTS,
) -> FitPlan:
    """Plan one job. `weights` (a file's size) fixes the quant; otherwise the best
    quant that fits is chosen from `quants` (or `quant` when given)."""
    n_ctx = ctx or context_for(words, arch)
    steps = [
        f"context: {n_ctx:,} tokens (prompt + thinking + "
        f"{f'{words:,} words' if words else 'the default length'})"
    ]
    if weights is not None:
        candidates = [(quant or "file", weights)]
    else:
        order = GPU_ORDER if machine.gpus and machine.offload else CPU_ORDER
        chosen = [q for q in quants if quant is None or q.name.lower() == quant.lower()]
        by_name = {q.name: q for q in chosen}
        candidates = [(n, by_name[n].size) for n in order if n in by_name] or [
            (q.name, q.size) for q in chosen
        ]
    per_token = {k: kv_bytes(arch, 1, k) for k in KV_BYTES}
    steps.append(
        "KV per token: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in per_token.items())
    )
    threads = machine.cores

    def make(fits, name, size, gpu_layers, kv_type, fa, vram, ram, reason):
        return FitPlan(
            fits,
            name,
            arch.layers,
            gpu_layers,
            n_ctx,
            kv_type,
            fa,
            _gb(vram),
            _gb(ram),
            reason,
            _gb(size),
            _gb(kv_bytes(arch, n_ctx, kv_type)),
            threads,
            steps=steps,
        )

    usable_vram = machine.vram * GPU_SHARE if machine.offload else 0
    usable_ram = machine.ram * RAM_SHARE
    if machine.gpus and not machine.offload:
        steps.append("a GPU is present but this llama-cpp-python build cannot offload: CPU plan")
    # 1. everything on the GPU
    if usable_vram:
        steps.append(f"GPU: {_gb(machine.vram)} GiB free, planning with {_gb(usable_vram)} GiB")
        for name, size in candidates:
            for kv_type in ("f16", "q8_0"):
                need = size + kv_bytes(arch, n_ctx, kv_type) + GPU_RESERVE
                steps.append(
                    f"  {name} + {kv_type} KV: {_gb(size)} + "
                    f"{_gb(kv_bytes(arch, n_ctx, kv_type))} + {_gb(GPU_RESERVE)} = "
                    f"{_gb(need)} GiB {'fits' if need <= usable_vram else 'too big'}"
                )
                if need <= usable_vram:
                    why = (
                        f"{name} and a {n_ctx:,}-token {kv_type} KV cache fit in "
                        f"{_gb(machine.vram)} GiB of VRAM: all {arch.layers} layers on the GPU"
                        + (", KV quantized (needs flash attention)" if kv_type != "f16" else "")
                    )
                    return make(
                        True, name, size, arch.layers, kv_type, True, need, CPU_OVERHEAD, why
                    )
    # 2. CPU only (also the answer when offload is impossible)
    cpu = None
    for name, size in candidates:
        for kv_type in ("f16", "q8_0"):
            need = size + kv_bytes(arch, n_ctx, kv_type) + CPU_OVERHEAD
            if need <= usable_ram:
                cpu = (name, size, kv_type, need)
                break
        if cpu:
            break
    # 3. part on the GPU, the rest in RAM (speed first: the CPU part sets the pace)
    if usable_vram and candidates:
        kv_type = "q8_0"
        partial = sorted(
            candidates,
            key=lambda c: (
                CPU_ORDER.index(c[0])
                if c[0] in CPU_ORDER
                else len(CPU_ORDER) + GPU_ORDER.index(c[0])
                if c[0] in GPU_ORDER
                else 99
            ),
        )
        for name, size in partial:
            layer = size / arch.layers + kv_bytes(arch, n_ctx, kv_type) / arch.layers
            on_gpu = max(0, min(arch.layers - 1, int((usable_vram - GPU_RESERVE) // layer)))
            rest = (arch.layers - on_gpu) * layer + CPU_OVERHEAD
            if on_gpu > 0 and rest <= usable_ram:
                steps.append(
                    f"partial offload of {name}: {layer / GIB:.2f} GiB per layer; "
                    f"{on_gpu} layers in VRAM, {arch.layers - on_gpu} in RAM ({_gb(rest)} GiB)"
                )
                why = (
                    f"{name} does not fit {_gb(machine.vram)} GiB of VRAM whole: {on_gpu} of "
                    f"{arch.layers} layers on the GPU, the rest on the CPU (KV q8_0, flash attention)"
                )
                return make(
                    True, name, size, on_gpu, kv_type, True, on_gpu * layer + GPU_RESERVE, rest, why
                )
    if cpu is not None:
        name, size, kv_type, need = cpu
        steps.append(
            f"CPU: {name} + {kv_type} KV + {_gb(CPU_OVERHEAD)} = {_gb(need)} GiB of "
            f"{_gb(machine.ram)} GiB RAM ({int(RAM_SHARE * 100)}% usable)"
        )
        why = (
            f"no usable GPU: {name} runs on the CPU from {_gb(machine.ram)} GiB of RAM "
            f"(memory-mapped, {kv_type} KV cache)"
        )
        return make(True, name, size, 0, kv_type, False, 0, need, why)
    # 4. nothing fits: say why and what would. One figure for the RAM it needs (what
    # it uses over the share lwz plans with), in GiB like every other figure here.
    name, size = candidates[-1] if candidates else ("?", 0)
    smallest = size + kv_bytes(arch, n_ctx, "q8_0") + CPU_OVERHEAD
    need_ram = math.ceil(smallest / RAM_SHARE / GIB)
    need_vram = math.ceil((size + kv_bytes(arch, n_ctx, "q8_0") + GPU_RESERVE) / GPU_SHARE / GIB)
    steps.append(
        f"CPU: {name} + q8_0 KV + {_gb(CPU_OVERHEAD)} GiB overhead = {_gb(smallest)} GiB, at most "
        f"{int(RAM_SHARE * 100)}% of RAM: {need_ram} GiB of RAM needed"
    )
    shorter = max(
        256, int((usable_ram - size - CPU_OVERHEAD) / kv_bytes(arch, 1, "q8_0")) // 256 * 256
    )
    nearest = f"{name} on a GPU with {need_vram} GiB of VRAM" + (
        f"; with {_gb(machine.ram)} GiB of RAM, a {shorter:,}-token context (fewer --words)"
        if usable_ram > size + CPU_OVERHEAD
        else "; or a smaller model"
    )
    reason = (
        f"even {name} ({_gb(size)} GiB) with a {n_ctx:,}-token q8_0 KV cache "
        f"needs {need_ram} GiB of RAM, and this machine has {_gb(machine.ram)} GiB RAM"
        + (f" and {_gb(machine.vram)} GiB VRAM" if machine.gpus else " and no usable GPU")
    )
    result = make(False, name, size, 0, "q8_0", False, 0, smallest, reason)
    result.nearest = nearest
    return result
