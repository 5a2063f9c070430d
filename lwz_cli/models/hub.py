"""Pulling GGUFs from the Hugging Face Hub: resumable across processes, verified, and
refused up front when the disk cannot hold them.

huggingface_hub supplies the endpoint, the token, offline mode and the file
metadata (size and LFS sha256); the bytes are fetched here because since
huggingface_hub 1.18 an interrupted download is not resumed by the next process
(huggingface_hub#4196). Files land in the shared HF cache layout, so other
tools see them too:

    models--OWNER--NAME/blobs/<sha256>                 the file
    models--OWNER--NAME/blobs/<sha256>.incomplete      bytes so far (kept for resume)
    models--OWNER--NAME/snapshots/<commit>/<filename>  -> ../../blobs/<sha256>
    models--OWNER--NAME/refs/main                      <commit>
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from lwz_cli.errors import RuntimeFailure, UsageError
from lwz_cli.models.registry import hf_cache_dir

CHUNK = 1 << 20
SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    size: int
    sha256: str | None
    commit: str


Progress = Callable[[dict], None]


def offline() -> bool:
    from huggingface_hub import constants  # lazy: huggingface_hub is slow to import

    return bool(constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    from huggingface_hub import constants  # lazy: huggingface_hub is slow to import

    return constants.ENDPOINT.rstrip("/")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def unreachable(exc: BaseException, *, hint_extra: str) -> RuntimeFailure:
    """The one-line "cannot reach the Hub" error for a network failure; the hint
    names HF_ENDPOINT when the user set it (a typo there is the likely cause)."""
    where = "check your connection"
    if os.environ.get("HF_ENDPOINT"):
        where = f"check HF_ENDPOINT ({os.environ['HF_ENDPOINT']}) and your connection"
    return RuntimeFailure(
        f"cannot reach the Hub at {endpoint()} ({_one_line(exc)})", hint=f"{where}, {hint_extra}"
    )


def repo_dir(repo_id: str) -> Path:
    return hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def list_files(repo_id: str, revision: str = "main") -> list[RemoteFile]:
    """Every file of a repo with its size and LFS sha256 (one API call)."""
    if offline():
        raise UsageError(
            f"HF_HUB_OFFLINE is set, so {repo_id} cannot be listed on the Hub",
            hint="unset HF_HUB_OFFLINE, or use a model that is already downloaded",
        )
    import httpx2  # lazy: huggingface_hub's HTTP client, slow to import
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    # What model_info really raises (huggingface_hub 2.x): HfHubHTTPError and its
    # subclasses for an HTTP answer; httpx2's own errors when no answer came
    # (ConnectError, timeouts, UnsupportedProtocol: all httpx2.HTTPError, none an
    # OSError) or the endpoint is not a URL (InvalidURL); OfflineModeIsEnabled; a
    # malformed repo id is HFValidationError.
    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
    except GatedRepoError:
        raise UsageError(
            f"{repo_id} is gated on {endpoint()}",
            hint="accept its terms on the Hub, then set HF_TOKEN",
        ) from None
    except RepositoryNotFoundError:
        raise UsageError(
            f"no model repository {repo_id} on {endpoint()}",
            hint="check the name; private or gated repos need HF_TOKEN",
        ) from None
    except HfHubHTTPError as exc:
        if getattr(getattr(exc, "response", None), "status_code", None) == 404:
            raise UsageError(
                f"no model repository {repo_id} on {endpoint()}",
                hint="check the name; private or gated repos need HF_TOKEN",
            ) from None
        raise RuntimeFailure(
            f"the Hub refused to list {repo_id}: {_one_line(exc)}",
            hint="check HF_TOKEN and your connection",
        ) from None
    except OfflineModeIsEnabled:
        raise UsageError(
            f"HF_HUB_OFFLINE is set, so {repo_id} cannot be listed on the Hub",
            hint="unset HF_HUB_OFFLINE, or use a model that is already downloaded",
        ) from None
    except HFValidationError:
        raise UsageError(
            f"{repo_id!r} is not a Hub repository name", hint="name it OWNER/NAME"
        ) from None
    except (httpx2.HTTPError, httpx2.InvalidURL, OSError) as exc:
        raise unreachable(exc, hint_extra="or set HF_HUB_OFFLINE=1 to use the cache") from None
    if info.sha is None:  # the Hub always sends it; the cache layout is keyed on it
        raise RuntimeFailure(
            f"the Hub listed {repo_id} without its commit", hint="try again in a moment"
        )
    files = []
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        files.append(
            RemoteFile(
                repo_id,
                sibling.rfilename,
                int(sibling.size or (lfs.size if lfs else 0)),
                lfs.sha256 if lfs else None,
                info.sha,
            )
        )
    return files


def select(
    files: list[RemoteFile], *, quant: str | None = None, filename: str | None = None
) -> list[RemoteFile]:
    """The file(s) for a quant or a file name; all shards of a sharded GGUF."""
    if filename:
        chosen = [f for f in files if f.filename == filename]
        shard = SHARD.search(filename)
        if shard:
            stem = filename[: shard.start()]
            chosen = [f for f in files if f.filename.startswith(stem) and SHARD.search(f.filename)]
    else:
        pattern = re.compile(
            r"(^|[-_./])" + re.escape(quant or "") + r"(\.gguf$|-\d{5}-of-\d{5}\.gguf$|/)",
            re.IGNORECASE,
        )
        chosen = [
            f
            for f in files
            if f.filename.endswith(".gguf")
            and pattern.search(f.filename)
            and "mmproj" not in f.filename.lower()
        ]
    return sorted(chosen, key=lambda f: f.filename)


def free_bytes(path: Path) -> int:
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def check_space(files: list[RemoteFile], where: Path) -> None:
    """Refuse before the first byte: "need 19.9 GB, have 7.2 GB at PATH"."""
    needed = 0
    for f in files:
        blob = where / "blobs" / (f.sha256 or f.filename)
        if blob.exists():
            continue
        partial = blob.with_name(blob.name + ".incomplete")
        needed += f.size - (partial.stat().st_size if partial.exists() else 0)
    have = free_bytes(where)
    if needed > have:
        raise UsageError(
            f"not enough disk space: need {_gb(needed)}, have {_gb(have)} at {where}",
            hint="free space there, or point HF_HOME / HF_HUB_CACHE at a bigger disk",
        )


def _request(url: str, headers: dict[str, str], method: str = "GET"):
    request = urllib.request.Request(url, method=method)
    for key, value in headers.items():
        if key.lower() == "authorization":
            request.add_unredirected_header(key, value)  # never sent on to the CDN
        else:
            request.add_header(key, value)
    return urllib.request.urlopen(request, timeout=60)


def _auth_headers() -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers  # lazy: huggingface_hub is slow to import

    headers = build_hf_headers()
    return {k: v for k, v in headers.items() if k.lower() in ("authorization", "user-agent")}


def download(
    file: RemoteFile, *, progress: Progress | None = None, cancel: Callable[[], bool] | None = None
) -> Path:
    """Fetch one file into the HF cache, resuming from `.incomplete` bytes; verify
    sha256 before the file is placed. Returns the snapshot path."""
    root = repo_dir(file.repo_id)
    blobs = root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    name = file.sha256 or hashlib.sha256(file.filename.encode()).hexdigest()
    blob = blobs / name
    snapshot = root / "snapshots" / file.commit / file.filename
    if not blob.exists():
        partial = blobs / (name + ".incomplete")
        _fetch(file, partial, progress, cancel)
        _verify(file, partial)
        os.replace(partial, blob)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if snapshot.is_symlink() or snapshot.exists():
        snapshot.unlink()
    os.symlink(os.path.relpath(blob, snapshot.parent), snapshot)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(file.commit)
    return snapshot


def _fetch(
    file: RemoteFile, partial: Path, progress: Progress | None, cancel: Callable[[], bool] | None
) -> None:
    url = f"{endpoint()}/{file.repo_id}/resolve/{file.commit}/{quote(file.filename)}"
    have = partial.stat().st_size if partial.exists() else 0
    if have > file.size:  # longer than the file: not ours to keep
        partial.unlink()
        have = 0
    if have == file.size:
        return
    headers = _auth_headers()
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = _request(url, headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the server thinks we are done: let the hash decide
            return
        raise RuntimeFailure(
            f"download of {file.filename} failed: HTTP {exc.code}",
            hint="run the same command again to resume",
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, ValueError, OSError) as exc:
        # ValueError: urllib's "unknown url type" for an HF_ENDPOINT without http(s)://
        raise unreachable(exc, hint_extra="then run the same command again to resume") from None
    status = getattr(response, "status", 200)
    mode = "ab" if have and status == 206 else "wb"
    if mode == "wb":
        have = 0  # the server ignored the Range: start over
    started, last = time.monotonic(), 0.0
    done = have
    try:
        with response, open(partial, mode) as out:
            while True:
                if cancel is not None and cancel():
                    raise KeyboardInterrupt
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if progress and (now - last >= 0.2 or done == file.size):
                    last = now
                    rate = (done - have) / max(now - started, 1e-6)
                    progress(
                        {
                            "file": file.filename,
                            "done": done,
                            "total": file.size,
                            "rate": rate,
                            "resumed_from": have,
                        }
                    )
            out.flush()
            os.fsync(out.fileno())
    except http.client.HTTPException:  # IncompleteRead and the like: not OSErrors
        raise RuntimeFailure(
            f"the download of {file.filename} broke off at {_gb(done)} of {_gb(file.size)}",
            hint="run the same command again: it resumes from there",
        ) from None
    except OSError as exc:
        if (
            isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError))
            or exc.errno is None
        ):
            raise RuntimeFailure(
                f"the download of {file.filename} broke off at {_gb(done)} of {_gb(file.size)}",
                hint="run the same command again: it resumes from there",
            ) from None
        raise RuntimeFailure(
            f"cannot write {partial}: {exc.strerror}",
            hint="free space or fix the folder, then run the command again",
        ) from None
    if done < file.size:
        raise RuntimeFailure(
            f"the download of {file.filename} broke off at {_gb(done)} of {_gb(file.size)}",
            hint="run the same command again: it resumes from there",
        )


def _verify(file: RemoteFile, partial: Path) -> None:
    if not file.sha256:
        return
    digest = hashlib.sha256()
    with open(partial, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    if digest.hexdigest() != file.sha256:
        size = partial.stat().st_size
        partial.unlink()
        raise RuntimeFailure(
            f"{file.filename} failed its sha256 check ({size:,} bytes downloaded, expected "
            f"{file.sha256[:12]}…); the bad bytes were deleted",
            hint="run the same command again to download it afresh",
        )


def cached_files(pattern: str = "*.gguf") -> list[tuple[str, Path]]:
    """(repo_id, snapshot path) of every complete GGUF in the HF cache."""
    root = hf_cache_dir()
    found: list[tuple[str, Path]] = []
    if not root.is_dir():
        return found
    for repo in sorted(root.glob("models--*")):
        repo_id = repo.name[len("models--") :].replace("--", "/", 1)
        for path in sorted((repo / "snapshots").glob("*/**/*")):
            if fnmatch.fnmatch(path.name, pattern) and path.exists():
                found.append((repo_id, path))
    return found
