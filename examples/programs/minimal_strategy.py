#!/usr/bin/env python3
# The smallest complete strategy in Python (docs/strategies.md): it prints every tick, sends one
# market order on the first one, prints every reply, and stops cleanly on SIGTERM.
# Needs pyzmq: `apt-get install python3-zmq`, then run it with /usr/bin/python3.
import json
import os
import signal
import time

import zmq

env = os.environ
context = zmq.Context()
market_data = context.socket(zmq.SUB)
market_data.connect(env["HIVE_SOCKET_MARKET_DATA"])  # connect, never bind: the runner owns it
market_data.setsockopt_string(zmq.SUBSCRIBE, "")  # every symbol; "ESZ6" for one
orders = context.socket(zmq.DEALER)
orders.connect(env["HIVE_SOCKET_ORDERS"])

running = True


def on_sigterm(_signum, _frame):
    global running
    running = False


signal.signal(signal.SIGTERM, on_sigterm)

run = format(int(time.time() * 1000), "x")  # a restart in place gets new order ids
sent = 0
poller = zmq.Poller()
poller.register(market_data, zmq.POLLIN)
poller.register(orders, zmq.POLLIN)

while running:
    ready = dict(poller.poll(timeout=200))  # wakes at least every 200 ms to see SIGTERM
    if market_data in ready:
        topic, payload = market_data.recv_multipart()
        tick = json.loads(payload)
        print(f"tick {topic.decode()} seq={tick['seq']} bid={tick['bid']} ask={tick['ask']}", flush=True)
        if sent == 0:
            sent += 1
            order = {
                "account": env.get("ACCOUNT", "paper-001"),
                "clientOrderId": f"{env.get('HIVE_DEPLOYMENT_ID')}-{run}-{sent}",
                "symbol": tick["symbol"],
                "side": "buy",
                "qty": 1,
                "type": "market",
            }
            print(f"order {json.dumps(order)}", flush=True)
            orders.send_string(json.dumps(order))
    if orders in ready:
        reply = json.loads(orders.recv())  # {"type": "ack" | "fill" | "reject", "clientOrderId", ...}
        print(f"reply {reply['type']} {json.dumps(reply)}", flush=True)

market_data.close(linger=0)
orders.close(linger=1000)  # an order sent just before SIGTERM still gets 1 s to leave
context.term()
