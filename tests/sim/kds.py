# SPDX-License-Identifier: BSD-3-Clause
"""AMD Key Distribution Service emulator (kdsintf.amd.com, HTTPS):

  GET /vcek/v1/{product}/cert_chain          PEM, ASK then ARK
  GET /vcek/v1/{product}/crl                 DER, the ARK's CRL (pki/amd/crl.der)
  GET /vcek/v1/{product}/{hwid}?blSPL=NN&teeSPL=NN&snpSPL=NN&ucodeSPL=NN   DER VCEK
      (Turin: hwid is the 8-byte chip id in hex, and fmcSPL=NN is required)

URL shapes as azure-wire-formats.md §5.2 (KT amd_kds.rs) and AMD's KDS
interface spec.  It serves the sim's VCEK(s) from pki/amd (and pki/amd-turin)
when hwid and every SPL match the certificate's extensions; 404 otherwise.
The "429 mode" is the generic throttle fault (429 + Retry-After); the
wrong_signature fault serves the VCEK with a corrupted signature.
"""

import os
import re

from cryptography import x509

import imds
import simjwt
from simhttp import Response, faults, text_response

PRODUCTS = ("Milan", "Genoa", "Turin")


class KdsService:
    name = "kds"

    def __init__(self, sim_dir, pki_dir=None):
        self.sim_dir = sim_dir
        self.pki = pki_dir or os.path.join(sim_dir, "pki")
        self.chips = {}  # product -> (vcek cert, info, chain pem)
        self.crls = {}  # product -> DER CRL
        for sub in ("amd", "amd-turin"):
            d = os.path.join(self.pki, sub)
            try:
                with open(os.path.join(d, "vcek.pem"), "rb") as f:
                    cert = x509.load_pem_x509_certificate(f.read())
                with open(os.path.join(d, "ask.pem"), "rb") as f:
                    chain = f.read()
                with open(os.path.join(d, "ark.pem"), "rb") as f:
                    chain += f.read()
            except FileNotFoundError:
                continue
            info = imds.vcek_info(cert)
            product = info.get("product") or ("Turin" if "fmc" in info else "Milan")
            product = product.split("-")[0]
            self.chips[product] = (cert, info, chain)
            try:
                with open(os.path.join(d, "crl.der"), "rb") as f:
                    self.crls[product] = f.read()
            except FileNotFoundError:
                pass

    def fault_response(self, status, headers):
        text = {429: "Too Many Requests", 503: "Service Unavailable"}.get(
            status, "Internal Server Error")
        return text_response(status, text + "\n", headers=headers)

    def handle(self, req):
        if req.method not in ("GET", "HEAD"):
            return text_response(405, "Method Not Allowed\n")
        m = re.fullmatch(r"/vcek/v1/([^/]+)/([^/]+)", req.path)
        if not m:
            return text_response(404, "Not Found\n")
        product, what = m.groups()
        if product not in PRODUCTS:
            return text_response(400, "Bad Request: unknown product '%s'\n" % product)
        chip = self.chips.get(product)
        if what == "cert_chain":
            if not chip:
                return text_response(404, "Not Found\n")
            return Response(200, {"Content-Type": "application/x-pem-file"}, chip[2])
        if what == "crl":
            if product not in self.crls:
                return text_response(404, "Not Found\n")
            return Response(200, {"Content-Type": "application/pkix-crl"}, self.crls[product])
        return self.vcek(req, product, what.lower(), chip)

    def vcek(self, req, product, hwid, chip):
        turin = product == "Turin"
        want_len = 16 if turin else 128
        if not re.fullmatch(r"[0-9a-f]{%d}" % want_len, hwid):
            return text_response(400, "Bad Request: hwid must be %d hex digits\n" % want_len)
        names = (["fmcSPL"] if turin else []) + ["blSPL", "teeSPL", "snpSPL", "ucodeSPL"]
        got = {}
        for n in names:
            v = req.query1(n)
            if v is None or not re.fullmatch(r"\d{1,3}", v) or int(v) > 255:
                return text_response(400, "Bad Request: missing or invalid %s\n" % n)
            got[n] = int(v)
        extra = set(req.query) - set(names)
        if extra:
            return text_response(400, "Bad Request: unexpected parameter(s) %s\n"
                                 % ", ".join(sorted(extra)))
        if not chip:
            return text_response(404, "Not Found\n")
        cert, info, _ = chip
        chip_hwid = info.get("hwid", b"")
        if turin:
            chip_hwid = chip_hwid[:8]
        keymap = {"fmcSPL": "fmc", "blSPL": "bl", "teeSPL": "tee", "snpSPL": "snp",
                  "ucodeSPL": "ucode"}
        if chip_hwid.hex() != hwid or any(info.get(keymap[n]) != got[n] for n in names):
            return text_response(404, "Not Found\n")
        der = simjwt.cert_der(cert)
        if faults.active("wrong_signature"):
            der = imds.corrupt_cert_signature(der)
        return Response(200, {"Content-Type": "application/pkix-cert"}, der)
