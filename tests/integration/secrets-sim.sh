#!/bin/bash
# The secret store against cvm-sim's Key Vault (SNP guest): see secrets-sim-lib.sh.
SIM_VAULT=akv SIM_TEE=snp
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/secrets-sim-lib.sh"
