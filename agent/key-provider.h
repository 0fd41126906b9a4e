/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The secret store as the seal/unseal/rotate/status commands use it: store/'s
 * key provider wired to release/ (key-provider.c). The CMK is [keyvault] key
 * (its version, if any, is ignored: envelopes record the version they use).
 */
#ifndef CVM_AGENT_KEY_PROVIDER_H
#define CVM_AGENT_KEY_PROVIDER_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "release/release.h"
#include "store/store.h"

typedef struct AgentStore {
    AgentContext *ctx;
    HttpConfig http;
    KeyRef key; /* the CMK without a version */
    char *key_url;
    const char *api_version;
    SecretBuf *bearer;
    /* the attestation of this run: at most once (agent_store_attest) */
    bool attested;
    int attest_exit;
    int newest_error; /* why the newest version is unknown (-errno, logged), or 0 */
    SecretBuf *token;
    cJSON *claims;
    TpmContext *tpm;
    StoreKeyProvider provider;
    StoreContext *store;
} AgentStore;

/* Opens the TPM ([agent] tcti), the provider and the store in [agent]
 * state-dir. Returns a CvmExit (errors logged). */
int agent_store_open(AgentContext *ctx, AgentStore *ret);
void agent_store_done(AgentStore *s);
/* Attests this VM once per run; later calls return the first result. A CvmExit. */
int agent_store_attest(AgentStore *s);
/* A CvmExit as -errno of the same class (cvm_exit_from_errno gives it back). */
int agent_exit_to_errno(int exit_code);
/* The vault's bearer token (fetched once); 0 or -errno (logged). */
int agent_store_bearer(AgentStore *s, const char **ret);

/* Attests (once) and opens name; the secret in *ret. A CvmExit, errors logged
 * (cmd-unseal.c). */
int agent_unseal(AgentStore *s, const char *name, StoreOpenResult *ret);

#endif
