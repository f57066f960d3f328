#!/usr/bin/python3
# The python-socketio server (AsyncServer on aiohttp) that inspect_python.js points sio-inspect
# at. It listens on 127.0.0.1, on a free port, and prints one line per event on stdout:
#   listening on http://127.0.0.1:PORT
#   connect SID
#   disconnect SID
# Usage: /usr/bin/python3 python_sio_server.py [--ping-interval SECONDS]
import argparse
import asyncio
import socket
import sys

import socketio
from aiohttp import web


def say(*words):
    print(*words, flush=True)


async def main(ping_interval):
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=ping_interval, cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)

    @sio.event
    async def connect(sid, environ, auth=None):
        say("connect", sid)

    @sio.event
    async def disconnect(sid):
        say("disconnect", sid)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, listener).start()
    say("listening on http://127.0.0.1:%d" % listener.getsockname()[1])
    # Until the test kills it, or its standard input closes (the test has gone).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ping-interval", type=float, default=25)
    asyncio.run(main(parser.parse_args().ping_interval))
