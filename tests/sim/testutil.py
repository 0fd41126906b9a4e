"""Helpers for the tests/sim unit tests: a private swtpm, skip conditions."""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROVISION = os.path.join(HERE, "vtpm-provision.sh")


def need_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise unittest.SkipTest("not installed: " + ", ".join(missing))


def _free_port_pair():
    for _ in range(200):
        s1, s2 = socket.socket(), socket.socket()
        try:
            s1.bind(("127.0.0.1", 0))
            p = s1.getsockname()[1]
            s2.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            s1.close()
            s2.close()
    raise RuntimeError("no free port pair")


class Swtpm:
    """A private swtpm (TPM 2.0, startup done) on free loopback ports."""

    def __init__(self):
        need_tools("swtpm", "tpm2_getcap")
        self.dir = tempfile.mkdtemp(prefix="sim-swtpm.")
        for _ in range(10):
            port = _free_port_pair()
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % port,
                 "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % (port + 1),
                 "--tpmstate", "dir=" + self.dir, "--flags", "not-need-init,startup-clear"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    self.tcti = "swtpm:host=127.0.0.1,port=%d" % port
                    atexit.register(self.stop)   # even when a test errors out
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("swtpm did not start")

    def provision(self, out_dir, ca_cert=None, ca_key=None, hcl=None):
        args = ["bash", PROVISION, "--tcti", self.tcti, "--dir", out_dir]
        if ca_cert:
            args += ["--ca-cert", ca_cert, "--ca-key", ca_key]
        if hcl:
            args += ["--hcl-report", hcl]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)

    def write_hcl(self, hcl_path):
        subprocess.run(["bash", PROVISION, "--tcti", self.tcti, "--hcl-report", hcl_path], check=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
