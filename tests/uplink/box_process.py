"""A box for the SIGKILL test: writes summaries through the store and forwards them over MQTT.

``python box_process.py DB PORT N WRITE_INTERVAL_S DRAIN_RATE`` writes the summaries 0..N-1 (the
store ignores those it already has, as after a restart), forwards everything, and exits 0 once the
outbox is empty. Run as a real process so the test can SIGKILL it mid-send.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uplink_rigs import DEVICE, mqtt_sink, summary, uplink_config  # noqa: E402

from carbonedge.runtime.store import Store  # noqa: E402
from carbonedge.runtime.uplink.forwarder import Forwarder  # noqa: E402


def main() -> int:
    db, port, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    write_interval_s, drain_rate = float(sys.argv[4]), float(sys.argv[5])
    logging.basicConfig(level=logging.INFO, format="box: %(levelname)s %(message)s")
    config = uplink_config(mqtt_sink(port), drain_rate_msg_s=drain_rate, flush_timeout_s=60)
    forwarder = Forwarder(config, device_id=DEVICE, sqlite_path=db).start()
    with Store(db) as store:
        for i in range(n):
            store.write_summary(summary(i))
            time.sleep(write_interval_s)
    print("box: all written", flush=True)
    stats = forwarder.stop()
    print(f"box: done, {stats['pending']} pending", flush=True)
    return 0 if stats["pending"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
