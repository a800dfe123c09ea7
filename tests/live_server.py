"""A live MJPEG-over-HTTP camera on 127.0.0.1 for tests: it can be stopped and restarted.

The scene moves with the wall clock (two coloured boxes gliding slowly), so objects are where
they should be after an outage, as with a real camera.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

import tracker.structures as st

WIDTH, HEIGHT = 320, 240
COLOURS = ((0, 0, 255), (255, 0, 0))


def scene_boxes(t: float) -> np.ndarray:
    """(2, 4) boxes at time ``t`` seconds: both drift 15 px/s, far apart."""
    x = 40 + 15 * t
    return np.array([[x, 60, x + 50, 110], [250 - 15 * t, 150, 300 - 15 * t, 200]], np.float32)


def render(t: float, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
    for (x1, y1, x2, y2), colour in zip(scene_boxes(t).astype(int), COLOURS, strict=True):
        cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), colour, -1)
    if size != (WIDTH, HEIGHT):
        image = cv2.resize(image, size)
    return image


class ColourDetector:
    """Saturated blobs are objects: a deterministic detector for the live tests."""

    class_names = ("car",)

    def detect(self, frames):
        out = []
        for frame in frames:
            hsv = cv2.cvtColor(frame.image, cv2.COLOR_BGR2HSV)
            mask = (hsv[..., 1] > 120).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:] if area > 100]
            xyxy = np.array(boxes, np.float32).reshape(-1, 4)
            out.append(st.Detections(xyxy, np.full(len(xyxy), 0.9), np.zeros(len(xyxy))))
        return out


class LiveServer:
    """``start()``, ``stop()`` (drops every connection), ``start()`` again on the same port."""

    def __init__(self, fps: float = 20.0) -> None:
        self.fps = fps
        self.port = 0
        self.size = (WIDTH, HEIGHT)
        self.origin = time.monotonic()
        self._server: ThreadingHTTPServer | None = None
        self._alive = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> None:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while server_self._alive.is_set():
                        t = time.monotonic() - server_self.origin
                        ok, jpg = cv2.imencode(".jpg", render(t, server_self.size))
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                        self.wfile.write(head.encode() + jpg.tobytes() + b"\r\n")
                        time.sleep(1.0 / server_self.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self._alive.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._alive.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
