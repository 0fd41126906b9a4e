/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent boot [--json]
 *
 * For each [secret NAME] of agent.conf: open the secret (creating it when its
 * envelope is missing only with create = yes; regenerating it when ephemeral)
 * and deliver it to its target; with reseal = yes, PCR changes are
 * re-authorized and a newer key version is followed. The whole run is
 * bounded by [store] boot-deadline; readiness is sent to systemd
 * (NOTIFY_SOCKET) when every secret was delivered.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "agent/key-provider.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"

#define DEFAULT_TARGET_DIR "/run/cvm-agent"
#define DEFAULT_CREDSTORE  "/run/credstore"

void boot_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent boot [--json]\n"
               "Open every [secret NAME] of agent.conf and deliver it to its target;\n"
               "reseal on rotation or PCR change (reseal = yes); notify systemd when done.\n"
               "      --json           print a JSON object (never a secret)\n"
               "  -h, --help           this help\n");
}

/* sd_notify(3)'s datagram protocol, without libsystemd. */
static int notify_ready(const char *state) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!path || !*path)
        return 0;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return log_warning_errno(-EINVAL, "NOTIFY_SOCKET '%s' is not a socket path", path);
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return log_warning_errno(-errno, "cannot notify systemd: %s", strerror(errno));
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    int err = errno;
    close(fd);
    return n < 0 ? log_warning_errno(-err, "cannot notify systemd at %s: %s", path, strerror(err))
                 : 0;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int deliver(AgentContext *ctx, const AgentSecretConfig *sc, const SecretBuf *secret,
                   cJSON *o) {
    _cleanup_free_ char *path = NULL;
    const char *target = sc->target;
    if (target && streq(target, "stdout")) {
        json_add_string(o, "delivered_to", "stdout");
        return write_all(STDOUT_FILENO, secret->data, secret->len) < 0
                   ? log_error_errno(-EIO, "'%s': cannot write the secret to stdout", sc->name)
                   : 0;
    }
    if (target && streq(target, "credential")) {
        const char *dir = ctx->cfg.store_credstore ? ctx->cfg.store_credstore : DEFAULT_CREDSTORE;
        if (asprintf(&path, "%s/%s", dir, sc->name) < 0)
            return -ENOMEM;
    } else if (target) {
        path = strdup(target + strlen("file:"));
    } else if (asprintf(&path, DEFAULT_TARGET_DIR "/%s.key", sc->name) < 0)
        path = NULL;
    if (!path)
        return -ENOMEM;
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        int r = mkdir_p(path, 0700);
        *slash = '/';
        if (r < 0)
            return log_error_errno(-EIO, "'%s': cannot create the directory of %s: %s", sc->name,
                                   path, strerror(-r));
    }
    int r = write_file_atomic(path, secret->data, secret->len, 0600);
    if (r < 0)
        return log_error_errno(-EIO, "'%s': cannot write the secret to %s: %s", sc->name, path,
                               strerror(-r));
    json_add_string(o, "delivered_to", path);
    return 0;
}

/* A secret sealed now: on the first boot, and every boot when ephemeral. */
static int seal_new(AgentStore *s, const AgentSecretConfig *sc, SecretBuf **ret) {
    StoreSealOptions o = {.ephemeral = sc->ephemeral, .force = sc->ephemeral};
    if (sc->pcrs && tpm_pcr_selection_parse(sc->pcrs, &o.pcrs) < 0)
        return log_error_errno(-EINVAL,
                               "[secret %s] pcrs: not a selection such as sha256:0,7: '%s'",
                               sc->name, sc->pcrs);
    if (sc->mode && store_mode_from_name(sc->mode, &o.mode) < 0)
        return log_error_errno(-EINVAL, "[secret %s] mode '%s' is unknown", sc->name, sc->mode);
    _cleanup_secret_ SecretBuf *secret = secret_new(STORE_SECRET_DEFAULT);
    if (!secret || RAND_bytes(secret->data, (int)secret->len) != 1)
        return log_error_errno(-EIO, "no random bytes for '%s'", sc->name);
    o.secret = secret;
    int r = store_seal(s->store, sc->name, &o);
    if (r < 0)
        return log_error_errno(r, "cannot seal '%s': %s", sc->name, store_last_error(s->store));
    *ret = TAKE_PTR(secret);
    return 0;
}

/* Opens one existing secret; with reseal, follows the newest key version. */
static int open_existing(AgentStore *s, const AgentSecretConfig *sc, cJSON *o, SecretBuf **ret) {
    StoreOpenResult res = {0};
    int e = agent_store_attest(s);
    int r = store_open(s->store, sc->name, e == CVM_EXIT_OK && sc->reseal, &res);
    if (r < 0) {
        log_error("cannot open '%s': %s", sc->name, store_last_error(s->store));
        store_open_result_done(&res);
        return r;
    }
    if (res.reauthorized)
        log_notice("'%s': the PCRs changed; re-authorized after a successful attestation",
                   sc->name);
    json_add_bool(o, "reauthorized", res.reauthorized);
    *ret = TAKE_PTR(res.secret);
    store_open_result_done(&res);
    if (!sc->reseal)
        return 0;
    bool changed = false;
    r = store_rewrap(s->store, sc->name, NULL, NULL, &changed);
    if (r < 0) /* the secret opened: delivery goes on, rotate retries later */
        log_warning("'%s' opened but could not move to the newest key version: %s", sc->name,
                    store_last_error(s->store));
    json_add_bool(o, "rotated", changed);
    return 0;
}

/*
 * A missing envelope on a VM that had one means lost state: a new key would
 * orphan whatever the old one encrypted (a disk formatted with it), so boot
 * creates secrets only where the configuration asks for first-boot
 * provisioning.
 */
static int refuse_create(const AgentSecretConfig *sc, const char *path, cJSON *o) {
    json_add_string(o, "action", "missing");
    json_add_string(o, "error", "envelope missing and create = no");
    return log_error_errno(-ENOKEY,
                           "'%s': its envelope %s is missing and [secret %s] create = no (a VM "
                           "that had this secret has lost it, and a new one would orphan what the "
                           "old one encrypted): restore the envelope; to make a new secret on "
                           "purpose, run 'cvm-agent seal --name %s' or set create = yes for "
                           "first-boot provisioning",
                           sc->name, path, sc->name, sc->name);
}

static int boot_one(AgentStore *s, const AgentSecretConfig *sc, cJSON *o) {
    _cleanup_secret_ SecretBuf *secret = NULL;
    _cleanup_free_ char *path = store_envelope_path(s->store, sc->name);
    int r;
    if (!path)
        return -ENOMEM;
    /* anything but "no such file" (EACCES, EIO) is left to the open to report */
    bool exists = access(path, F_OK) == 0 || errno != ENOENT;
    json_add_string(o, "name", sc->name);
    if (!exists && !sc->ephemeral && !sc->create)
        return refuse_create(sc, path, o);
    if (sc->ephemeral || !exists) {
        if (!sc->ephemeral)
            log_notice("'%s' does not exist yet: creating it (create = yes)", sc->name);
        r = seal_new(s, sc, &secret);
        json_add_string(o, "action", sc->ephemeral ? "regenerated" : "created");
    } else {
        r = open_existing(s, sc, o, &secret);
        json_add_string(o, "action", "opened");
    }
    if (r >= 0)
        r = deliver(s->ctx, sc, secret, o);
    return r;
}

static int boot_all(AgentContext *ctx, cJSON *arr, bool *nonpersisted) {
    AgentConfig *cfg = &ctx->cfg;
    uint64_t start = now_monotonic_ms(), deadline = cfg->store_boot_deadline_ms;
    AgentStore s;
    int e = agent_store_open(ctx, &s), worst = CVM_EXIT_OK;
    for (size_t i = 0; e == CVM_EXIT_OK && i < cfg->n_secrets; i++) {
        uint64_t spent = now_monotonic_ms() - start;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            e = CVM_EXIT_PLATFORM;
            break;
        }
        if (spent >= deadline) {
            log_error("'%s' not opened: boot-deadline (%llu ms) passed", cfg->secrets[i].name,
                      (unsigned long long)deadline);
            json_add_string(o, "name", cfg->secrets[i].name);
            json_add_string(o, "error", "deadline");
            worst = CVM_EXIT_TRANSIENT;
            continue;
        }
        /* no network exchange may outlast the deadline */
        if (cfg->http_deadline_ms > deadline - spent)
            cfg->http_deadline_ms = deadline - spent;
        int r = boot_one(&s, &cfg->secrets[i], o);
        if (r == -STORE_E_NONPERSISTED)
            *nonpersisted = true;
        if (r < 0 && (int)cvm_exit_from_errno(r) > worst)
            worst = (int)cvm_exit_from_errno(r);
        if (r < 0 && !cJSON_HasObjectItem(o, "error"))
            json_add_string(o, "error", store_last_error(s.store));
    }
    agent_store_done(&s);
    return e != CVM_EXIT_OK ? e : worst;
}

int cmd_boot(AgentContext *ctx, int argc, char **argv) {
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, nonpersisted = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': boot_usage(stdout); return CVM_EXIT_OK;
        case 'j': json = true; break;
        default: fprintf(stderr, "see 'cvm-agent boot --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("boot: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    for (size_t i = 0; json && i < ctx->cfg.n_secrets; i++)
        if (streq_ptr(ctx->cfg.secrets[i].target, "stdout"))
            return log_error("boot: --json and [secret %s] target = stdout both want stdout",
                             ctx->cfg.secrets[i].name),
                   CVM_EXIT_USAGE;
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    cJSON *arr = out ? cJSON_AddArrayToObject(out, "secrets") : NULL;
    if (!arr)
        return CVM_EXIT_PLATFORM;
    if (ctx->cfg.n_secrets == 0)
        log_notice("boot: agent.conf has no [secret NAME] section: nothing to open");
    int e = ctx->cfg.n_secrets ? boot_all(ctx, arr, &nonpersisted) : CVM_EXIT_OK;
    if (nonpersisted) {
        log_error("this vTPM lost its state (NonPersistedTPM: the SRK differs from the one "
                  "recorded at seal time): secrets bound to the vTPM cannot open on this VM; "
                  "use [secret NAME] mode = cmk-only for VMs whose vTPM does not persist "
                  "(see cvm-agent.conf(5))");
        e = CVM_EXIT_PLATFORM;
    }
    if (e == CVM_EXIT_OK)
        (void)notify_ready("READY=1\nSTATUS=secrets delivered");
    if (json)
        agent_print_json(out);
    return e;
}
