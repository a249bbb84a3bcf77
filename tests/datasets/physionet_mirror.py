"""A loopback HTTP server that answers as PhysioNet does, for ``clue data fetch`` tests.

Paths under ``/files/`` need HTTP basic auth: a wrong password gets 401 with a ``WWW-Authenticate``
challenge, a known account without the project's data use agreement gets 403. A release is published as
its files plus ``SHA256SUMS.txt`` (``HASH PATH`` lines, paths relative to the release root). A path in
``cut`` sends half its body under the full ``Content-Length`` and closes (a truncated download).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER, PASSWORD = "fictional-user", "fictional-password"
NO_AGREEMENT = "fictional-user-without-agreement"


class Mirror:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.accounts = {USER: PASSWORD, NO_AGREEMENT: PASSWORD}
        self.no_agreement = {NO_AGREEMENT}
        self.cut: set[str] = set()
        self.seen_auth: list[str | None] = []
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _empty(self, code: int, challenge: bool = False) -> None:
                self.send_response(code)
                if challenge:
                    self.send_header("WWW-Authenticate", 'Basic realm="PhysioNet"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                auth = self.headers.get("Authorization")
                mirror.seen_auth.append(auth)
                mirror.requests.append(self.path)
                if self.path.startswith("/files/"):
                    user = mirror.user_of(auth)
                    if user is None:
                        return self._empty(401, challenge=True)
                    if user in mirror.no_agreement:
                        return self._empty(403)
                body = mirror.files.get(self.path)
                if body is None:
                    return self._empty(404)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in mirror.cut else body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def user_of(self, auth: str | None) -> str | None:
        for user, password in self.accounts.items():
            if auth == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode():
                return user
        return None

    def publish(self, release: str, files: dict[str, bytes], listed: dict[str, bytes] | None = None) -> None:
        """Serve ``files`` (path in the release -> bytes) under ``/files/<release>/`` with their
        ``SHA256SUMS.txt``; ``listed`` overrides the bytes a checksum is computed from."""
        lines = []
        for path, body in files.items():
            self.files[f"/files/{release}/{path}"] = body
            lines.append(f"{hashlib.sha256((listed or {}).get(path, body)).hexdigest()} {path}\n")
        lines.append(f"{'0' * 64} LICENSE.txt\n")
        self.files[f"/files/{release}/SHA256SUMS.txt"] = "".join(lines).encode()

    def __enter__(self) -> "Mirror":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
