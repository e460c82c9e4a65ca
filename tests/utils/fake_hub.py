"""A local stand-in for the Hugging Face hub and NGC, for the offline tests of utils/pretrained.

``FakeHub(root)`` serves ``root/<org>/<name>/<file>`` over HTTP on 127.0.0.1 the way the hub's file endpoint
does (``HEAD`` / ``GET /<org>/<name>/resolve/<revision>/<file>`` with the ``ETag``, ``X-Repo-Commit`` and
``Content-Length`` headers huggingface_hub reads), and any other path as a plain file (the NGC-style
download). ``requests`` lists every request, so a test can prove that a cached model touches no network.
"""
import hashlib
import http.server
import os
import re
import threading

FAKE_COMMIT = "c0ffee" + "0" * 34
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


class FakeHub:
    def __init__(self, root):
        self.root = str(root)
        self.requests = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _target(self):
                match = RESOLVE.match(self.path.split("?")[0])
                if match:
                    revision = match["revision"]
                    commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else FAKE_COMMIT
                    return os.path.join(hub.root, match["repo"], match["file"]), commit
                return os.path.join(hub.root, self.path.lstrip("/").split("?")[0]), None

            def _answer(self, with_body):
                hub.requests.append((self.command, self.path))
                path, commit = self._target()
                if not os.path.isfile(path):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with open(path, "rb") as handle:
                    data = handle.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def do_HEAD(self):  # noqa: N802  (http.server's naming)
                self._answer(False)

            def do_GET(self):  # noqa: N802
                self._answer(True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, repo, filename):
        """Folder where ``repo``'s ``filename`` must be written (created); returns the file path."""
        folder = os.path.join(self.root, repo)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, filename)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
