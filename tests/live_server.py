"""The app served on 127.0.0.1 in a thread (browser tests, parallel-request tests)."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="live-server")

        self.consumer = None

    def start(self):
        if not self.app.config.get("HUEY_IMMEDIATE"):  # tasks in a worker, as in production
            from marketplace import taskqueue

            self.consumer = taskqueue.start_in_threads(workers=1)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        if self.consumer is not None:
            self.consumer.stop(graceful=True)


@pytest.fixture
def live_server(app):
    """``.url`` (``http://127.0.0.1:PORT``) and ``.app``; a threaded server, stopped after."""
    server = LiveServer(app).start()
    yield server
    server.stop()
