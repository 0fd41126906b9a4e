#!/bin/bash
# make check: replay the real release responses, payloads, key_hsm documents
# and release policies of the testdata, the corpus, and truncations of the
# real Key Vault release response through fuzz-release.
# shellcheck source=fuzz/lib.sh
. "${CVM_SRCDIR:?}/fuzz/lib.sh"

AS=$testdata/azure-services
seeds=("$AS"/Azure__azure-sdk-for-cpp/derived_ReleaseKey2_*.json
    "$AS"/Azure__azure-sdk-for-go/transcribed_TestReleaseKey_MHSM_*
    "$AS"/Azure__azure-sdk-for-net/transcribed_ReleaseCreatedKey_*
    "$AS"/Azure__confidential-computing-cvm-guest-attestation/cvm-datadisk-enc-scripts_public_SKR_policy-datadisk.json)
run fuzz-release "$srcdir/fuzz/corpus/release" "${seeds[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-release.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
f="$AS"/Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_response_body.json
if [ -e "$f" ]; then
    size=$(stat -c %s "$f")
    for cut in 1 2 10 100 1000 $((size / 2)) $((size - 2)) $((size - 1)); do
        head -c "$cut" "$f" >"$tmp/akv.$cut"
    done
fi
run fuzz-release "$tmp"
exit $status
