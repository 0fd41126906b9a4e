/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the subcommands of cvm-agent share: the effective configuration (file,
 * environment and command line merged), the command table, and output helpers.
 */
#ifndef CVM_AGENT_AGENT_H
#define CVM_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/http.h"
#include "common/util.h"

#define AGENT_DEFAULT_CONFIG    SYSCONFDIR "/cvm-agent/agent.conf"
#define AGENT_DEFAULT_TCTI      "device:/dev/tpmrm0"
#define AGENT_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/cvm-agent"

/*
 * Every key of agent.conf, by section. Adding a key: a field here, a row in
 * the table in config.c, a line in man/cvm-agent.conf.5.md.
 */
/* A [secret NAME] section: what `boot` does with that secret. */
typedef struct AgentSecretConfig {
    char *name;
    char *target;   /* file:PATH, stdout or credential (default file:/run/cvm-agent/NAME.key) */
    bool reseal;    /* re-authorize on a PCR change and follow rotation at boot (default yes) */
    bool ephemeral; /* a new random secret every boot */
    bool create;    /* boot creates it when its envelope is missing (default no) */
    char *mode;     /* tpm+cmk (default) or cmk-only */
    char *pcrs;     /* the selection a secret created at boot is sealed to */
} AgentSecretConfig;

typedef struct AgentConfig {
    /* [agent] */
    char *tcti;
    char *state_dir;
    char *log_level;
    bool timings; /* print where the run's time went (--timings) */
    /* [http] */
    char *ca_bundle;
    uint64_t tpm_busy_timeout_ms; /* bound on retrying a busy TPM, per command */
    uint64_t http_timeout_ms;
    uint64_t http_deadline_ms;
    uint32_t http_attempts;
    uint64_t http_backoff_ms;
    bool allow_plain_http_loopback;
    /* [snp] */
    char *snp_kds_url;      /* AMD KDS base URL (default https://kdsintf.amd.com) */
    char *snp_imds_url;     /* Azure IMDS base URL for THIM (default http://169.254.169.254) */
    bool snp_thim;          /* ask THIM for the VCEK (Azure) */
    bool snp_kds;           /* ask AMD KDS for the VCEK and chain */
    char *snp_device;       /* /dev/sev-guest */
    char *snp_configfs_tsm; /* /sys/kernel/config/tsm/report */
    char *report_source;    /* sev-guest, configfs, vtpm, or unset = first that exists */
    int snp_crl;            /* SnpCrlMode: require, best-effort (default), off */
    /* [tdx] */
    char *tdx_device;            /* /dev/tdx_guest */
    char *tdx_configfs_tsm;      /* /sys/kernel/config/tsm/report */
    char *tdx_imds_url;          /* IMDS base URL for /acc/tdquote */
    uint64_t tdx_crl_max_age_ms; /* a CRL without nextUpdate is stale this long after issue */
    /* [trust] */
    char **trust_anchors; /* NULL-terminated; extra (non-production) anchors */
    /* [attestation], [imds] */
    char *attest_url;             /* MAA base URL (same key as the token verifier's) */
    uint64_t attest_leeway_ms;    /* token time checks (same key as the token verifier's) */
    char *attest_protocol;        /* azureguest (default), sevsnpvm, tdxvm */
    char *attest_api_version;     /* default per protocol */
    char *attest_expect_tee;      /* auto (default), sevsnpvm, tdxvm */
    char *attest_token_cache;     /* token cache file, unset = no cache */
    char **attest_client_payload; /* NULL-terminated "key=value" */
    char *attest_event_log;       /* TCG log path */
    char *attest_os_release;      /* os-release(5) path */
    char *imds_url;               /* Azure IMDS base URL */
    /* [keyvault] (secure key release) */
    char *keyvault_key;         /* https://<vault>/keys/<name>[/<version>] */
    char *keyvault_enc;         /* CKM_RSA_AES_KEY_WRAP | RSA_AES_KEY_WRAP_256 (default) | _384 */
    char *keyvault_api_version; /* default 7.4 */
    char *keyvault_resource;    /* IMDS resource; default follows the key URL's host */
    char *keyvault_signer_host; /* name the release JWS signer must carry (tests) */
    char *keyvault_signer_ca;   /* PEM roots for the release JWS; default: the system store */
    /* [identity] (the vault's bearer token) */
    char *identity_source; /* imds (default), file, env */
    char *identity_client_id;
    char *identity_object_id;
    char *identity_msi_res_id;
    char *identity_token_file;
    char *identity_token_env;
    /* [store] */
    uint64_t store_boot_deadline_ms; /* boot's total deadline */
    char *store_credstore;           /* target = credential writes here (/run/credstore) */
    /* [secret NAME] sections, in file order */
    AgentSecretConfig *secrets;
    size_t n_secrets;
} AgentConfig;

typedef struct AgentContext {
    AgentConfig cfg;
    const char *config_path; /* the file that was read, or NULL */
} AgentContext;

void agent_config_init(AgentConfig *cfg);
void agent_config_done(AgentConfig *cfg);
/* Reads an INI file; unknown sections/keys and bad values are errors naming
 * file:line. -ENOENT when the file does not exist. */
int agent_config_load(AgentConfig *cfg, const char *path);
/* Applies "section.key=value" (from -o). */
int agent_config_set(AgentConfig *cfg, const char *assignment);
/* The HTTP settings as the common client wants them. */
void agent_http_config(const AgentConfig *cfg, HttpConfig *ret);

typedef struct AgentCommand {
    const char *name;
    const char *summary; /* one line for --help */
    /* Runs the command; argv[0] is the command name. Returns a CvmExit. */
    int (*run)(AgentContext *ctx, int argc, char **argv);
    void (*usage)(FILE *f);
} AgentCommand;

/* Prints obj as JSON on stdout; returns CVM_EXIT_OK or CVM_EXIT_PLATFORM. */
int agent_print_json(const cJSON *obj);
/* Prints obj as text on stdout: one "key: value" line per leaf, nested keys
 * joined with dots, arrays on one line. */
void agent_print_text(const cJSON *obj);
/* With on, agent_print_json() adds a "timings" object (agent_timings_json). */
void agent_output_set_timings(bool on);
/* The run's timings so far (common/timing.h) as a JSON object under "timings". */
int agent_timings_json(cJSON *obj);
/* The same as one line on stderr. */
void agent_timings_print(void);

/* Subcommands, one file each (agent/cmd-*.c). */
int cmd_report(AgentContext *ctx, int argc, char **argv);
void report_usage(FILE *f);
int cmd_verify(AgentContext *ctx, int argc, char **argv);
void verify_usage(FILE *f);
int cmd_attest(AgentContext *ctx, int argc, char **argv);
/* A verified AzureGuest token for this VM, as `attest` gets it: the cached one
 * ([attestation] token-cache) while it fits the platform state, else a fresh
 * attestation (cached afterwards). Returns a CvmExit; on CVM_EXIT_OK *ret_jwt
 * (NUL-terminated) and *ret_claims. (cmd-attest.c) */
struct SecretBuf;
int agent_attest_token(AgentContext *ctx, struct SecretBuf **ret_jwt, cJSON **ret_claims);
void attest_usage(FILE *f);
int cmd_evidence(AgentContext *ctx, int argc, char **argv);
void evidence_usage(FILE *f);
int cmd_release(AgentContext *ctx, int argc, char **argv);
void release_usage(FILE *f);
/* The pieces of `release` the secret store's key provider uses (cmd-release.c):
 * a bearer token for the key's vault; the release of key_url (versioned) with
 * an already verified token, verified and unwrapped in the vTPM; and the
 * vault's refusal logged with what to do, as the errno it means. */
struct KeyRef;
struct ReleasedKey;
struct VaultError;
int agent_vault_bearer(AgentContext *ctx, const HttpConfig *http, const struct KeyRef *key,
                       int64_t now, struct SecretBuf **ret);
int agent_release_version(AgentContext *ctx, const char *key_url, const char *token,
                          const cJSON *claims, struct ReleasedKey *ret);
int cmd_boot(AgentContext *ctx, int argc, char **argv);
void boot_usage(FILE *f);
int cmd_seal(AgentContext *ctx, int argc, char **argv);
void seal_usage(FILE *f);
int cmd_unseal(AgentContext *ctx, int argc, char **argv);
void unseal_usage(FILE *f);
int cmd_rotate(AgentContext *ctx, int argc, char **argv);
void rotate_usage(FILE *f);
int cmd_status(AgentContext *ctx, int argc, char **argv);
void status_usage(FILE *f);
int agent_vault_failure(const char *what, int r, const struct VaultError *err);

#endif
