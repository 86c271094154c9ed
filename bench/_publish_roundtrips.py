"""Round trips to the database, counted inside the bench's worker processes (bench/publish.py adds this module to
the worker command and sets PUBLISH_BENCH_COUNT_DIR); nothing happens when that variable is unset.

Counted from SQLAlchemy's `before_cursor_execute` event: each statement is one round trip (an executemany too:
asyncpg pipelines it), and a statement that opens a transaction adds two, its BEGIN and its COMMIT or ROLLBACK
(an autocommitted statement adds none). Pool pings are not counted (publish workers ping only a connection idle
for 2 s). Each process writes its running total to `<pid>.count` in that directory every 0.5 s.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

DIRECTORY = os.environ.get("PUBLISH_BENCH_COUNT_DIR")
INTERVAL = 0.5
_state = {"count": 0, "pid": 0}


def _before(conn: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any, _many: bool) -> None:
    if _state["pid"] != os.getpid():  # first statement of this process (a forked child starts at zero)
        _state.update(count=0, pid=os.getpid())
        threading.Thread(target=_write, args=(Path(str(DIRECTORY)) / f"{os.getpid()}.count",), daemon=True).start()
    adapted = conn.connection.dbapi_connection
    opens = getattr(adapted, "_transaction", True) is None and getattr(adapted, "isolation_level", "") != "autocommit"
    _state["count"] += 3 if opens else 1


def _write(path: Path) -> None:
    scratch = path.with_suffix(".tmp")
    while True:
        scratch.write_text(str(_state["count"]))
        os.replace(scratch, path)
        time.sleep(INTERVAL)


def total(directory: Path) -> int:
    """The sum of every process's last written count (for the bench)."""
    return sum(int(p.read_text() or 0) for p in directory.glob("*.count"))


if DIRECTORY:
    event.listen(Engine, "before_cursor_execute", _before)
