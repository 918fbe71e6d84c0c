"""Starts moto's server for the tests and exits when the process that started it goes away, so a
test run that crashes or is killed never leaves a server behind.

usage: python moto_server.py PORT
"""
import os
import sys
import threading
import time

from moto.server import main

parent = os.getppid()


def exit_with_parent():
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
