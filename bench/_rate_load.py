"""Open-loop load at a fixed offered rate, from its own process.

Reads pre-signed requests (JSON lines: method, path, headers, body) and sends request i at
start + i / rate over keep-alive connections. Latency is measured from the scheduled send time,
so a slow server is not hidden by a waiting client (no coordinated omission). Prints one JSON
object: sent, ok, errors, status counts, latencies in ms.
"""

from __future__ import annotations

import http.client
import json
import queue
import sys
import threading
import time


def main() -> None:
    host, port, rate, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    with open(path) as fh:
        requests = [json.loads(line) for line in fh]
    jobs: queue.Queue = queue.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while True:
            job = jobs.get()
            if job is None:
                return
            scheduled, req = job
            try:
                conn.request(req["method"], req["path"], req["body"].encode(), req["headers"])
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                status = 599
            done = time.perf_counter()
            with lock:
                latencies.append(done - scheduled)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    start = time.perf_counter() + 0.2
    for i, req in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put((scheduled, req))
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    print(
        json.dumps(
            {
                "sent": len(requests),
                "ok": ok,
                "errors": len(requests) - ok,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "achieved_per_s": round(len(requests) / elapsed, 1),
                "p50_ms": pct(50),
                "p90_ms": pct(90),
                "p99_ms": pct(99),
                "max_ms": round(latencies[-1] * 1000, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
