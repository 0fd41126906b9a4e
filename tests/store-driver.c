/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store-driver: a test-only front end over store/store.h (not installed) with
 * a FAKE key provider backed by local files, so the integration tests can
 * drive seal/open/rewrap/status on a swtpm before agent/ wires the store to
 * key release.
 *
 *   store-driver [--tcti T | --no-tpm] --state DIR --keys DIR ACTION [OPTIONS]
 *
 *   seal --name N [--in F] [--len N] [--pcrs SEL] [--ephemeral] [--force] [--cmk-only]
 *   open --name N --out F [--attested]      prints "version=V reauthorized=yes|no changed=LIST"
 *   rewrap --name N                         prints "changed=yes|no"
 *   status --name N                         prints one line of key=value
 *   list                                    prints the names
 *
 * The key directory (the fake provider): "newest" holds the newest version's
 * name; VERSION.pem is an RSA private key (wrap RSA-OAEP-256), VERSION.oct 32
 * raw bytes (wrap A256KWP). A missing directory plays an unreachable vault.
 *
 * Test hook (this driver only, never the library): CVM_STORE_DRIVER_KILL_AT=N
 * kills the process with SIGKILL right after rewrap step N (1 unwrapped,
 * 2 written, 3 verified, 4 dropped).
 *
 * Exit: 0 ok, 1 rejected, 2 usage (or exists), 3 vault unreachable, 4 TPM/state.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secbuf.h"
#include "store/store.h"
#include "tpm/tpm.h"

typedef struct FakeVault {
    const char *dir;
} FakeVault;

static int vault_file(const FakeVault *v, const char *version, const char *ext, char **ret) {
    struct stat st;
    if (stat(v->dir, &st) < 0)
        return -EHOSTUNREACH;
    if (!store_name_is_valid(version))
        return -EINVAL;
    if (asprintf(ret, "%s/%s.%s", v->dir, version, ext) < 0)
        return -ENOMEM;
    return 0;
}

static int vault_newest(void *userdata, char **ret) {
    const FakeVault *v = userdata;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(v->dir, &st) < 0)
        return -EHOSTUNREACH;
    if (asprintf(&path, "%s/newest", v->dir) < 0)
        return -ENOMEM;
    int r = read_file(path, 256, &data, &len);
    if (r < 0)
        return r;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
        data[--len] = '\0';
    *ret = strdup((char *)data);
    return *ret ? 0 : -ENOMEM;
}

static int vault_rsa(const FakeVault *v, const char *version, EVP_PKEY **ret) {
    _cleanup_free_ char *path = NULL;
    int r = vault_file(v, version, "pem", &path);
    if (r < 0)
        return r;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    *ret = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return *ret ? 0 : -EBADMSG;
}

static int vault_oct(const FakeVault *v, const char *version, SecretBuf **ret) {
    _cleanup_free_ char *path = NULL;
    int r = vault_file(v, version, "oct", &path);
    if (r < 0)
        return r;
    return read_file_secret(path, 64, ret);
}

static int vault_wrapping_key(void *userdata, const char *version, StoreWrappingKey *ret) {
    const FakeVault *v = userdata;
    EVP_PKEY *k = NULL;
    int r = vault_rsa(v, version, &k);
    if (r >= 0) {
        /* only the public part crosses, as from a vault's key metadata */
        _cleanup_free_ uint8_t *der = NULL;
        int n = i2d_PUBKEY(k, &der);
        EVP_PKEY_free(k);
        if (n <= 0)
            return -EIO;
        r = crypto_load_pubkey(der, (size_t)n, &ret->rsa_public);
        ret->alg = STORE_WRAP_RSA_OAEP_256;
        return r;
    }
    if (r != -ENOENT)
        return r;
    ret->alg = STORE_WRAP_AES_KWP;
    return vault_oct(v, version, &ret->oct);
}

static int vault_unwrap(void *userdata, const char *version, StoreWrapAlg alg,
                        const uint8_t *wrapped, size_t len, SecretBuf **ret) {
    const FakeVault *v = userdata;
    if (alg == STORE_WRAP_RSA_OAEP_256) {
        _cleanup_pkey_ EVP_PKEY *k = NULL;
        int r = vault_rsa(v, version, &k);
        return r < 0 ? r : store_unwrap_rsa(k, wrapped, len, ret);
    }
    _cleanup_secret_ SecretBuf *oct = NULL;
    int r = vault_oct(v, version, &oct);
    return r < 0 ? r : store_unwrap_oct(oct, wrapped, len, ret);
}

typedef struct Args {
    const char *tcti, *state, *keys, *name, *in, *out, *pcrs;
    size_t len;
    bool no_tpm, ephemeral, force, cmk_only, attested;
} Args;

static void kill_hook(void *userdata, const char *name, StoreRewrapStep step) {
    const char *at = getenv("CVM_STORE_DRIVER_KILL_AT");
    (void)userdata;
    fprintf(stderr, "store-driver: %s: rewrap step %d done\n", name, (int)step);
    if (at && atoi(at) == (int)step)
        raise(SIGKILL);
}

static void print_status(const char *name, const StoreStatus *st) {
    char changed[80] = "";
    for (unsigned i = 0, off = 0; i < TPM_PCR_COUNT; i++)
        if (st->changed_pcrs & (1u << i))
            off +=
                (unsigned)snprintf(changed + off, sizeof(changed) - off, "%s%u", off ? "," : "", i);
    printf("name=%s envelope_version=%u mode=%s ephemeral=%s key_version=%s newest=%s behind=%s "
           "rewrap_pending=%s pcrs=%s approval=%s changed=%s srk=%s\n",
           name, st->envelope_version, store_mode_name(st->mode), st->ephemeral ? "yes" : "no",
           st->key_version, st->newest ? st->newest : "unknown", st->behind ? "yes" : "no",
           st->rewrap_pending ? "yes" : "no", st->pcrs[0] ? st->pcrs : "none",
           st->approval < 0 ? "n/a"
           : st->approval   ? "current"
                            : "stale",
           changed,
           st->srk < 0 ? "n/a"
           : st->srk   ? "ok"
                       : "changed");
}

static int do_seal(StoreContext *s, const Args *a) {
    _cleanup_secret_ SecretBuf *in = NULL;
    StoreSealOptions o = {.ephemeral = a->ephemeral,
                          .force = a->force,
                          .generate_len = a->len,
                          .mode = a->cmk_only ? STORE_MODE_CMK_ONLY : STORE_MODE_TPM_CMK};
    int r;
    if (a->pcrs && tpm_pcr_selection_parse(a->pcrs, &o.pcrs) < 0) {
        fprintf(stderr, "store-driver: bad --pcrs '%s'\n", a->pcrs);
        return -EINVAL;
    }
    if (a->in) {
        r = read_file_secret(a->in, FILE_MAX_SECRET, &in);
        if (r < 0) {
            fprintf(stderr, "store-driver: cannot read '%s': %s\n", a->in, strerror(-r));
            return r;
        }
        o.secret = in;
    }
    return store_seal(s, a->name, &o);
}

static int run(StoreContext *s, const char *action, const Args *a) {
    int r;
    if (!streq(action, "list") && !a->name) {
        fprintf(stderr, "store-driver: missing --name\n");
        return -EINVAL;
    }
    if (streq(action, "seal"))
        return do_seal(s, a);
    if (streq(action, "open")) {
        StoreOpenResult res = {0};
        char changed[80] = "";
        if (!a->out)
            return -EINVAL;
        r = store_open(s, a->name, a->attested, &res);
        if (r < 0)
            return r;
        r = write_file_atomic(a->out, res.secret->data, res.secret->len, 0600);
        for (unsigned i = 0, off = 0; i < TPM_PCR_COUNT; i++)
            if (res.changed_pcrs & (1u << i))
                off += (unsigned)snprintf(changed + off, sizeof(changed) - off, "%s%u",
                                          off ? "," : "", i);
        if (res.warning)
            fprintf(stderr, "store-driver: warning: secret '%s' re-authorized, but %s\n", a->name,
                    res.warning);
        printf("version=%s reauthorized=%s changed=%s\n", res.key_version,
               res.reauthorized ? "yes" : "no", changed);
        store_open_result_done(&res);
        return r;
    }
    if (streq(action, "rewrap")) {
        bool changed = false;
        r = store_rewrap(s, a->name, kill_hook, NULL, &changed);
        if (r >= 0)
            printf("changed=%s\n", changed ? "yes" : "no");
        return r;
    }
    if (streq(action, "status")) {
        StoreStatus st = {0};
        if ((r = store_status(s, a->name, &st)) < 0)
            return r;
        print_status(a->name, &st);
        store_status_done(&st);
        return 0;
    }
    if (streq(action, "list")) {
        char **names = NULL;
        size_t n = 0;
        if ((r = store_list(s, &names, &n)) < 0)
            return r;
        for (size_t i = 0; i < n; i++)
            printf("%s\n", names[i]);
        store_list_free(names);
        return 0;
    }
    fprintf(stderr, "store-driver: unknown action '%s'\n", action);
    return -EINVAL;
}

static int parse_args(int argc, char **argv, Args *a) {
    static const struct option opts[] = {
        {"tcti", required_argument, NULL, 't'},  {"no-tpm", no_argument, NULL, 'T'},
        {"state", required_argument, NULL, 's'}, {"keys", required_argument, NULL, 'k'},
        {"name", required_argument, NULL, 'n'},  {"in", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},   {"pcrs", required_argument, NULL, 'p'},
        {"len", required_argument, NULL, 'l'},   {"ephemeral", no_argument, NULL, 'e'},
        {"force", no_argument, NULL, 'f'},       {"cmk-only", no_argument, NULL, 'c'},
        {"attested", no_argument, NULL, 'a'},    {0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': a->tcti = optarg; break;
        case 'T': a->no_tpm = true; break;
        case 's': a->state = optarg; break;
        case 'k': a->keys = optarg; break;
        case 'n': a->name = optarg; break;
        case 'i': a->in = optarg; break;
        case 'o': a->out = optarg; break;
        case 'p': a->pcrs = optarg; break;
        case 'l': a->len = (size_t)strtoul(optarg, NULL, 10); break;
        case 'e': a->ephemeral = true; break;
        case 'f': a->force = true; break;
        case 'c': a->cmk_only = true; break;
        case 'a': a->attested = true; break;
        default: return -EINVAL;
        }
    }
    if (!a->state || !a->keys || optind != argc - 1) {
        fprintf(stderr, "usage: store-driver [--tcti T|--no-tpm] --state DIR --keys DIR ACTION\n");
        return -EINVAL;
    }
    return 0;
}

int main(int argc, char **argv) {
    _cleanup_tpm_ TpmContext *t = NULL;
    _cleanup_store_ StoreContext *s = NULL;
    Args a = {0};
    int r;

    json_init();
    log_set_program_name("store-driver");
    log_open();
    if (parse_args(argc, argv, &a) < 0)
        return 2;
    FakeVault vault = {.dir = a.keys};
    StoreKeyProvider provider = {.userdata = &vault,
                                 .key_url = "https://fake-vault.test/keys/cmk",
                                 .newest_version = vault_newest,
                                 .wrapping_key = vault_wrapping_key,
                                 .unwrap = vault_unwrap};
    if (!a.tcti)
        a.tcti = getenv("CVM_AGENT_TCTI");
    if (!a.no_tpm && (r = tpm_open(a.tcti, &t)) < 0) {
        fprintf(stderr, "store-driver: cannot open the TPM: %s\n", tpm_last_error(NULL));
        return 4;
    }
    if ((r = store_new(a.state, t, &provider, &s)) < 0)
        return 4;
    r = run(s, argv[optind], &a);
    if (r >= 0)
        return 0;
    fprintf(stderr, "store-driver: %s%s(%s)\n", store_last_error(s),
            *store_last_error(s) ? " " : "", strerror(-r));
    switch (-r) {
    case EKEYREJECTED:
    case EBADMSG: return 1;
    case EINVAL:
    case EEXIST: return 2;
    case EHOSTUNREACH: return 3;
    default: return 4;
    }
}
