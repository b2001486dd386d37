"""CIFAR-10 archives in the real format, generated: laid out exactly like cifar-10-python.tar.gz
(cifar-10-batches-py/ with five training batches, a test batch, batches.meta and readme.html;
protocol-2 pickles of dicts with bytes keys; b"data" as (N, 3072) uint8 rows, red plane first;
b"labels" as a list of ints), at any size up to the real one (10,000 images per batch), with
deterministic content that has class structure: each class is a smooth colour pattern of its own
plus noise, so a linear classifier learns it and chance is visibly beaten. Server serves one
over loopback as a web server would."""
import io
import pickle
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")  # as batches.meta spells them
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def class_patterns(seed=0):
    """(10, 3, 32, 32) float: a smooth pattern per class (8x8 random colours blown up 4x)."""
    coarse = np.random.default_rng(seed).normal(0.0, 40.0, (10, 3, 8, 8))
    return 128.0 + np.kron(coarse, np.ones((1, 1, 4, 4)))


def batch(name, n, rng, patterns, noise=60):
    labels = rng.integers(0, 10, n)
    noise = rng.integers(-noise, noise + 1, (n, 3, 32, 32), np.int16)
    images = np.rint(patterns[labels]).astype(np.int16) + noise
    data = np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072)
    return {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data,
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}


def archive_bytes(per_batch=10_000, seed=0, compresslevel=0):
    """The .tar.gz as bytes, and the batches it holds ({name: dict as pickled}). compresslevel 0
    still writes gzip (stored blocks): the full size takes seconds instead of a minute."""
    rng = np.random.default_rng(seed + 1)
    patterns = class_patterns(seed)
    batches, buffer = {}, io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=compresslevel) as tar:
        members = [(name, batch(name, per_batch, rng, patterns)) for name in TRAIN_BATCHES + ("test_batch",)]
        members.append(("batches.meta", {b"num_cases_per_batch": per_batch,
                                         b"label_names": [c.encode() for c in CLASS_NAMES],
                                         b"num_vis": 3072}))
        for name, content in members:
            batches[name] = content
            payload = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        readme = b"<html><body>A generated stand-in for CIFAR-10, in its format.</body></html>"
        info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return buffer.getvalue(), batches


class Server:
    """A loopback HTTP server for one file, honouring Range requests like a real web server.
    cut_after: close the connection after this many body bytes of the next response."""

    def __init__(self, payload):
        self.payload, self.cut_after, self.requests = payload, None, []
        self.ignore_range = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                start = 0
                if self.headers.get("Range") and not server.ignore_range:
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(server.payload):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[:server.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
