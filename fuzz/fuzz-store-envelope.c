/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the secret envelope reader (store/store-envelope.c). What it
 * accepts must write back and read again to the same bytes, so the strict
 * reader and the writer agree on one format.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "fuzz/fuzz.h"
#include "store/store-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool init;
    StoreEnvelope e = {0}, again = {0};
    char err[256], *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    if (!init) {
        json_init();
        init = true;
    }
    int r = store_envelope_parse(data, size, &e, err, sizeof(err));
    if (r < 0) {
        if ((r != -EBADMSG && r != -EPROTONOSUPPORT) || !err[0])
            abort();
        return 0;
    }
    if (store_envelope_format(&e, &text, &len) < 0 ||
        store_envelope_parse(text, len, &again, err, sizeof(err)) < 0 ||
        store_envelope_format(&again, &text2, &len2) < 0 || len != len2 ||
        memcmp(text, text2, len) != 0)
        abort();
    free(text);
    free(text2);
    store_envelope_done(&e);
    store_envelope_done(&again);
    return 0;
}
