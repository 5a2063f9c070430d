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

Nothing the server says is trusted: the listing is read bounded and checked field by
field (hub_listing, hub_rules), every path touched stays inside the repo's folder
(hub_cache), and a body whose size disagrees with the listing is refused.
"""

from __future__ import annotations

import contextlib
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
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

from lwz_cli.errors import RuntimeFailure, UsageError
from lwz_cli.models.hub_cache import RepoCache, repo_folder_name
from lwz_cli.models.hub_listing import RemoteFile
from lwz_cli.models.hub_rules import endpoint, misbehaved, unreachable
from lwz_cli.models.registry import hf_cache_dir

CHUNK = 1 << 20
SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")

Progress = Callable[[dict], None]


def repo_dir(repo_id: str) -> Path:
    return hf_cache_dir() / repo_folder_name(repo_id)


def blob_name(file: RemoteFile) -> str:
    """The blob's name: its LFS sha256, or (a small non-LFS file) a hash of its name."""
    return file.sha256 or hashlib.sha256(file.filename.encode()).hexdigest()


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
    return shutil.disk_usage(path).free


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def check_space(files: list[RemoteFile], cache: RepoCache) -> None:
    """Refuse before the first byte: "need 19.9 GB, have 7.2 GB at PATH"."""
    needed = 0
    for f in files:
        blob = cache.blob(blob_name(f))
        if blob.exists():
            continue
        partial = cache.partial(blob_name(f))
        needed += f.size - (partial.stat().st_size if partial.exists() else 0)
    where = cache.make_folder()
    have = free_bytes(where)
    if needed > have:
        raise UsageError(
            f"not enough disk space: need {_gb(needed)}, have {_gb(have)} at {where}",
            hint="free space there, or point HF_HOME / HF_HUB_CACHE at a bigger disk",
        )


def check_paths(files: list[RemoteFile], cache: RepoCache) -> None:
    """Refuse before the first byte a path of the pull that would lead out of the
    repo's cache folder (a folder there symlinked elsewhere)."""
    for f in files:
        cache.blob(blob_name(f))
        cache.partial(blob_name(f))
        cache.snapshot(f.commit, f.filename)
    cache.checked(cache.folder / "refs" / "main")


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
    sha256 and size before the file is placed. Returns the snapshot path. Every
    path touched is inside the repo's cache folder (hub_cache.RepoCache)."""
    cache = RepoCache(file.repo_id)
    cache.make_folder(cache.folder / "blobs")
    blob = cache.blob(blob_name(file))
    snapshot = cache.snapshot(file.commit, file.filename)
    if not blob.exists():
        partial = cache.partial(blob_name(file))
        _fetch(file, cache, partial, progress, cancel)
        _verify(file, partial)
        os.replace(partial, blob)
    cache.link(snapshot, blob)
    cache.write_ref(file.commit)
    return snapshot


def _fetch(
    file: RemoteFile,
    cache: RepoCache,
    partial: Path,
    progress: Progress | None,
    cancel: Callable[[], bool] | None,
) -> None:
    url = f"{endpoint()}/{file.repo_id}/resolve/{file.commit}/{quote(file.filename)}"
    have = partial.stat().st_size if partial.exists() else 0
    if have > file.size:  # longer than the file: not ours to keep
        partial.unlink()
        have = 0
    if have == file.size:
        cache.open_partial(partial, append=True).close()  # an empty file has no bytes to fetch
        return
    headers = _auth_headers()
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = _request(url, headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the server thinks we are done: the size and hash decide
            return
        raise RuntimeFailure(
            f"download of {file.filename} failed: HTTP {exc.code}",
            hint="run the same command again to resume",
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, ValueError, OSError) as exc:
        # ValueError: urllib's "unknown url type" for an HF_ENDPOINT without http(s)://
        raise unreachable(exc, hint_extra="then run the same command again to resume") from None
    status = getattr(response, "status", 200)
    append = bool(have) and status == 206
    if append:
        _check_range(response, have, file)
    else:
        have = 0  # the server ignored the Range: start over
    announced = _declared_length(response)
    if announced is not None and have + announced != file.size:
        response.close()  # refused before a byte is written, not after
        _refuse_size(file, partial, have + announced)
    started, last = time.monotonic(), 0.0
    done = have
    try:
        with response, cache.open_partial(partial, append=append) as out:
            while True:
                if cancel is not None and cancel():
                    raise KeyboardInterrupt
                # at most one byte past the listed size: enough to tell a longer body
                chunk = response.read(min(CHUNK, file.size - done + 1))
                if not chunk:
                    break
                if done + len(chunk) > file.size:  # a body without a length, too long
                    out.close()
                    _refuse_size(file, partial, done + len(chunk))
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


def _refuse_size(file: RemoteFile, partial: Path, sent: int) -> NoReturn:
    """The server's body and its listing disagree on the size: its bytes are not kept."""
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    what = (
        f"more bytes than the size it listed ({file.size:,})"
        if sent > file.size
        else f"only {sent:,} bytes of the size it listed ({file.size:,})"
    )
    raise misbehaved(what, f"{file.repo_id}/{file.filename}", then=" (they were deleted)")


def _declared_length(response) -> int | None:
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isascii() and length.isdigit() else None


def _check_range(response, have: int, file: RemoteFile) -> None:
    """A 206 must continue where the bytes on disk end, or they would be spliced wrong."""
    content_range = response.headers.get("Content-Range")
    start = _CONTENT_RANGE.match(content_range or "")
    if content_range is not None and (start is None or int(start.group(1)) != have):
        response.close()
        raise misbehaved(
            f"an invalid Content-Range {content_range!r} (asked for bytes {have:,} on)",
            f"{file.repo_id}/{file.filename}",
        )


def _verify(file: RemoteFile, partial: Path) -> None:
    size = partial.stat().st_size if partial.exists() else 0
    if size != file.size:  # a 416 with bytes missing, or a file changed under us
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise misbehaved(
            f"{size:,} bytes, not the size it listed ({file.size:,}),",
            f"{file.repo_id}/{file.filename}",
            then=" (they were deleted)",
        )
    if not file.sha256:
        return
    digest = hashlib.sha256()
    with open(partial, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    if digest.hexdigest() != file.sha256:
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
