"""A Python strategy (pyzmq) under a deployment's own uid: does a SUB connect to its own ipc
socket, and to another deployment's? Writes {"own": bool, "other": bool} to $PROBE_OUT, then
waits to be stopped. Run by strategies-without-root.test.ts."""
import json
import os
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

ctx = zmq.Context()


def connects(endpoint: str, seconds: float) -> bool:
    sub = ctx.socket(zmq.SUB)
    monitor = sub.get_monitor_socket(zmq.EVENT_CONNECTED)
    sub.connect(endpoint)
    connected = monitor.poll(int(seconds * 1000)) and recv_monitor_message(monitor)["event"] == zmq.EVENT_CONNECTED
    sub.disable_monitor()
    sub.close(linger=0)
    monitor.close(linger=0)
    return bool(connected)


out = os.environ["PROBE_OUT"]
report = {
    "own": connects(os.environ["HIVE_SOCKET_MARKET_DATA"], 5.0),
    "other": connects("ipc://" + os.environ["PROBE_OTHER_SOCKET"], 1.5),
}
with open(out + ".tmp", "w") as f:
    json.dump(report, f)
os.rename(out + ".tmp", out)
while True:
    time.sleep(1)
