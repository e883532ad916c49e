"""Random-weight files in the authors' layouts for the fetch tests, and a local HTTP server.

The files are made by the PyTorch reference networks of ``tests/engine/test_eccv16.py`` and
``tests/engine/test_siggraph17.py`` (at width 0.125, which the converters read from the files),
under the authors' file names; :func:`make_ddcolor_file` writes a random-weight DDColor-T state dict
(the reference network of ``tests/engine/test_ddcolor.py``, from the ``spandrel-extra-arches``
wheel) under the Hugging Face file name.  The napari tests run :func:`make_files` as a script
(torch must stay out of the napari process)::

    python tests/pretrained_files.py OUT_FOLDER     # prints the files' JSON
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: catalogue name -> (converter, the authors' file name)
FILES = {
    "eccv16-authors": ("eccv16", "colorization_release_v2-9b330a0b.pth"),
    "siggraph17-authors": ("siggraph17", "siggraph17-df00044c.pth"),
}
WIDTH = 0.125
#: the DDColor entry of the fetch tests: its name and its file as a mirror holds it (the Hugging Face
#: repository's name, then its file name)
DDCOLOR = ("ddcolor-paper-tiny", "ddcolor_paper_tiny/pytorch_model.bin")
#: the input size of the random DDColor network (small: the test stays fast)
DDCOLOR_SIZE = 64


def make_files(folder: str | Path, width: float = WIDTH) -> dict[str, dict[str, Any]]:
    """Write the random-weight ``.pth`` files into ``folder``: name -> file, sha256, size."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))
    from test_eccv16 import _randomise as randomise_eccv16
    from test_eccv16 import _torch_eccv16
    from test_siggraph17 import _randomise as randomise_siggraph17
    from test_siggraph17 import _torch_siggraph17

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    eccv = _torch_eccv16(torch, width).eval()
    randomise_eccv16(torch, eccv, 313)
    sig = _torch_siggraph17(torch, width).eval()
    randomise_siggraph17(torch, sig)
    out = {}
    for name, net in (("eccv16-authors", eccv), ("siggraph17-authors", sig)):
        path = folder / FILES[name][1]
        torch.save(net.state_dict(), path)
        data = path.read_bytes()
        out[name] = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return out


def make_ddcolor_file(folder: str | Path, size: int = DDCOLOR_SIZE) -> dict[str, Any]:
    """Write a random-weight DDColor-T state dict as the Hugging Face repositories hold it (a plain
    state dict, ``pytorch_model.bin``) into ``folder/ddcolor_paper_tiny``: file, sha256, size.
    Skips the test when ``spandrel-extra-arches`` (the reference network) is not installed."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))
    from test_ddcolor import _torch_ddcolor  # skips when spandrel_extra_arches is missing

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = _torch_ddcolor(torch, "tiny", size, warmup=2)
    path = folder / DDCOLOR[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    data = path.read_bytes()
    return {"file": DDCOLOR[1], "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def write_catalogue(
    path: str | Path, files: dict[str, dict[str, Any]], base_url: str, *, sha: dict[str, str] | None = None
) -> Path:
    """An extra catalogue (``$NAPARI_COLORIZE_CATALOGUE``): the package's entries with the test files'
    SHA-256 and sizes, downloaded from ``base_url`` (``sha`` overrides a name's SHA-256; an entry
    whose SHA-256 is null in the package stays null, its size unknown).  Only the entries of
    ``files`` are written (the others stay the package's)."""
    from napari_colorize.pretrained import CATALOGUE_FILE

    entries = [e for e in json.loads(CATALOGUE_FILE.read_text())["models"] if e["name"] in files]
    for e in entries:
        f = files[e["name"]]
        e["urls"] = [base_url.rstrip("/") + "/" + f["file"]]
        if e["sha256"] is not None or e["name"] in (sha or {}):
            e["sha256"] = (sha or {}).get(e["name"], f["sha256"])
            e["size_mb"] = f["size"] / 1e6
        if e["method"] == "ddcolor":
            e["config"] = {**e.get("config", {}), "input_size": f.get("input_size", DDCOLOR_SIZE)}
    path = Path(path)
    path.write_text(json.dumps({"format": 1, "models": entries}))
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; ``/die/FILE`` sends half of FILE (announcing all of it) and hangs up;
    ``/slow/FILE`` sends FILE in 64 KiB pieces, 0.2 s apart (time to press Cancel)."""

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/die/"):
            data = (Path(self.directory) / self.path[len("/die/") :]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/slow/"):
            import time

            data = (Path(self.directory) / self.path[len("/slow/") :]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for i in range(0, len(data), 1 << 16):
                    self.wfile.write(data[i : i + (1 << 16)])
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:  # the client hung up (cancelled)
                pass
            self.close_connection = True
            return
        super().do_GET()


@contextlib.contextmanager
def serve(folder: str | Path) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server on 127.0.0.1 serving ``folder`` in a thread: yields its URL and the
    paths requested; shut down on exit."""
    import functools

    handler = functools.partial(_Handler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 5
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    print(json.dumps(make_files(sys.argv[1])))
