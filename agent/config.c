/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * agent.conf: INI sections parsed with libinih, every key listed in one table.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "agent/agent.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tpm/tpm.h"
#include "store/store.h"
#include "tdx/tdx.h"

typedef enum {
    KEY_STRING,
    KEY_STRING_LIST, /* each occurrence appends */
    KEY_BOOL,
    KEY_U32,
    KEY_DURATION,
    KEY_SNP_CRL, /* require, best-effort, off */
} KeyType;

typedef struct ConfigKey {
    const char *section;
    const char *key;
    KeyType type;
    size_t offset;
} ConfigKey;

#define KEY(s, k, t, field)                                                                        \
    { s, k, t, offsetof(AgentConfig, field) }

static const ConfigKey config_keys[] = {
    KEY("agent", "tcti", KEY_STRING, tcti),
    KEY("agent", "state-dir", KEY_STRING, state_dir),
    KEY("agent", "log-level", KEY_STRING, log_level),
    KEY("agent", "tpm-busy-timeout", KEY_DURATION, tpm_busy_timeout_ms),
    KEY("agent", "timings", KEY_BOOL, timings),
    KEY("http", "ca-bundle", KEY_STRING, ca_bundle),
    KEY("http", "timeout", KEY_DURATION, http_timeout_ms),
    KEY("http", "deadline", KEY_DURATION, http_deadline_ms),
    KEY("http", "attempts", KEY_U32, http_attempts),
    KEY("http", "backoff", KEY_DURATION, http_backoff_ms),
    KEY("http", "allow-plain-http-loopback", KEY_BOOL, allow_plain_http_loopback),
    KEY("snp", "kds-url", KEY_STRING, snp_kds_url),
    KEY("snp", "imds-url", KEY_STRING, snp_imds_url),
    KEY("snp", "thim", KEY_BOOL, snp_thim),
    KEY("snp", "kds", KEY_BOOL, snp_kds),
    KEY("snp", "device", KEY_STRING, snp_device),
    KEY("snp", "configfs-tsm", KEY_STRING, snp_configfs_tsm),
    KEY("snp", "report-source", KEY_STRING, report_source),
    KEY("snp", "crl", KEY_SNP_CRL, snp_crl),
    KEY("tdx", "device", KEY_STRING, tdx_device),
    KEY("tdx", "configfs-tsm", KEY_STRING, tdx_configfs_tsm),
    KEY("tdx", "imds-url", KEY_STRING, tdx_imds_url),
    KEY("tdx", "crl-max-age", KEY_DURATION, tdx_crl_max_age_ms),
    KEY("trust", "anchor", KEY_STRING_LIST, trust_anchors),
    KEY("attestation", "url", KEY_STRING, attest_url),
    KEY("attestation", "leeway", KEY_DURATION, attest_leeway_ms),
    KEY("attestation", "protocol", KEY_STRING, attest_protocol),
    KEY("attestation", "api-version", KEY_STRING, attest_api_version),
    KEY("attestation", "expect-tee", KEY_STRING, attest_expect_tee),
    KEY("attestation", "token-cache", KEY_STRING, attest_token_cache),
    KEY("attestation", "client-payload", KEY_STRING_LIST, attest_client_payload),
    KEY("attestation", "event-log", KEY_STRING, attest_event_log),
    KEY("attestation", "os-release", KEY_STRING, attest_os_release),
    KEY("imds", "url", KEY_STRING, imds_url),
    /* [keyvault], [identity]: secure key release */
    KEY("keyvault", "key", KEY_STRING, keyvault_key),
    KEY("keyvault", "enc", KEY_STRING, keyvault_enc),
    KEY("keyvault", "api-version", KEY_STRING, keyvault_api_version),
    KEY("keyvault", "resource", KEY_STRING, keyvault_resource),
    KEY("keyvault", "signer-host", KEY_STRING, keyvault_signer_host),
    KEY("keyvault", "signer-ca", KEY_STRING, keyvault_signer_ca),
    KEY("identity", "source", KEY_STRING, identity_source),
    KEY("identity", "client-id", KEY_STRING, identity_client_id),
    KEY("identity", "object-id", KEY_STRING, identity_object_id),
    KEY("identity", "msi-res-id", KEY_STRING, identity_msi_res_id),
    KEY("identity", "token-file", KEY_STRING, identity_token_file),
    KEY("identity", "token-env", KEY_STRING, identity_token_env),
    KEY("store", "boot-deadline", KEY_DURATION, store_boot_deadline_ms),
    KEY("store", "credstore", KEY_STRING, store_credstore),
};

void agent_config_init(AgentConfig *cfg) {
    *cfg = (AgentConfig){
        .tpm_busy_timeout_ms = TPM_BUSY_TIMEOUT_DEFAULT_MS,
        .http_timeout_ms = 30000,
        .http_deadline_ms = 120000,
        .http_attempts = 5,
        .http_backoff_ms = 500,
        .snp_kds = true,
        .snp_crl = SNP_CRL_BEST_EFFORT,
        .tdx_crl_max_age_ms = UINT64_C(1000) * TDX_CRL_MAX_AGE_DEFAULT,
        .attest_leeway_ms = 5 * 60 * 1000,
        .store_boot_deadline_ms = 90 * 1000,
    };
}

void agent_config_done(AgentConfig *cfg) {
    for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
        void *field = (uint8_t *)cfg + config_keys[i].offset;
        if (config_keys[i].type == KEY_STRING)
            free(*(char **)field);
        else if (config_keys[i].type == KEY_STRING_LIST) {
            char **list = *(char ***)field;
            for (size_t j = 0; list && list[j]; j++)
                free(list[j]);
            free(list);
        }
    }
    for (size_t i = 0; i < cfg->n_secrets; i++) {
        free(cfg->secrets[i].name);
        free(cfg->secrets[i].target);
        free(cfg->secrets[i].mode);
        free(cfg->secrets[i].pcrs);
    }
    free(cfg->secrets);
    agent_config_init(cfg);
}

static const ConfigKey *find_key(const char *section, const char *key) {
    for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
        if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key))
            return &config_keys[i];
    return NULL;
}

static bool section_exists(const char *section) {
    for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
        if (streq(config_keys[i].section, section))
            return true;
    return false;
}

static AgentSecretConfig *secret_section(AgentConfig *cfg, const char *name) {
    for (size_t i = 0; i < cfg->n_secrets; i++)
        if (streq(cfg->secrets[i].name, name))
            return &cfg->secrets[i];
    AgentSecretConfig *grown = realloc(cfg->secrets, (cfg->n_secrets + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    cfg->secrets = grown;
    AgentSecretConfig *sc = &grown[cfg->n_secrets];
    *sc = (AgentSecretConfig){.name = strdup(name), .reseal = true};
    if (!sc->name)
        return NULL;
    cfg->n_secrets++;
    return sc;
}

static int set_string(char **field, const char *value) {
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* [secret NAME] target/reseal/ephemeral/create/mode/pcrs */
static int set_secret_key(AgentConfig *cfg, const char *name, const char *key, const char *value,
                          char *err, size_t errlen) {
    AgentSecretConfig *sc = secret_section(cfg, name);
    if (!sc)
        return -ENOMEM;
    if (streq(key, "target")) {
        if (!streq(value, "stdout") && !streq(value, "credential") &&
            !(startswith(value, "file:/") && value[6]))
            return snprintf(err, errlen,
                            "'[secret %s] target' wants file:/PATH, stdout or credential, "
                            "not '%s'",
                            name, value),
                   -EINVAL;
        return set_string(&sc->target, value);
    }
    if (streq(key, "reseal") || streq(key, "ephemeral") || streq(key, "create")) {
        bool *field = streq(key, "reseal")      ? &sc->reseal
                      : streq(key, "ephemeral") ? &sc->ephemeral
                                                : &sc->create;
        int r = parse_bool(value, field);
        if (r < 0)
            snprintf(err, errlen, "'[secret %s] %s' wants yes or no, not '%s'", name, key, value);
        return r;
    }
    if (streq(key, "mode")) {
        if (!streq(value, "cmk-only") && !streq(value, "tpm+cmk"))
            return snprintf(err, errlen, "'[secret %s] mode' wants cmk-only or tpm+cmk, not '%s'",
                            name, value),
                   -EINVAL;
        return set_string(&sc->mode, value);
    }
    if (streq(key, "pcrs"))
        return set_string(&sc->pcrs, value);
    snprintf(err, errlen,
             "unknown key '%s' in section '[secret %s]' (target, reseal, ephemeral, create, "
             "mode, pcrs)",
             key, name);
    return -EINVAL;
}

/* Sets one key; on error writes a message into err. */
static int set_key(AgentConfig *cfg, const char *section, const char *key, const char *value,
                   char *err, size_t errlen) {
    if (startswith(section, "secret ") || streq(section, "secret")) {
        const char *name = section + strlen("secret");
        name += strspn(name, " \t");
        if (!store_name_is_valid(name))
            return snprintf(err, errlen,
                            "'[%s]' wants [secret NAME] with NAME of [A-Za-z0-9._-] (up to 64)",
                            section),
                   -EINVAL;
        return set_secret_key(cfg, name, key, value, err, errlen);
    }
    const ConfigKey *k = find_key(section, key);
    if (!k) {
        if (!section_exists(section))
            snprintf(err, errlen, "unknown section '[%s]'", section);
        else
            snprintf(err, errlen, "unknown key '%s' in section '[%s]'", key, section);
        return -EINVAL;
    }
    void *field = (uint8_t *)cfg + k->offset;
    int r = 0;
    switch (k->type) {
    case KEY_STRING: {
        char *copy = strdup(value);
        if (!copy)
            return -ENOMEM;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case KEY_STRING_LIST: {
        char **list = *(char ***)field;
        size_t n = 0;
        while (list && list[n])
            n++;
        char **grown = realloc(list, (n + 2) * sizeof(char *));
        if (!grown)
            return -ENOMEM;
        *(char ***)field = grown;
        grown[n] = strdup(value);
        grown[n + 1] = NULL;
        return grown[n] ? 0 : -ENOMEM;
    }
    case KEY_BOOL:
        r = parse_bool(value, (bool *)field);
        if (r < 0)
            snprintf(err, errlen, "'%s.%s' wants yes or no, not '%s'", section, key, value);
        return r;
    case KEY_U32:
        r = parse_u32(value, (uint32_t *)field);
        if (r < 0)
            snprintf(err, errlen, "'%s.%s' wants a number, not '%s'", section, key, value);
        return r;
    case KEY_DURATION:
        r = parse_duration_ms(value, (uint64_t *)field);
        if (r < 0)
            snprintf(err, errlen, "'%s.%s' wants a duration such as 30s, 500ms or 30d, not '%s'",
                     section, key, value);
        return r;
    case KEY_SNP_CRL: {
        SnpCrlMode m;
        r = snp_crl_mode_from_string(value, &m);
        if (r < 0)
            snprintf(err, errlen, "'%s.%s' wants require, best-effort or off, not '%s'", section,
                     key, value);
        else
            *(int *)field = (int)m;
        return r;
    }
    }
    return -EINVAL;
}

typedef struct ParseState {
    AgentConfig *cfg;
    char err[512];
    int r;
} ParseState;

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
    ParseState *st = user;
    if (st->r < 0)
        return 0; /* keep the first error */
    if (!name)    /* a bare section header (inih with INI_CALL_HANDLER_ON_NEW_SECTION) */
        return 1;
    if (!*section) {
        snprintf(st->err, sizeof(st->err), "key '%s' outside any section", name);
        st->r = -EINVAL;
        return 0;
    }
    st->r = set_key(st->cfg, section, name, value, st->err, sizeof(st->err));
    if (st->r == -ENOMEM)
        snprintf(st->err, sizeof(st->err), "out of memory");
    return st->r < 0 ? 0 : 1;
}

int agent_config_load(AgentConfig *cfg, const char *path) {
    ParseState st = {.cfg = cfg};
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int line = ini_parse_file(f, on_ini_entry, &st);
    fclose(f);
    if (line != 0) {
        if (line < 0)
            return log_error_errno(-EIO, "cannot read configuration '%s'", path);
        if (st.r == 0) /* a syntax error inih found itself */
            snprintf(st.err, sizeof(st.err), "syntax error");
        return log_error_errno(-EINVAL, "%s:%d: %s", path, line, st.err);
    }
    return 0;
}

int agent_config_set(AgentConfig *cfg, const char *assignment) {
    char err[512] = "";
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    if (!eq || !dot || dot == assignment || dot + 1 == eq)
        return log_error_errno(-EINVAL, "option '-o %s' is not of the form section.key=value",
                               assignment);
    _cleanup_free_ char *section = strndup(assignment, (size_t)(dot - assignment));
    _cleanup_free_ char *key = strndup(dot + 1, (size_t)(eq - dot - 1));
    if (!section || !key)
        return log_error_errno(-ENOMEM, "out of memory");
    int r = set_key(cfg, section, key, eq + 1, err, sizeof(err));
    if (r == -ENOMEM)
        return log_error_errno(r, "out of memory");
    if (r < 0)
        return log_error_errno(r, "option '-o %s': %s", assignment, err);
    return 0;
}

void agent_http_config(const AgentConfig *cfg, HttpConfig *ret) {
    *ret = (HttpConfig){
        .ca_bundle = cfg->ca_bundle,
        .timeout_ms = cfg->http_timeout_ms,
        .deadline_ms = cfg->http_deadline_ms,
        .max_attempts = cfg->http_attempts,
        .backoff_initial_ms = cfg->http_backoff_ms,
        .allow_plain_http_loopback = cfg->allow_plain_http_loopback,
    };
}
