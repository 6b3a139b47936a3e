"""tsdiff.provenance: what a benchmark row records about its machine."""

import platform

import torch

from tsdiff.prediction import native_bf16_cpu
from tsdiff.provenance import _cpu_model, git_sha, hardware


def test_hardware_names_the_cpu_and_its_vector_instructions():
    hw = hardware()
    assert hw["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert hw["native_bf16"] is native_bf16_cpu()
    assert hw["cpu_count"] >= 1 and hw["torch"] == torch.__version__
    assert isinstance(hw["cpu_model"], str) and hw["cpu_model"]


def test_cpu_model_reads_cpuinfo_and_falls_back(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core\nflags\t: fpu\n")
    assert _cpu_model(str(info)) == "AMD EPYC 9R14 96-Core"
    assert _cpu_model(str(tmp_path / "missing")) == (platform.processor() or platform.machine())


def test_git_sha_is_a_commit_or_unknown():
    sha = git_sha()
    assert sha == "unknown" or len(sha.removesuffix("+dirty")) == 40
