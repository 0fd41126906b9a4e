#!/bin/bash
# make check: replay the JOSE corpus, the real MAA tokens, JWKS and the Key
# Vault release JWS of the testdata, and every truncation of one real token
# through fuzz-jose.
# shellcheck source=fuzz/lib.sh
. "${CVM_SRCDIR:?}/fuzz/lib.sh"

AS=$testdata/azure-services
seeds=("$AS"/midnightntwrk__midnight-trusted-setup/tee_contribution_attestation.txt
    "$AS"/Azure__confidential-computing-cvm-guest-attestation/derived_ClientLibTests_L*.jwt
    "$AS"/Azure__azure-sdk-for-cpp/derived_sharedwus_SgxEnclave_token.jwt
    "$AS"/Azure__azure-sdk-for-cpp/derived_sharedwus_GET_certs_response_body.json
    "$AS"/Azure-Samples__microsoft-azure-attestation/maa.jwt.verifier.dotnet_sev-snp-jwt.txt
    "$AS"/microsoft__CCF/assembled_jwks_sharedeus2_J0pAPdf.json
    "$AS"/scrtlabs__SecretNetwork/derived_jwks_*.json
    "$AS"/Azure__azure-sdk-for-net/transcribed_ReleaseCreatedKey_release_request_target.jwt)
run fuzz-jose "$srcdir/fuzz/corpus/jose" "${seeds[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-jose.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# the compact form without its newline, the release JWS out of its JSON, and truncations
for f in "${seeds[0]}" "$AS"/Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_response_body.json; do
    [ -e "$f" ] || continue
    n=$(basename "$f")
    if [ "${f%.json}" != "$f" ]; then
        sed -n 's/.*"value":"\([^"]*\)".*/\1/p' "$f" | tr -d '\n' >"$tmp/$n.jws"
    else
        tr -d '\n' <"$f" >"$tmp/$n.jws"
    fi
    size=$(stat -c %s "$tmp/$n.jws")
    for cut in 1 2 3 10 100 500 $((size / 2)) $((size - 3)) $((size - 2)) $((size - 1)); do
        [ "$cut" -gt 0 ] && [ "$cut" -lt "$size" ] && head -c "$cut" "$tmp/$n.jws" >"$tmp/$n.$cut"
    done
done
run fuzz-jose "$tmp"
exit $status
