/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCR value files for offline verification: the JSON shape cvm-agent prints
 * and tpm2_pcrread's YAML. Pure: text in, banks out.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "common/codec.h"
#include "common/json.h"
#include "common/log.h"
#include "tpm/tpm.h"

static TpmPcrBank *bank_for(TpmPcrBank *banks, size_t *n, uint16_t hash) {
    for (size_t i = 0; i < *n; i++)
        if (banks[i].hash == hash)
            return &banks[i];
    if (*n >= TPM_MAX_BANKS)
        return NULL;
    memset(&banks[*n], 0, sizeof(banks[*n]));
    banks[*n].hash = hash;
    return &banks[(*n)++];
}

static int set_value(TpmPcrBank *b, unsigned long idx, const char *hex, size_t hexlen) {
    size_t dlen = tpm_hash_size(b->hash);
    if (idx >= TPM_PCR_COUNT || hexlen != 2 * dlen)
        return -EBADMSG;
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    if (hex_decode(hex, hexlen, &d, &n) < 0 || n != dlen)
        return -EBADMSG;
    memcpy(b->values[idx], d, dlen);
    b->mask |= 1u << idx;
    return 0;
}

static int parse_json(const char *text, size_t len, TpmPcrBank *banks, size_t *n) {
    _cleanup_json_ cJSON *root = NULL;
    int r = json_parse(text, len, &root);
    if (r < 0 || !cJSON_IsObject(root)) {
        log_debug("PCR file is not a JSON object");
        return -EBADMSG;
    }
    const cJSON *top = json_get_object(root, "pcrs") ?: root;
    for (const cJSON *bank = top->child; bank; bank = bank->next) {
        uint16_t hash;
        if (!cJSON_IsObject(bank) || tpm_hash_from_name(bank->string, &hash) < 0) {
            log_debug("PCR file: '%s' is not a bank object (sha1, sha256, sha384, sha512)",
                      bank->string ?: "?");
            return -EBADMSG;
        }
        TpmPcrBank *b = bank_for(banks, n, hash);
        if (!b)
            return -EBADMSG;
        for (const cJSON *v = bank->child; v; v = v->next) {
            uint32_t idx;
            if (!cJSON_IsString(v) || parse_u32(v->string, &idx) < 0) {
                log_debug("PCR file: %s.%s is not \"index\": \"hex\"", bank->string, v->string);
                return -EBADMSG;
            }
            const char *hex = v->valuestring;
            if (startswith(hex, "0x") || startswith(hex, "0X"))
                hex += 2;
            if (set_value(b, idx, hex, strlen(hex)) < 0) {
                log_debug("PCR file: %s.%s: want %zu hex digits", bank->string, v->string,
                          2 * tpm_hash_size(hash));
                return -EBADMSG;
            }
        }
    }
    return 0;
}

/* tpm2_pcrread output:
 *   sha256:
 *     0 : 0x3D45...
 */
static int parse_yaml(const char *text, size_t len, TpmPcrBank *banks, size_t *n) {
    TpmPcrBank *cur = NULL;
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        while (ll && isspace((unsigned char)*line)) {
            line++;
            ll--;
        }
        while (ll && isspace((unsigned char)line[ll - 1]))
            ll--;
        if (!ll || *line == '#')
            continue;
        if (line[ll - 1] == ':') {
            char name[16];
            uint16_t hash;
            if (ll - 1 >= sizeof(name))
                goto bad;
            memcpy(name, line, ll - 1);
            name[ll - 1] = 0;
            if (tpm_hash_from_name(name, &hash) < 0)
                goto bad;
            cur = bank_for(banks, n, hash);
            if (!cur)
                goto bad;
            continue;
        }
        if (!cur || !isdigit((unsigned char)*line))
            goto bad;
        unsigned long idx = 0;
        size_t i = 0;
        while (i < ll && isdigit((unsigned char)line[i]) && idx < 100)
            idx = idx * 10 + (unsigned long)(line[i++] - '0');
        while (i < ll && line[i] == ' ')
            i++;
        if (i >= ll || line[i++] != ':')
            goto bad;
        while (i < ll && line[i] == ' ')
            i++;
        if (ll - i >= 2 && line[i] == '0' && (line[i + 1] == 'x' || line[i + 1] == 'X'))
            i += 2;
        if (set_value(cur, idx, line + i, ll - i) < 0)
            goto bad;
    }
    return 0;
bad:
    log_debug("PCR file: line %zu is not tpm2_pcrread YAML", lineno);
    return -EBADMSG;
}

int tpm_pcrs_parse(const char *text, size_t len, TpmPcrBank *banks, size_t *ret_n_banks) {
    size_t n = 0, i = 0;
    int r;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i < len && text[i] == '{')
        r = parse_json(text, len, banks, &n);
    else
        r = parse_yaml(text, len, banks, &n);
    if (r < 0)
        return r;
    if (n == 0)
        return -EBADMSG;
    *ret_n_banks = n;
    return 0;
}
