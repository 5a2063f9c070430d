"""What this machine has: GPUs and VRAM, whether llama-cpp-python can offload at all,
RAM, cores. Probed without importing torch unless it is already installed."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from lwz_cli.system import physical_cores

GIB = 1 << 30
CUDA_REINSTALL = (
    'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
)
METAL_REINSTALL = (
    'CMAKE_ARGS="-DGGML_METAL=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
)


@dataclass
class GPU:
    name: str
    vram: int  # bytes total
    free: int  # bytes free now


@dataclass
class Machine:
    gpus: list[GPU] = field(default_factory=list)
    ram: int = 0  # bytes total
    ram_available: int = 0
    cores: int = 1
    offload: bool = False  # the installed llama-cpp-python can offload to a GPU
    unified: bool = False  # Apple silicon: the GPU uses system RAM
    source: str = "probed"

    @property
    def vram(self) -> int:
        return max((g.free for g in self.gpus), default=0)


def _meminfo() -> tuple[int, int]:
    total = available = 0
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key == "MemTotal":
                    total = int(value.split()[0]) * 1024
                elif key == "MemAvailable":
                    available = int(value.split()[0]) * 1024
    except OSError:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            available = total
        except (ValueError, OSError, AttributeError):
            pass
    return total, available or total


def nvidia_gpus() -> list[GPU]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,memory.free",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit():
            gpus.append(GPU(parts[0], int(parts[1]) << 20, int(parts[2]) << 20))
    return gpus


def torch_gpus() -> list[GPU]:
    """Only if torch is already installed: it is never a requirement."""
    if importlib.util.find_spec("torch") is None:
        return []
    try:
        import torch  # lazy: optional and slow to import

        if not torch.cuda.is_available():
            return []
        gpus = []
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            gpus.append(GPU(torch.cuda.get_device_name(i), total, free))
        return gpus
    except Exception:  # a broken torch must not break lwz
        return []


def offload_supported() -> bool:
    try:
        import llama_cpp  # lazy: llama_cpp is slow to import

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def probe() -> Machine:
    total, available = _meminfo()
    machine = Machine(
        ram=total, ram_available=available, cores=physical_cores(), offload=offload_supported()
    )
    if sys.platform == "darwin" and platform.machine() == "arm64":
        machine.unified = True
        # Metal may use about 3/4 of unified memory for the GPU
        machine.gpus = [GPU("Apple GPU (unified memory)", int(total * 0.75), int(available * 0.75))]
    else:
        machine.gpus = nvidia_gpus() or torch_gpus()
    return machine


def simulated(vram_gb: float | None, ram_gb: float | None, base: Machine | None = None) -> Machine:
    """A machine described by --vram/--ram (the probe fills in what is not given)."""
    base = base or probe()
    machine = Machine(
        gpus=list(base.gpus),
        ram=base.ram,
        ram_available=base.ram_available,
        cores=base.cores,
        offload=base.offload,
        unified=base.unified,
    )
    if vram_gb is not None:
        size = int(vram_gb * GIB)
        machine.gpus = [GPU(f"{vram_gb:g} GB GPU", size, size)] if vram_gb > 0 else []
        machine.offload = vram_gb > 0
        machine.source = "given"
    if ram_gb is not None:
        machine.ram = machine.ram_available = int(ram_gb * GIB)
        machine.source = "given"
    return machine
