"""The hardware plan for LongWriter-Zero-32B on the machines people have."""

import json

import pytest

from lwz_cli.models.fit import plan
from lwz_cli.models.hardware import GIB, GPU, Machine


def machine(vram=None, ram=64, offload=True):
    gpus = [GPU("test GPU", int(vram * GIB), int(vram * GIB))] if vram else []
    return Machine(
        gpus=gpus,
        ram=int(ram * GIB),
        ram_available=int(ram * GIB),
        cores=8,
        offload=offload and bool(vram),
    )


def test_one_24gb_card_takes_every_layer_with_a_quantized_kv_cache():
    p = plan(machine(24, 32), words=10_000)
    assert p.fits and p.quant == "Q4_K_M"
    assert p.gpu_layers == p.n_layers == 64
    assert p.kv_type == "q8_0" and p.flash_attn  # f16 KV does not fit beside Q4_K_M
    assert p.ctx % 256 == 0 and p.ctx >= 10_000 * 1.4
    assert p.est_vram_gb <= 24


def test_64gb_cpu_runs_without_offload():
    p = plan(machine(None, 64), words=10_000)
    assert p.fits and p.gpu_layers == 0 and p.quant == "Q4_K_M"
    assert p.kv_type == "f16" and not p.flash_attn
    assert p.est_ram_gb < 64 * 0.85


def test_8gb_card_gets_a_partial_offload():
    p = plan(machine(8, 32), words=10_000)
    assert p.fits and 0 < p.gpu_layers < 64
    assert p.est_vram_gb <= 8 and p.quant == "Q4_K_M"


def test_16gb_ram_without_a_gpu_is_refused_with_the_nearest_plan():
    p = plan(machine(None, 16), words=10_000)
    assert not p.fits
    assert "16.0 GiB RAM" in p.reason and "no usable GPU" in p.reason
    assert "needs 22 GiB of RAM" in p.reason
    assert p.nearest and "GiB of VRAM" in p.nearest


def test_a_48gb_card_affords_the_best_quant():
    p = plan(machine(48, 64), words=10_000)
    assert p.fits and p.quant == "Q8_0" and p.gpu_layers == 64 and p.kv_type == "f16"


def test_a_gpu_this_build_cannot_use_means_a_cpu_plan():
    p = plan(machine(24, 64, offload=False), words=10_000)
    assert p.fits and p.gpu_layers == 0
    assert any("cannot offload" in step for step in p.steps)


def test_longer_jobs_need_more_context():
    short, long = plan(machine(24, 32), words=2000), plan(machine(24, 32), words=20_000)
    assert short.ctx < long.ctx <= 32_768


@pytest.mark.parametrize(
    "args, fits", [(["--vram", "24", "--ram", "32"], True), (["--vram", "0", "--ram", "16"], False)]
)
def test_lwz_fit_json(args, fits, lwz):
    result = lwz("fit", *args, "--json")
    data = json.loads(result.stdout)
    for key in (
        "fits",
        "quant",
        "n_layers",
        "gpu_layers",
        "ctx",
        "kv_type",
        "flash_attn",
        "est_vram_gb",
        "est_ram_gb",
        "reason",
    ):
        assert key in data
    assert data["fits"] is fits
    assert result.returncode == (0 if fits else 2)


def test_fit_of_a_local_gguf_reads_its_architecture(lwz):
    result = lwz("fit", "tiny", "--words", "400", "--vram", "0", "--json")
    data = json.loads(result.stdout)
    assert data["fits"] and data["n_layers"] == 30 and data["gpu_layers"] == 0


def test_full_offload_passes_all_layers_to_llama_cpp():
    """llama.cpp counts the output layer too: a plan with every block on the GPU
    must reach it as -1, or layer 0 stays on the CPU (seen on an H100)."""
    from lwz_cli.writing.session import WriteRequest, engine_gpu_layers, prepare

    every = prepare(WriteRequest(prompt="a 300-word note on tea", model="tiny", gpu_layers=-1))
    assert every.gpu_layers == 30 and engine_gpu_layers(every) == -1
    some = prepare(WriteRequest(prompt="a 300-word note on tea", model="tiny", gpu_layers=12))
    assert engine_gpu_layers(some) == 12
    none = prepare(WriteRequest(prompt="a 300-word note on tea", model="tiny", gpu_layers=0))
    assert engine_gpu_layers(none) == 0
