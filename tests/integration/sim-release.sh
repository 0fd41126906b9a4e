#!/bin/bash
# `cvm-agent release` against cvm-sim's Key Vault (SNP guest): see sim-release-lib.sh.
SIM_VAULT=akv SIM_TEE=snp
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/sim-release-lib.sh"
