"""A local fake of the Hugging Face Hub API: a real HTTP server on 127.0.0.1, never the internet.

It implements exactly the routes ``huggingface_hub`` 2.x ``snapshot_download`` calls (read from
the installed library: ``_snapshot_download.py``, ``file_download.py``, ``hf_api.py``):

- ``GET /api/models/{repo}/revision/{revision}``: the repo info; only ``sha`` (the commit a
  branch or tag resolves to) is used. Skipped by the library when the revision is a commit sha.
- ``GET /api/models/{repo}/tree/{commit}?recursive=True``: the file listing (one page, no
  ``Link`` header). No ``xetHash`` is listed, so the library never takes the Xet path.
- ``HEAD`` and ``GET /{repo}/resolve/{commit}/{path}``: a file. The HEAD answer carries
  ``X-Repo-Commit``, ``ETag`` (the git blob sha1; for LFS files ``X-Linked-Etag`` with the
  sha256 and ``X-Linked-Size``) and ``Content-Length``; no ``X-Xet-Hash`` header.

Errors answer like the Hub: ``X-Error-Code`` ``RepoNotFound`` (404), ``RevisionNotFound`` (404)
and, for the gated repo's files without the right ``Authorization: Bearer`` token,
``GatedRepo`` (401). ``org/broken`` drops the connection on every file download; a repo's
``stall_s`` holds its info answer back. Every
request is recorded (method, path, whether it carried the gated repo's token) in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from safetensors.numpy import save

GATED_TOKEN = "hf_fake_gated_token_0123456789"
#: Files stored through git LFS on the real Hub (their ETag is the content's sha256).
LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")
LFS_SPEC = "https://git-lfs.github.com/spec/v1"


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def tiny_safetensors(seed: int) -> bytes:
    """A small, valid safetensors file (two tensors) whose bytes depend on ``seed``."""
    rng = np.random.default_rng(seed)
    return save(
        {
            "embed.weight": rng.standard_normal((8, 4)).astype(np.float32),
            "norm.weight": np.ones(4, dtype=np.float32),
        }
    )


@dataclass
class FakeRepo:
    """A model repo: commits (sha -> files) and refs (branch or tag -> sha)."""

    commits: dict[str, dict[str, bytes]]
    refs: dict[str, str]
    gated: bool = False
    broken: bool = False
    #: Seconds the repo info answer is held back (a stalled hub).
    stall_s: float = 0.0

    def resolve(self, revision: str) -> str | None:
        """The commit ``revision`` (a ref or a commit sha) names, or None."""
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


def _default_repos() -> dict[str, FakeRepo]:
    old, new = _sha1("org/tiny v1"), _sha1("org/tiny main")
    tiny_v1 = {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "revision": 1}).encode(),
        "model.safetensors": tiny_safetensors(1),
    }
    tiny_main = {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "revision": 2}).encode(),
        "model.safetensors": tiny_safetensors(2),
    }
    gated = {"config.json": b'{"gated": true}', "model.safetensors": tiny_safetensors(3)}
    return {
        "org/tiny": FakeRepo({old: tiny_v1, new: tiny_main}, {"main": new, "v1": old}),
        "org/gated": FakeRepo({_sha1("gated"): gated}, {"main": _sha1("gated")}, gated=True),
        "org/broken": FakeRepo({_sha1("broken"): gated}, {"main": _sha1("broken")}, broken=True),
    }


@dataclass
class FakeHub:
    """The fake's state: its repos and the requests it received."""

    endpoint: str = ""
    repos: dict[str, FakeRepo] = field(default_factory=_default_repos)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, authorized: bool) -> None:
        """Remember one request."""
        with self._lock:
            self.requests.append((method, path, authorized))

    def paths(self, method: str | None = None) -> list[str]:
        """Paths requested so far (optionally only with ``method``)."""
        with self._lock:
            return [p for m, p, _ in self.requests if method is None or m == method]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision``."""
        repo = self.repos[repo_id]
        commit = repo.resolve(revision)
        assert commit is not None, f"{repo_id} has no revision {revision}"
        return repo.commits[commit]

    def write(self, repo_id: str, dest: Path, revision: str = "main") -> Path:
        """Write the repo's files at ``revision`` under ``dest`` (an independent copy)."""
        for rel, data in self.files(repo_id, revision).items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        return dest


def _tree_entry(path: str, data: bytes) -> dict[str, object]:
    """One entry of the tree listing, as the Hub returns it."""
    entry: dict[str, object] = {"type": "file", "path": path, "size": len(data)}
    if path.endswith(LFS_SUFFIXES):
        sha256 = hashlib.sha256(data).hexdigest()
        pointer = f"version {LFS_SPEC}\noid sha256:{sha256}\nsize {len(data)}\n"
        entry["oid"] = _blob_sha1(pointer.encode())
        entry["lfs"] = {"oid": sha256, "size": len(data), "pointerSize": len(pointer)}
    else:
        entry["oid"] = _blob_sha1(data)
    return entry


def _blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # quiet: the test reads hub.requests instead

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _send(
            self, status: int, data: bytes, headers: dict[str, str], *, body: bool = True
        ) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _error(self, status: int, code: str, message: str, *, body: bool = True) -> None:
            data = json.dumps({"error": message}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Code": code}
            headers["X-Error-Message"] = message
            self._send(status, data, headers, body=body)

        def _serve(self, *, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            authorized = self.headers.get("Authorization") == f"Bearer {GATED_TOKEN}"
            hub.record(self.command, path, authorized)
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) >= 6:
                repo_id, kind, revision = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
                found = self._commit(repo_id, revision, body)
                if found is None:
                    return None
                repo, commit = found
                files = repo.commits[commit]
                if kind == "revision":
                    time.sleep(repo.stall_s)
                    info = {
                        "id": repo_id,
                        "sha": commit,
                        "private": False,
                        "gated": "manual" if repo.gated else False,
                        "siblings": [{"rfilename": name} for name in files],
                    }
                    return self._json(info, body)
                if kind == "tree":
                    return self._json([_tree_entry(p, d) for p, d in sorted(files.items())], body)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), body)
            return self._error(404, "NotFound", f"no route {path}", body=body)

        def _json(self, value: object, body: bool) -> None:
            data = json.dumps(value).encode()
            self._send(200, data, {"Content-Type": "application/json"}, body=body)

        def _commit(self, repo_id: str, revision: str, body: bool) -> tuple[FakeRepo, str] | None:
            """The repo and the commit ``revision`` names there; None once a 404 has answered
            an unknown repo or revision."""
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found", body=body)
                return None
            commit = repo.resolve(revision)
            if commit is None:
                self._error(404, "RevisionNotFound", "Invalid rev id", body=body)
                return None
            return repo, commit

        def _resolve(self, repo_id: str, revision: str, rel: str, body: bool) -> None:
            found = self._commit(repo_id, revision, body)
            if found is None:
                return None
            repo, commit = found
            if repo.gated and self.headers.get("Authorization") != f"Bearer {GATED_TOKEN}":
                message = f"Access to model {repo_id} is restricted: you must be authenticated"
                return self._error(401, "GatedRepo", message, body=body)
            data = repo.commits[commit].get(rel)
            if data is None:
                return self._error(404, "EntryNotFound", f"{rel} not found", body=body)
            if repo.broken and body:
                self.close_connection = True  # the hub goes away mid-download
                return None
            headers = {"X-Repo-Commit": commit, "Content-Type": "application/octet-stream"}
            if rel.endswith(LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                headers.update({"X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data))})
                headers["ETag"] = f'"{sha256}"'
            else:
                headers["ETag"] = f'"{_blob_sha1(data)}"'
            self._send(200, data, headers, body=body)
            return None

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up on a stalled answer leaves a broken pipe: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def fake_hub() -> Iterator[FakeHub]:
    """Run the fake Hub on a free port of 127.0.0.1; yield it; stop it after."""
    hub = FakeHub()
    server = _Server(("127.0.0.1", 0), _handler(hub))
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-hf-hub", daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
