"""Facts about this machine that the engine defaults depend on."""

from __future__ import annotations

import os
import threading


def physical_cores() -> int:
    """Physical cores available to this process (llama.cpp decodes fastest there).

    Hyper-threads share the memory bandwidth that decode is bound by, so
    counting them only adds contention.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        physical = core = None
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    physical = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((physical or "0", core))
                    physical = core = None
            if core is not None:
                cores.add((physical or "0", core))
    except OSError:
        pass
    if cores:
        return max(1, min(len(cores), available))
    return max(1, available)


def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def use_extra_buffers() -> bool:
    """Whether llama.cpp may repack weights into extra CPU buffer types.

    llama.cpp's AMX buffer segfaults in the first batched decode on some
    AMX-capable (Sapphire Rapids class) machines: ggml-org/llama.cpp#20824,
    open without a fix. So on AMX CPUs lwz turns extra buffers off unless
    LWZ_EXTRA_BUFFERS=1 asks for them; LWZ_EXTRA_BUFFERS=0 turns them off anywhere.
    """
    setting = os.environ.get("LWZ_EXTRA_BUFFERS", "").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    return "amx_int8" not in cpu_flags()


# llama.cpp loads models with stdout and stderr pointed at /dev/null at the file
# descriptor level (llama-cpp-python's suppress_stdout_stderr, and ours). That is
# process-wide and not thread-safe: two loads at once can leave the descriptors
# pointing at /dev/null for good, and a thread writing meanwhile loses its output.
# Model loads and writers that run beside them (lwz batch --jobs) hold this lock.
NATIVE_IO = threading.RLock()
