"""TPM 2.0 structure parsing for the simulator (TCG TPM 2.0 Part 2, all
big-endian): TPMS_ATTEST, TPMT_PUBLIC / TPM2B_PUBLIC, TPMT_SIGNATURE, PCR
selections; plus the helpers MAA needs (object Name, PolicyPCR digest).
Every parser raises TpmParseError naming the field and offset."""

import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric import rsa

# TCG Part 2 constants
TPM_GENERATED_VALUE = 0xFF544347       # §6.2
TPM_ST_ATTEST_CERTIFY = 0x8017          # §6.9
TPM_ST_ATTEST_QUOTE = 0x8018
TPM_ALG_RSA = 0x0001
TPM_ALG_SHA1 = 0x0004
TPM_ALG_SHA256 = 0x000B
TPM_ALG_SHA384 = 0x000C
TPM_ALG_SHA512 = 0x000D
TPM_ALG_NULL = 0x0010
TPM_ALG_RSASSA = 0x0014
TPM_ALG_RSAES = 0x0015
TPM_ALG_RSAPSS = 0x0016
TPM_ALG_OAEP = 0x0017
TPM_ALG_ECC = 0x0023
TPM_ALG_KEYEDHASH = 0x0008
TPM_ALG_SYMCIPHER = 0x0025
TPM_CC_POLICY_PCR = 0x0000017F          # Part 2 §6.5.2

HASHES = {TPM_ALG_SHA1: hashlib.sha1, TPM_ALG_SHA256: hashlib.sha256,
          TPM_ALG_SHA384: hashlib.sha384, TPM_ALG_SHA512: hashlib.sha512}
HASH_NAMES = {TPM_ALG_SHA1: "sha1", TPM_ALG_SHA256: "sha256", TPM_ALG_SHA384: "sha384",
              TPM_ALG_SHA512: "sha512"}

# TPMA_OBJECT bits (Part 2 §8.3)
OA_FIXED_TPM = 1 << 1
OA_FIXED_PARENT = 1 << 4
OA_SENSITIVE_DATA_ORIGIN = 1 << 5
OA_USER_WITH_AUTH = 1 << 6
OA_NO_DA = 1 << 10
OA_RESTRICTED = 1 << 16
OA_DECRYPT = 1 << 17
OA_SIGN = 1 << 18


class TpmParseError(ValueError):
    pass


class Reader:
    def __init__(self, data, what):
        self.b = bytes(data)
        self.off = 0
        self.what = what

    def take(self, n, field):
        if n < 0 or self.off + n > len(self.b):
            raise TpmParseError("%s: truncated at offset %d reading %s (%d bytes wanted, %d left)"
                                % (self.what, self.off, field, n, len(self.b) - self.off))
        v = self.b[self.off:self.off + n]
        self.off += n
        return v

    def u8(self, f):
        return self.take(1, f)[0]

    def u16(self, f):
        return struct.unpack(">H", self.take(2, f))[0]

    def u32(self, f):
        return struct.unpack(">I", self.take(4, f))[0]

    def u64(self, f):
        return struct.unpack(">Q", self.take(8, f))[0]

    def tpm2b(self, f):
        return self.take(self.u16(f + ".size"), f)

    def done(self):
        if self.off != len(self.b):
            raise TpmParseError("%s: %d trailing bytes at offset %d" % (self.what, len(self.b) - self.off,
                                                                       self.off))


def parse_pcr_selection(r):
    """TPML_PCR_SELECTION -> list of (hashAlg, [pcr indices])."""
    out = []
    for _ in range(r.u32("pcrSelections.count")):
        alg = r.u16("pcrSelection.hash")
        size = r.u8("pcrSelection.sizeofSelect")
        mask = r.take(size, "pcrSelection.pcrSelect")
        pcrs = [i for i in range(size * 8) if mask[i // 8] & (1 << (i % 8))]
        out.append((alg, pcrs))
    return out


def marshal_pcr_selection(sel, size_of_select=3):
    out = struct.pack(">I", len(sel))
    for alg, pcrs in sel:
        mask = bytearray(size_of_select)
        for p in pcrs:
            mask[p // 8] |= 1 << (p % 8)
        out += struct.pack(">HB", alg, size_of_select) + bytes(mask)
    return out


class Attest:
    """TPMS_ATTEST (Part 2 §10.12.12)."""

    def __init__(self, data):
        r = Reader(data, "TPMS_ATTEST")
        self.raw = bytes(data)
        self.magic = r.u32("magic")
        if self.magic != TPM_GENERATED_VALUE:
            raise TpmParseError("TPMS_ATTEST: magic 0x%08x, expected 0x%08x" % (self.magic, TPM_GENERATED_VALUE))
        self.type = r.u16("type")
        self.qualified_signer = r.tpm2b("qualifiedSigner")
        self.extra_data = r.tpm2b("extraData")
        self.clock = r.u64("clockInfo.clock")
        self.reset_count = r.u32("clockInfo.resetCount")
        self.restart_count = r.u32("clockInfo.restartCount")
        self.safe = r.u8("clockInfo.safe")
        self.firmware_version = r.u64("firmwareVersion")
        if self.type == TPM_ST_ATTEST_QUOTE:
            self.pcr_select = parse_pcr_selection(r)
            self.pcr_digest = r.tpm2b("quote.pcrDigest")
        elif self.type == TPM_ST_ATTEST_CERTIFY:
            self.certified_name = r.tpm2b("certify.name")
            self.certified_qualified_name = r.tpm2b("certify.qualifiedName")
        else:
            raise TpmParseError("TPMS_ATTEST: unsupported type 0x%04x" % self.type)
        r.done()


class Public:
    """TPMT_PUBLIC (Part 2 §12.2.4), RSA and the header of others."""

    def __init__(self, data, sized=False):
        if sized:
            r0 = Reader(data, "TPM2B_PUBLIC")
            data = r0.tpm2b("publicArea")
            r0.done()
        self.raw = bytes(data)  # the TPMT_PUBLIC
        r = Reader(data, "TPMT_PUBLIC")
        self.type = r.u16("type")
        self.name_alg = r.u16("nameAlg")
        self.attributes = r.u32("objectAttributes")
        self.auth_policy = r.tpm2b("authPolicy")
        self.rsa_n = None
        if self.type == TPM_ALG_RSA:
            self.symmetric = r.u16("parameters.symmetric.algorithm")
            if self.symmetric != TPM_ALG_NULL:
                self.sym_bits = r.u16("symmetric.keyBits")
                self.sym_mode = r.u16("symmetric.mode")
            self.scheme = r.u16("parameters.scheme")
            self.scheme_hash = r.u16("scheme.hashAlg") if self.scheme != TPM_ALG_NULL else None
            self.key_bits = r.u16("parameters.keyBits")
            exp = r.u32("parameters.exponent")
            self.exponent = exp or 65537
            self.rsa_n = r.tpm2b("unique.rsa")
            r.done()
        else:
            raise TpmParseError("TPMT_PUBLIC: unsupported type 0x%04x" % self.type)

    def name(self):
        """Object Name = nameAlg || H_nameAlg(TPMT_PUBLIC) (Part 1 §16)."""
        return struct.pack(">H", self.name_alg) + HASHES[self.name_alg](self.raw).digest()

    def rsa_public_key(self):
        return rsa.RSAPublicNumbers(self.exponent, int.from_bytes(self.rsa_n, "big")).public_key()

    def marshal_sized(self):
        return struct.pack(">H", len(self.raw)) + self.raw


class Signature:
    """TPMT_SIGNATURE (Part 2 §11.3.4), RSA schemes."""

    def __init__(self, data):
        r = Reader(data, "TPMT_SIGNATURE")
        self.alg = r.u16("sigAlg")
        if self.alg not in (TPM_ALG_RSASSA, TPM_ALG_RSAPSS):
            raise TpmParseError("TPMT_SIGNATURE: unsupported sigAlg 0x%04x" % self.alg)
        self.hash = r.u16("signature.hash")
        self.sig = r.tpm2b("signature.sig")
        r.done()


def pcr_digest(values, alg=TPM_ALG_SHA256):
    """Quote pcrDigest: H(PCR values concatenated in selection order)."""
    return HASHES[alg](b"".join(values)).digest()


def policy_pcr_digest(pcr_values, pcrs=range(8), alg=TPM_ALG_SHA256, old=None):
    """PolicyPCR update (Part 3 §23.7): H(old || TPM_CC_PolicyPCR || pcrs || H(values))."""
    h = HASHES[alg]
    old = old if old is not None else bytes(h().digest_size)
    sel = marshal_pcr_selection([(alg, list(pcrs))])
    return h(old + struct.pack(">I", TPM_CC_POLICY_PCR) + sel + h(b"".join(pcr_values)).digest()).digest()
