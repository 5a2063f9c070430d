"""A repo's file listing from the Hub (one API call), read with bounds and checked
field by field before anything is built from it.

The listing is read to at most MAX_LISTING_BYTES (32 MiB, about 140,000 files) and
parsed only if it holds at most MAX_LISTING_VALUES JSON values, so a hostile or
broken server costs bounded memory and time; a bigger answer is refused in one
line. A listing of 100,000 files is read and checked in well under a second.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from lwz_cli.errors import RuntimeFailure, UsageError
from lwz_cli.models.hub_rules import (
    check_commit,
    check_filename,
    check_sha256,
    check_size,
    endpoint,
    misbehaved,
    offline,
    one_line,
    shown,
    unreachable,
)

if TYPE_CHECKING:
    import httpx2

MAX_LISTING_BYTES = 32 << 20
MAX_LISTING_VALUES = 2_000_000  # each makes a Python object when parsed
MAX_FILES = 200_000
MAX_ERROR_BYTES = 64 << 10  # of an error answer, for its message
READ_TIMEOUT_S = 60.0  # connecting, and each read
LISTING_DEADLINE_S = 300.0  # the whole listing: a trickle of bytes cannot hold lwz forever


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    size: int
    sha256: str | None
    commit: str


def list_files(repo_id: str, revision: str = "main") -> list[RemoteFile]:
    """Every file of a repo with its size and LFS sha256, each field checked."""
    if offline():
        raise UsageError(
            f"HF_HUB_OFFLINE is set, so {repo_id} cannot be listed on the Hub",
            hint="unset HF_HUB_OFFLINE, or use a model that is already downloaded",
        )
    return parse_listing(_fetch_listing(repo_id, revision), repo_id)


def _fetch_listing(repo_id: str, revision: str) -> bytes:
    import httpx2  # lazy: huggingface_hub's HTTP client, slow to import
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    # What HfApi.model_info(files_metadata=True) asks, read as a stream so that its
    # size is bounded. Errors as huggingface_hub 2.x raises them: HfHubHTTPError and
    # its subclasses for an HTTP answer; httpx2's own errors when no answer came
    # (ConnectError, timeouts, UnsupportedProtocol: all httpx2.HTTPError, none an
    # OSError) or the endpoint is not a URL (InvalidURL); OfflineModeIsEnabled.
    url = f"{endpoint()}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
    try:
        with get_session().stream(
            "GET",
            url,
            params={"blobs": True},
            headers=build_hf_headers(),
            timeout=httpx2.Timeout(READ_TIMEOUT_S),
        ) as response:
            if response.status_code < 400:
                return _read_bounded(response, repo_id)
            body = _read_bounded(response, repo_id, limit=MAX_ERROR_BYTES, cut=True)
            read = httpx2.Response(
                response.status_code,
                headers=response.headers,
                content=body,
                request=response.request,
            )
            hf_raise_for_status(read)
            raise RuntimeFailure(  # hf_raise_for_status raises for every status >= 400
                f"the Hub refused to list {repo_id}: HTTP {response.status_code}",
                hint="check HF_TOKEN and your connection",
            )
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
            f"the Hub refused to list {repo_id}: {one_line(exc)}",
            hint="check HF_TOKEN and your connection",
        ) from None
    except OfflineModeIsEnabled:
        raise UsageError(
            f"HF_HUB_OFFLINE is set, so {repo_id} cannot be listed on the Hub",
            hint="unset HF_HUB_OFFLINE, or use a model that is already downloaded",
        ) from None
    except httpx2.ReadTimeout:  # connected, then silence: not "cannot reach"
        raise RuntimeFailure(
            f"the Hub at {endpoint()} sent nothing for {READ_TIMEOUT_S:.0f} s while listing "
            f"{repo_id}",
            hint="check HF_ENDPOINT and your connection, then run the command again",
        ) from None
    except (httpx2.HTTPError, httpx2.InvalidURL, OSError) as exc:
        raise unreachable(exc, hint_extra="or set HF_HUB_OFFLINE=1 to use the cache") from None


def _read_bounded(
    response: httpx2.Response, repo_id: str, *, limit: int | None = None, cut: bool = False
) -> bytes:
    """The body, refused past `limit` bytes (MAX_LISTING_BYTES; or cut there, for an
    error's message) and past the listing deadline. The limit counts bytes after
    decompression."""
    limit = MAX_LISTING_BYTES if limit is None else limit
    body = bytearray()
    started = time.monotonic()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            if cut:
                return bytes(body[:limit])
            raise misbehaved(f"a listing larger than {limit >> 20} MiB", repo_id)
        if time.monotonic() - started > LISTING_DEADLINE_S:
            raise misbehaved(
                f"a listing that took over {LISTING_DEADLINE_S:.0f} s to arrive", repo_id
            )
    return bytes(body)


def parse_listing(body: bytes, repo_id: str) -> list[RemoteFile]:
    """The RemoteFiles of a model-info answer; every field checked, or one line
    naming the server and the field."""
    # Commas and opening brackets bound how many objects json.loads would make
    # (each value but a container's first follows a comma), counted before parsing.
    values = body.count(b",") + body.count(b"{") + body.count(b"[")
    if values > MAX_LISTING_VALUES:
        raise misbehaved(f"a listing of over {MAX_LISTING_VALUES:,} values", repo_id)
    try:
        info = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the stack
        raise misbehaved("a listing that is not JSON", repo_id) from None
    if not isinstance(info, dict):
        raise misbehaved(f"a listing that is not a JSON object ({shown(info)})", repo_id)
    commit = check_commit(info.get("sha"), repo_id)
    siblings = info.get("siblings")
    if siblings is None:
        siblings = []
    if not isinstance(siblings, list):
        raise misbehaved(f"an invalid file list {shown(siblings)}", repo_id)
    if len(siblings) > MAX_FILES:
        raise misbehaved(f"a listing of {len(siblings):,} files (at most {MAX_FILES:,})", repo_id)
    return [_remote_file(entry, repo_id, commit) for entry in siblings]


def _remote_file(entry: object, repo_id: str, commit: str) -> RemoteFile:
    if not isinstance(entry, dict):
        raise misbehaved(f"an invalid file entry {shown(entry)}", repo_id)
    name = check_filename(entry.get("rfilename"), repo_id)
    where = f"{repo_id}/{name}"
    size = check_size(entry.get("size"), where)
    lfs = entry.get("lfs")
    if lfs is None:
        return RemoteFile(repo_id, name, size, None, commit)
    if not isinstance(lfs, dict):
        raise misbehaved(f"invalid LFS details {shown(lfs)}", where)
    sha256 = check_sha256(lfs.get("sha256"), where)
    lfs_size = check_size(lfs.get("size", size), where)
    if lfs_size != size:
        raise misbehaved(
            f"an invalid size {size:,} (its LFS object is listed as {lfs_size:,} bytes)", where
        )
    return RemoteFile(repo_id, name, size, sha256, commit)
