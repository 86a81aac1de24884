"""`python -m local_openai --host 127.0.0.1 --port 8100 --data-dir var/local_openai` (waitress, threaded)."""

from __future__ import annotations

import logging
import sys

from waitress.server import create_server

from local_openai.app import create_app
from local_openai.config import parse_args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    app = create_app(config)
    server = create_server(app, host=config.host, port=config.port, threads=config.threads)
    # Tests and launchers read this line to learn the port when --port 0 picked a free one.
    print(f"local_openai listening on http://{config.host}:{server.effective_port}/v1", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
